// Smoke test of the official Node.js client ali-oss (the version pinned in tests/js/package.json)
// against an ossbox server given as a plain endpoint, the way its users point it at a server of their own.
//
// Usage: node compat/ali_oss_smoke.js http://127.0.0.1:PORT [bucket]
//        credentials in OSSBOX_AK / OSSBOX_SK (or OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET);
//        ali-oss is loaded from tests/js/node_modules (`npm ci --prefix tests/js`), or NODE_PATH.
// Every step prints `ok <step>` or `FAIL <step>: <reason>`; the last line is one JSON object
// {"ok": bool, "steps": {"<step>": "ok" | "<reason>"}} for tests/test_ali_oss_smoke.py.
// Exit status 1 when a step failed.
'use strict';

const http = require('http');
const path = require('path');
const crypto = require('crypto');

function load(name) {
  try {
    return require(path.join(__dirname, '..', 'tests', 'js', 'node_modules', name));
  } catch (e) {
    return require(name);
  }
}
const OSS = load('ali-oss');
const urllib = load('urllib');

// ali-oss's errors carry no response headers; its `urllib` option lets the smoke test see the
// last response's headers (e.g. x-oss-next-append-position of a 409 PositionNotEqualToLength)
let lastHeaders = {};
const recordingUrllib = {
  async request(url, params) {
    const result = await urllib.request(url, params);
    lastHeaders = result.headers || {};
    return result;
  },
};

const endpoint = process.argv[2];
if (!endpoint) {
  console.error('usage: node ali_oss_smoke.js http://127.0.0.1:PORT [bucket]');
  process.exit(2);
}
const bucket = process.argv[3] || `ali-oss-smoke-${crypto.randomBytes(5).toString('hex')}`;
const accessKeyId = process.env.OSSBOX_AK || process.env.OSS_ACCESS_KEY_ID;
const accessKeySecret = process.env.OSSBOX_SK || process.env.OSS_ACCESS_KEY_SECRET;
const region = 'oss-cn-hangzhou';
const results = {};

