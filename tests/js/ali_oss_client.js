// Drives the official Node.js client (ali-oss) against an ossbox server; run by tests/test_ali_oss.py.
//
// Usage: node ali_oss_client.js <mode> <endpoint> <bucket>   (credentials in OSSBOX_AK / OSSBOX_SK)
// Modes are the ways ali-oss users point it at a server of their own:
//   ip        endpoint http://127.0.0.1:<port>: ali-oss sends Host <bucket>.oss-<region>.aliyuncs.com
//   ip-v4     the same with V4 signatures
//   cname     cname: true on the IP endpoint (ali-oss still sends the OSS Host for an IP)
//   localhost endpoint http://localhost:<port>: ali-oss connects to <bucket>.localhost:<port>
//   path      endpoint http://localhost:<port> with sldEnable (path style: /<bucket>/<key>)
// Prints one JSON line {"ok": true, "steps": [...]} or {"ok": false, "step": ..., "error": ...}.
'use strict';

const http = require('http');
const dns = require('dns');
const OSS = require('ali-oss');

const [mode, endpoint, bucket] = process.argv.slice(2);
const steps = [];

// Every *.localhost name is the loopback host (RFC 6761), as browsers resolve it; the C resolver
// of a plain Linux does not, so the agent resolves those names itself.
function lookup(hostname, options, callback) {
  if (hostname === 'localhost' || hostname.endsWith('.localhost')) {
    if (options && options.all) return callback(null, [{ address: '127.0.0.1', family: 4 }]);
    return callback(null, '127.0.0.1', 4);
  }
  return dns.lookup(hostname, options, callback);
}

function client(region = 'oss-cn-hangzhou') {
  const options = {
    accessKeyId: process.env.OSSBOX_AK,
    accessKeySecret: process.env.OSSBOX_SK,
    endpoint,
    region,
    bucket,
    timeout: 20000,
    agent: new http.Agent({ keepAlive: true, lookup }),
  };
  if (mode === 'ip-v4') options.authorizationV4 = true;
  if (mode === 'cname') options.cname = true;
  if (mode === 'path') options.sldEnable = true;
  return new OSS(options);
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

async function step(name, fn) {
  try {
    const out = await fn();
    steps.push(name);
    return out;
  } catch (err) {
    const error = { name: err.name, code: err.code, status: err.status, message: err.message,
                    requestId: err.requestId, hostId: err.hostId };
    console.log(JSON.stringify({ ok: false, step: name, steps, error }));
    process.exit(1);
  }
}

(async () => {
  const c = client();
  await step('putBucket', () => c.putBucket(bucket));
  await step('listBuckets', async () => {
    const r = await c.listBuckets();
    check(r.buckets.some(b => b.name === bucket), `buckets ${r.buckets.map(b => b.name)}`);
  });
  await step('put', async () => {
    const r = await c.put('dir/hello.txt', Buffer.from('hello, ossbox'));
    check(r.res.status === 200, `put status ${r.res.status}`);
  });
  await step('append', async () => {
    const first = await c.append('log.txt', Buffer.from('line one\n'));
    check(String(first.nextAppendPosition) === '9', `first next position ${first.nextAppendPosition}`);
    const second = await c.append('log.txt', Buffer.from('line two\n'), { position: first.nextAppendPosition });
    check(String(second.nextAppendPosition) === '18', `second next position ${second.nextAppendPosition}`);
  });
  await step('appendWrongPosition', async () => {
    try {
      await c.append('log.txt', Buffer.from('late\n'), { position: 3 });
    } catch (err) {
      check(err.status === 409 && err.code === 'PositionNotEqualToLength', `${err.status} ${err.code}`);
      return;
    }
    throw new Error('an append at a wrong position succeeded');
  });
  await step('get', async () => {
    const r = await c.get('log.txt');
    check(r.content.toString() === 'line one\nline two\n', `content ${JSON.stringify(r.content.toString())}`);
    const h = await c.get('dir/hello.txt');
    check(h.content.toString() === 'hello, ossbox', 'put content');
  });
  await step('head', async () => {
    const r = await c.head('log.txt');
    check(r.res.headers['content-length'] === '18', `content-length ${r.res.headers['content-length']}`);
    check(r.res.headers['x-oss-object-type'] === 'Appendable', r.res.headers['x-oss-object-type']);
  });
  await step('list', async () => {
    const r = await c.list({ 'max-keys': 100 });
    const names = (r.objects || []).map(o => o.name).sort();
    check(JSON.stringify(names) === JSON.stringify(['dir/hello.txt', 'log.txt']), `listed ${names}`);
  });
  await step('listEmptyPrefix', async () => {
    // An empty query value: under V4, ali-oss signs it as `prefix=` (the other SDKs as `prefix`)
    const r = await c.list({ prefix: '', 'max-keys': 100 });
    check((r.objects || []).length === 2, `listed ${(r.objects || []).map(o => o.name)}`);
    const r2 = await c.listV2({ prefix: '', 'max-keys': 100 });
    check((r2.objects || []).length === 2, `listed (v2) ${(r2.objects || []).map(o => o.name)}`);
  });
  await step('listUploadsEmptyPrefix', async () => {
    // both forms in one request: the sub-resource `uploads` signed bare, the query `prefix=`
    const r = await c.listUploads({ prefix: '' });
    check(Array.isArray(r.uploads) && r.uploads.length === 0, `uploads ${JSON.stringify(r.uploads)}`);
  });
  await step('delete', async () => {
    await c.delete('dir/hello.txt');
    await c.delete('log.txt');
    const r = await c.list();
    check(!r.objects || r.objects.length === 0, 'objects left after delete');
  });
  await step('deleteBucket', () => c.deleteBucket(bucket));
  if (mode === 'ip') {
    // region 'cn-hangzhou' (ali-oss wants 'oss-cn-hangzhou') makes it send Host
    // <bucket>.cn-hangzhou.aliyuncs.com: a clear 400 naming the Host, not a signature mismatch
    await step('hostNotUnderstood', async () => {
      try {
        await client('cn-hangzhou').put('k', Buffer.from('x'));
      } catch (err) {
        check(err.status === 400 && err.code === 'InvalidArgument', `${err.status} ${err.code}`);
        check(err.message.includes(`${bucket}.cn-hangzhou.aliyuncs.com`), err.message);
        return;
      }
      throw new Error('a request with an unknown Host succeeded');
    });
  }
  console.log(JSON.stringify({ ok: true, steps }));
})();
