// PostObject as ali-oss's browser-upload samples do it: the policy signed with ali-oss's own
// helpers (calculatePostSignature for V1, signPostObjectPolicyV4 for V4), the form built with the
// platform's FormData (file last) and sent with fetch; run by tests/test_post_object.py.
//
// Usage: node post_object_form.js <v1|v4> <endpoint> <bucket> <key>   (credentials in OSSBOX_AK / OSSBOX_SK)
// Prints one JSON line {"status": ..., "body": ...}.
'use strict';

const OSS = require('ali-oss');

const [version, endpoint, bucket, key] = process.argv.slice(2);
const region = 'oss-cn-hangzhou';

async function main() {
  const client = new OSS({
    accessKeyId: process.env.OSSBOX_AK, accessKeySecret: process.env.OSSBOX_SK,
    endpoint, region, bucket,
  });
  const expiration = new Date(Date.now() + 3600 * 1000).toISOString();
  const conditions = [{ bucket }, ['starts-with', '$key', 'js/'], ['content-length-range', 1, 1024]];
  const form = new FormData();
  form.append('key', key);
  form.append('success_action_status', '201');
  form.append('x-oss-meta-from', 'ali-oss');
  if (version === 'v1') {
    const signed = client.calculatePostSignature({ expiration, conditions });
    form.append('OSSAccessKeyId', signed.OSSAccessKeyId);
    form.append('policy', signed.policy);
    form.append('Signature', signed.Signature);
  } else {
    const now = new Date();
    const day = now.toISOString().slice(0, 10).replace(/-/g, '');
    const date = `${day}T${now.toISOString().slice(11, 19).replace(/:/g, '')}Z`;
    const credential = `${process.env.OSSBOX_AK}/${day}/cn-hangzhou/oss/aliyun_v4_request`;
    const policy = {
      expiration,
      conditions: conditions.concat([{ 'x-oss-signature-version': 'OSS4-HMAC-SHA256' },
        { 'x-oss-credential': credential }, { 'x-oss-date': date }]),
    };
    form.append('policy', Buffer.from(JSON.stringify(policy), 'utf8').toString('base64'));
    form.append('x-oss-signature-version', 'OSS4-HMAC-SHA256');
    form.append('x-oss-credential', credential);
    form.append('x-oss-date', date);
    form.append('x-oss-signature', client.signPostObjectPolicyV4(policy, now));
  }
  form.append('file', new Blob(['posted by ali-oss ' + version], { type: 'text/plain' }), 'hello.txt');
  const resp = await fetch(`${endpoint}/${bucket}`, { method: 'POST', body: form });
  console.log(JSON.stringify({ status: resp.status, body: await resp.text() }));
}

main().catch((err) => { console.log(JSON.stringify({ status: -1, body: String(err && err.stack) })); });