function client(extra = {}) {
  return new OSS({ accessKeyId, accessKeySecret, endpoint, region, bucket, timeout: 30000,
                   agent: new http.Agent({ keepAlive: true }), urllib: recordingUrllib, ...extra });
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

function describe(err) {
  if (err && err.status) return `${err.status} ${err.code || err.name}: ${err.message}`;
  return err && err.message ? err.message : String(err);
}

async function step(name, fn) {
  try {
    await fn();
    results[name] = 'ok';
    console.log(`ok ${name}`);
  } catch (err) {
    results[name] = describe(err);
    console.log(`FAIL ${name}: ${results[name]}`);
  }
}

// A raw HTTP request (for what ali-oss does not send itself: fetching a signed URL, a form POST,
// a CORS preflight). Path-style URL: the server takes the bucket from the path for an IP Host.
function request(method, url, headers = {}, body = null) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, res => {
      const chunks = [];
      res.on('data', c => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
                                    body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

function errorCode(body) {
  const m = /<Code>([^<]*)<\/Code>/.exec(body.toString());
  return m ? m[1] : '';
}

(async () => {
  const c = client();
  const base = endpoint.replace(/\/+$/, '');

  await step('putBucket', () => c.putBucket(bucket));
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
      check(err.status === 409 && err.code === 'PositionNotEqualToLength', `got ${describe(err)}`);
      const next = lastHeaders['x-oss-next-append-position'];
      check(next === '18', `x-oss-next-append-position ${next}`);
      return;
    }
    throw new Error('an append at a wrong position succeeded');
  });
  await step('head', async () => {
    const r = await c.head('log.txt');
    check(r.res.headers['content-length'] === '18', `content-length ${r.res.headers['content-length']}`);
    check(r.res.headers['x-oss-object-type'] === 'Appendable', `type ${r.res.headers['x-oss-object-type']}`);
    check(r.res.headers['x-oss-next-append-position'] === '18', 'x-oss-next-append-position');
  });
  await step('get', async () => {
    const r = await c.get('log.txt');
    check(r.content.toString() === 'line one\nline two\n', `content ${JSON.stringify(r.content.toString())}`);
  });
  await step('rangeGet', async () => {
    const r = await c.get('log.txt', { headers: { Range: 'bytes=5-12' } });
    check(r.res.status === 206, `status ${r.res.status}`);
    check(r.content.toString() === 'one\nline', `content ${JSON.stringify(r.content.toString())}`);
    check(r.res.headers['content-range'] === 'bytes 5-12/18', `content-range ${r.res.headers['content-range']}`);
  });
  await step('put', async () => {
    const r = await c.put('dir/hello.txt', Buffer.from('hello, ossbox'), { mime: 'text/plain', meta: { who: 'smoke' } });
    check(r.res.status === 200, `status ${r.res.status}`);
    const h = await c.head('dir/hello.txt');
    check(h.meta && h.meta.who === 'smoke', `meta ${JSON.stringify(h.meta)}`);
    check(h.res.headers['content-type'] === 'text/plain', `content-type ${h.res.headers['content-type']}`);
  });
  await step('copy', async () => {
    const r = await c.copy('dir/copy.txt', 'dir/hello.txt');
    check(r.res.status === 200, `status ${r.res.status}`);
    const g = await c.get('dir/copy.txt');
    check(g.content.toString() === 'hello, ossbox', 'copied content');
  });
  await step('objectAcl', async () => {
    await c.putACL('dir/hello.txt', 'public-read');
    const r = await c.getACL('dir/hello.txt');
    check(r.acl === 'public-read', `acl ${r.acl}`);
    // public-read: an anonymous GET works
    const anon = await request('GET', `${base}/${bucket}/dir/hello.txt`);
    check(anon.status === 200 && anon.body.toString() === 'hello, ossbox', `anonymous GET ${anon.status}`);
  });
  await step('bucketAcl', async () => {
    await c.putBucketACL(bucket, 'private');
    const r = await c.getBucketACL(bucket);
    check(r.acl === 'private', `bucket acl ${r.acl}`);
  });
  await step('objectTagging', async () => {
    await c.putObjectTagging('dir/hello.txt', { team: 'storage', stage: 'smoke' });
    const r = await c.getObjectTagging('dir/hello.txt');
    check(r.tag.team === 'storage' && r.tag.stage === 'smoke', `tags ${JSON.stringify(r.tag)}`);
    await c.deleteObjectTagging('dir/hello.txt');
    const after = await c.getObjectTagging('dir/hello.txt');
    check(Object.keys(after.tag).length === 0, `tags after delete ${JSON.stringify(after.tag)}`);
  });
  await step('list', async () => {
    const r = await c.list({ 'max-keys': 100 });
    const names = (r.objects || []).map(o => o.name).sort();
    check(JSON.stringify(names) === JSON.stringify(['dir/copy.txt', 'dir/hello.txt', 'log.txt']), `listed ${names}`);
    const d = await c.list({ delimiter: '/' });
    check(JSON.stringify(d.prefixes) === JSON.stringify(['dir/']), `prefixes ${d.prefixes}`);
  });
  await step('listV2', async () => {
    const first = await c.listV2({ 'max-keys': 2 });
    check(first.objects.length === 2 && first.isTruncated, `page 1 ${first.objects.length} ${first.isTruncated}`);
    const rest = await c.listV2({ 'max-keys': 2, 'continuation-token': first.nextContinuationToken });
    check(rest.objects.length === 1 && !rest.isTruncated, `page 2 ${rest.objects.length} ${rest.isTruncated}`);
  });
  await step('multipart', async () => {
    const data = crypto.randomBytes(250 * 1024);
    const r = await c.multipartUpload('big.bin', data, { partSize: 100 * 1024, parallel: 2 });
    check(r.res.status === 200, `status ${r.res.status}`);
    const g = await c.get('big.bin');
    check(Buffer.compare(g.content, data) === 0, 'multipart content differs');
    const h = await c.head('big.bin');
    check(h.res.headers['x-oss-object-type'] === 'Multipart', `type ${h.res.headers['x-oss-object-type']}`);
  });
  await step('signatureUrl', async () => {
    // ali-oss refuses to sign a URL for an IP endpoint ("can not get the object URL when endpoint
    // is IP"): its users sign with the host name of their server, here localhost in path style
    const signer = client({ endpoint: base.replace('127.0.0.1', 'localhost'), sldEnable: true });
    const url = signer.signatureUrl('dir/hello.txt', { expires: 600 });
    const r = await request('GET', url.replace('//localhost', '//127.0.0.1'));
    check(r.status === 200 && r.body.toString() === 'hello, ossbox', `GET signed URL ${r.status} ${errorCode(r.body)}`);
    const put = signer.signatureUrl('dir/signed-put.txt', { method: 'PUT', expires: 600, 'Content-Type': 'text/plain' });
    const p = await request('PUT', put.replace('//localhost', '//127.0.0.1'), { 'Content-Type': 'text/plain' }, 'via url');
    check(p.status === 200, `PUT signed URL ${p.status} ${errorCode(p.body)}`);
    const g = await c.get('dir/signed-put.txt');
    check(g.content.toString() === 'via url', 'content put through the signed URL');
  });
  await step('postObject', async () => {
    // a browser form upload: policy signed by ali-oss's calculatePostSignature, multipart/form-data
    const policy = { expiration: new Date(Date.now() + 600000).toISOString(),
                     conditions: [['content-length-range', 0, 1024 * 1024], { bucket }] };
    const sig = c.calculatePostSignature(policy);
    const form = new FormData();
    form.append('key', 'form/${filename}');
    form.append('OSSAccessKeyId', sig.OSSAccessKeyId);
    form.append('policy', sig.policy);
    form.append('Signature', sig.Signature);
    form.append('success_action_status', '201');
    form.append('file', new Blob([Buffer.from('from a form')]), 'upload.txt');
    const res = await fetch(`${base}/${bucket}`, { method: 'POST', body: form });
    const text = await res.text();
    check(res.status === 201, `POST ${res.status} ${errorCode(text)}`);
    const g = await c.get('form/upload.txt');
    check(g.content.toString() === 'from a form', 'content uploaded by the form');
  });
  await step('corsPreflight', async () => {
    await c.putBucketCORS(bucket, [{ allowedOrigin: 'https://app.example', allowedMethod: ['GET', 'PUT'],
                                     allowedHeader: '*', exposeHeader: 'ETag', maxAgeSeconds: '60' }]);
    const r = await request('OPTIONS', `${base}/${bucket}/dir/hello.txt`, {
      Origin: 'https://app.example', 'Access-Control-Request-Method': 'PUT',
      'Access-Control-Request-Headers': 'content-type' });
    check(r.status === 200, `preflight ${r.status} ${errorCode(r.body)}`);
    check(r.headers['access-control-allow-origin'] === 'https://app.example',
          `Access-Control-Allow-Origin ${r.headers['access-control-allow-origin']}`);
    check(/PUT/.test(r.headers['access-control-allow-methods'] || ''),
          `Access-Control-Allow-Methods ${r.headers['access-control-allow-methods']}`);
    const denied = await request('OPTIONS', `${base}/${bucket}/dir/hello.txt`, {
      Origin: 'https://evil.example', 'Access-Control-Request-Method': 'PUT' });
    check(denied.status === 403, `preflight from an origin no rule allows: ${denied.status}`);
  });
  await step('deleteMulti', async () => {
    const names = ['log.txt', 'dir/hello.txt', 'dir/copy.txt', 'dir/signed-put.txt', 'big.bin', 'form/upload.txt'];
    const r = await c.deleteMulti(names, { quiet: false });
    check(r.res.status === 200, `status ${r.res.status}`);
    const left = await c.list({ 'max-keys': 100 });
    check(!left.objects || left.objects.length === 0, `left ${(left.objects || []).map(o => o.name)}`);
  });
  await step('deleteBucket', async () => {
    // whatever a failed step left behind, so that the bucket can go
    const left = await c.list({ 'max-keys': 1000 });
    if (left.objects && left.objects.length) await c.deleteMulti(left.objects.map(o => o.name));
    const ups = await c.listUploads({});
    for (const u of ups.uploads || []) await c.abortMultipartUpload(u.name, u.uploadId);
    await c.deleteBucket(bucket);
  });

  const ok = Object.values(results).every(v => v === 'ok');
  console.log(JSON.stringify({ ok, bucket, steps: results }));
  process.exit(ok ? 0 : 1);
})().catch(err => {
  console.log(`FAIL (unexpected): ${describe(err)}`);
  console.log(JSON.stringify({ ok: false, steps: results, error: describe(err) }));
  process.exit(1);
});
