// The console's OSS client (ossbox/console/static/js/oss.js) against a real ossbox server.
// Run by tests/test_console_client.py:
//   node console_client_test.mjs <endpoint> <region> <accessKeyId> <accessKeySecret> [vectors.json]
// Prints "ok <step>" / "FAIL <step>: <why>" per step and, last, one JSON line {ok, steps, failures, notes}.
// vectors.json: V4 signatures the official Python SDK computed for fixed inputs, to compare exactly.
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { OssClient, OssError, objectFacts } from "../../ossbox/console/static/js/oss.js";
import { authorization, md5, presignQuery, canonicalUri, sha256, useWebCrypto } from "../../ossbox/console/static/js/sigv4.js";
import { parseXml, text, all, toXml } from "../../ossbox/console/static/js/xml.js";

const [endpoint, region, accessKeyId, accessKeySecret, vectorsFile] = process.argv.slice(2);
const root = new OssClient({ accessKeyId, accessKeySecret, region, endpoint });
const run = Math.random().toString(36).slice(2, 8);
const B = `cc-${run}`;
const steps = [];
const failures = [];
const notes = [];
const te = new TextEncoder();

function assert(cond, what) {
  if (!cond) throw new Error(what);
}
function eq(a, b, what) {
  const sa = JSON.stringify(a), sb = JSON.stringify(b);
  if (sa !== sb) throw new Error(`${what}: got ${sa}, want ${sb}`);
}
async function rejects(p, code, what) {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof OssError)) throw new Error(`${what}: not an OssError: ${e && e.stack}`);
    if (code && e.code !== code) throw new Error(`${what}: got ${e.status} ${e.code} (${e.message}), want ${code}`);
    return e;
  }
  throw new Error(`${what}: did not fail (want ${code})`);
}
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    steps.push(name);
    console.log(`ok ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failures.push({ step: name, error: String(e && e.stack || e) });
    console.log(`FAIL ${name}: ${e && e.stack || e}`);
  }
}
const bytesOf = async (res) => new Uint8Array(await res.arrayBuffer());
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

// -- offline: XML reader, MD5, signatures equal to the official SDK's ---------------------------------
await step("xml", async () => {
  const doc = parseXml(`<?xml version="1.0"?>\n<!-- c --><a:R xmlns:a="x" k='v&amp;'><K>&lt;&#65;&#x42;&quot;&apos;&gt; &amp;</K>` +
    `<E/><C><![CDATA[<raw>&amp;]]></C><L><I>1</I><I>2</I></L></a:R>`);
  eq([doc.name, doc.attrs.k, text(doc, "K"), text(doc, "E"), text(doc, "C"), all(doc.children[3], "I").map((i) => i.text)],
    ["R", "v&", "<AB\"'> &", "", "<raw>&amp;", ["1", "2"]], "parsed");
  for (const bad of ["<a><b></a>", "<a>", "<a></a><b></b>", "text", "<a>1 < 2</a>"]) {
    let threw = false;
    try { parseXml(bad); } catch { threw = true; }
    assert(threw, `accepted ${bad}`);
  }
  eq(toXml("T", { S: { Tag: [{ Key: "a<&>", Value: 1 }, { Key: "b", Value: undefined }] } }),
    "<T><S><Tag><Key>a&lt;&amp;&gt;</Key><Value>1</Value></Tag><Tag><Key>b</Key></Tag></S></T>", "written");
});

await step("md5", async () => {
  for (const [input, want] of [["", "d41d8cd98f00b204e9800998ecf8427e"], ["abc", "900150983cd24fb0d6963f7d28e17f72"],
    ["12345678901234567890123456789012345678901234567890123456789012345678901234567890", "57edf4a22be3c955ac49da2e2107b67a"]]) {
    eq(Buffer.from(md5(te.encode(input))).toString("hex"), want, `md5(${input})`);
  }
  for (const n of [55, 56, 63, 64, 65, 119, 120, 4097]) {
    const d = new Uint8Array(n).map((_, i) => (i * 37 + n) & 255);
    eq(Buffer.from(md5(d)).toString("hex"), createHash("md5").update(d).digest("hex"), `md5 of ${n} bytes`);
  }
});

await step("sha256 (the fallback where a browser has no Web Crypto)", async () => {
  for (const n of [0, 3, 55, 56, 63, 64, 65, 119, 120, 1000, 70001]) {
    const d = new Uint8Array(n).map((_, i) => (i * 31 + n) & 255);
    eq(Buffer.from(sha256(d)).toString("hex"), createHash("sha256").update(d).digest("hex"), `sha256 of ${n} bytes`);
  }
});

if (vectorsFile) {
  await step("signatures equal the official SDK's", async () => {
    const vectors = JSON.parse(readFileSync(vectorsFile, "utf8"));
    assert(vectors.length > 0, "no vectors");
    for (const [webCrypto, v] of [true, false].flatMap((w) => vectors.map((v) => [w, v]))) {
      useWebCrypto(webCrypto);
      const input = { method: v.method, uri: canonicalUri(v.bucket, v.key), query: v.query, headers: { ...v.headers },
        accessKeyId: v.accessKeyId, accessKeySecret: v.accessKeySecret, securityToken: v.securityToken,
        region: v.region, datetime: v.datetime };
      if (v.expires) {
        const q = await presignQuery({ ...input, expires: v.expires });
        eq(q.find(([k]) => k === "x-oss-signature")[1], v.signature, `presigned ${v.method} ${v.key}`);
      } else {
        eq(await authorization(input), v.authorization, `header ${v.method} ${v.key}`);
      }
    }
    useWebCrypto(true);
  });
}

// -- against the server ---------------------------------------------------------------------------
await step("createBucket with options, listBuckets, getBucketInfo", async () => {
  await root.createBucket(B, { acl: "private", storageClass: "Standard", versioning: false });
  const other = `${B}-opts`;
  await root.createBucket(other, { acl: "public-read", storageClass: "IA", versioning: true });
  const info = await root.getBucketInfo(other);
  eq([info.name, info.acl, info.storageClass, info.versioning, info.region], [other, "public-read", "IA", "Enabled", region], "info");
  const page = await root.listBuckets({ prefix: `cc-${run}`, maxKeys: 1 });
  eq([page.buckets.length, page.isTruncated, page.buckets[0].name], [1, true, B], "first page");
  const rest = await root.listBuckets({ prefix: `cc-${run}`, marker: page.nextMarker });
  eq(rest.buckets.map((b) => b.name), [other], "second page");
  await root.deleteBucket(other);
  await rejects(root.getBucketInfo(other), "NoSuchBucket", "deleted bucket");
});

const ODD = ["plain.txt", "spa ce/and+plus", "per%cent%2F", "ünï/cødé/日本語 ☃", "q?#&=;,@$", "tilde~!*'()[]",
  " lead and trail ", "a//double", "dots/../x", "./dot", "end/.", "x".repeat(300), "emoji 😀/\u00a0nbsp", "back\\slash"];

await step("put/get/head/list/delete with odd keys", async () => {
  for (const key of ODD) {
    const body = te.encode(`body of ${key}`);
    await root.putObject(B, key, body, { contentType: "text/plain", meta: { who: "cc" } });
    const got = await bytesOf(await root.getObject(B, key));
    assert(same(got, body), `bytes of ${JSON.stringify(key)}`);
    const h = await root.headObject(B, key);
    eq([h.size, h.type, h.contentType, h.meta.who], [body.length, "Normal", "text/plain", "cc"], `head ${JSON.stringify(key)}`);
  }
  const listed = [];
  let token;
  do {
    const page = await root.listObjects(B, { maxKeys: 5, continuationToken: token });
    listed.push(...page.objects.map((o) => o.key));
    token = page.nextContinuationToken;
    assert(page.isTruncated === Boolean(token), "isTruncated and token agree");
  } while (token);
  eq(listed, [...ODD].sort(byBytes), "listed");
  // a prefix and a start-after with the odd characters (signed in the query)
  const p = await root.listObjects(B, { prefix: "ünï/cødé/" });
  eq(p.objects.map((o) => o.key), ["ünï/cødé/日本語 ☃"], "prefix");
  const s = await root.listObjects(B, { prefix: "q", startAfter: "per%cent%2F" });
  eq(s.objects.map((o) => o.key), ["q?#&=;,@$"], "start-after");
  const d = await root.deleteObjects(B, ODD.slice(0, 7));
  eq(d.deleted.map((x) => x.key).sort(byBytes), ODD.slice(0, 7).sort(byBytes), "deleteObjects");
  for (const key of ODD.slice(7)) await root.deleteObject(B, key);
  eq((await root.listObjects(B)).objects, [], "all gone");
});

function byBytes(a, b) {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

await step("listObjects with delimiter and pagination", async () => {
  const keys = ["d/a/1", "d/a/2", "d/b/1", "d/c", "d/e", "d/f", "top"];
  for (const k of keys) await root.putObject(B, k, k);
  const l = await root.listObjects(B, { prefix: "d/", delimiter: "/" });
  eq([l.objects.map((o) => o.key), l.prefixes, l.keyCount], [["d/c", "d/e", "d/f"], ["d/a/", "d/b/"], 5], "delimited");
  const pages = [];
  let token;
  do {
    const page = await root.listObjects(B, { prefix: "d/", delimiter: "/", maxKeys: 2, continuationToken: token });
    pages.push([...page.prefixes, ...page.objects.map((o) => o.key)]);
    token = page.nextContinuationToken;
  } while (token);
  eq(pages, [["d/a/", "d/b/"], ["d/c", "d/e"], ["d/f"]], "pages");
  const d = await root.deleteObjects(B, keys);
  eq(d.errors, [], "no errors");
});

await step("put/get/head/delete: bodies, ranges, errors", async () => {
  const bin = new Uint8Array(70000).map((_, i) => (i * 7919) & 255);
  const seen = [];
  const r = await root.putObject(B, "bin", bin, { onProgress: (l, t) => seen.push([l, t]) });
  assert(r.etag && r.crc64, "etag and crc64 returned");
  eq(seen, [[0, 70000], [70000, 70000]], "progress");
  assert(same(await bytesOf(await root.getObject(B, "bin")), bin), "binary round trip");
  const part = await bytesOf(await root.getObject(B, "bin", { range: [10, 19] }));
  assert(same(part, bin.slice(10, 20)), "range");
  await root.putObject(B, "blob", new Blob(["from a blob"], { type: "text/x-test" }));
  eq((await root.headObject(B, "blob")).contentType, "text/x-test", "blob type");
  await root.putObject(B, "text", "ünïcode text");
  eq(await (await root.getObject(B, "text")).text(), "ünïcode text", "text");
  await root.putObject(B, "meta", "m", { meta: { note: "ünï ☃ text", plain: "ascii" } });
  eq((await root.headObject(B, "meta")).meta, { note: "ünï ☃ text", plain: "ascii" }, "unicode metadata");
  await rejects(root.headObject(B, ".."), "InvalidObjectName", "a key a URL cannot carry");
  await root.putObject(B, "stream", new Blob(["streamed body"]).stream());
  eq(await (await root.getObject(B, "stream")).text(), "streamed body", "a stream body (Node.js)");
  await root.putObject(B, "empty", "");
  eq((await root.headObject(B, "empty")).size, 0, "empty");
  await root.deleteObject(B, "bin");
  const e = await rejects(root.headObject(B, "bin"), "NoSuchKey", "head after delete");
  assert(e.status === 404 && e.requestId, "status and request id from a HEAD");
  const g = await rejects(root.getObject(B, "bin"), "NoSuchKey", "get after delete");
  assert(g.requestId && g.hostId !== undefined && g.message, "request id, host id, message from the XML");
  const ec = await rejects(root.getObject("no-such-bucket-" + run, "k"), "NoSuchBucket", "no bucket");
  assert(ec.ec, "an EC code");
  await root.deleteObjects(B, ["blob", "text", "empty", "meta", "stream"]);
});

await step("multipart upload with progress and abort", async () => {
  const data = new Uint8Array(350 * 1024).map((_, i) => (i * 31) & 255);
  const seen = [];
  const r = await root.multipartUpload(B, "multi/part ü", new Blob([data]), { partSize: 100 * 1024, parallel: 2,
    contentType: "application/x-parts", onProgress: (l, t) => seen.push(l) });
  assert(r.etag && r.etag.includes("-"), `multipart etag ${r.etag}`);
  eq([seen[0], seen.length, seen[seen.length - 1]], [0, 5, data.length], "progress after each part");
  assert(same(await bytesOf(await root.getObject(B, "multi/part ü")), data), "bytes");
  eq((await root.headObject(B, "multi/part ü")).type, "Multipart", "type");
  const ac = new AbortController();
  let failed;
  try {
    await root.multipartUpload(B, "multi/aborted", data, { partSize: 100 * 1024, parallel: 1, signal: ac.signal,
      onProgress: (l) => { if (l > 0) ac.abort(); } });
  } catch (e) {
    failed = e;
  }
  assert(failed && failed.name === "AbortError", `aborted: ${failed}`);
  eq((await root.listMultipartUploads(B)).uploads, [], "the aborted upload was aborted on the server");
  const init = await (await root.request({ method: "POST", bucket: B, key: "multi/left ü", query: { uploads: true } })).text();
  const left = await root.listMultipartUploads(B, { prefix: "multi/" });
  eq(left.uploads.map((u) => [u.key, init.includes(`<UploadId>${u.uploadId}</UploadId>`)]), [["multi/left ü", true]], "a left-over upload");
  eq((await root.getBucketStat(B)).MultipartUploadCount, 1, "counted by GetBucketStat");
  await root.abortMultipartUpload(B, "multi/left ü", left.uploads[0].uploadId);
  eq((await root.listMultipartUploads(B)).uploads, [], "aborted");
  await rejects(root.headObject(B, "multi/aborted"), "NoSuchKey", "nothing written");
  await root.deleteObject(B, "multi/part ü");
});

await step("append, the 409 path, seal", async () => {
  const k = "log/app ü.txt";
  const a = await root.appendObject(B, k, 0, "hello ", { contentType: "text/plain" });
  eq(a.nextPosition, 6, "first append");
  const b = await root.appendObject(B, k, 6, te.encode("world"));
  eq(b.nextPosition, 11, "second append");
  const e = await rejects(root.appendObject(B, k, 6, "again"), "PositionNotEqualToLength", "wrong position");
  eq([e.status, e.nextPosition], [409, 11], "409 with the true next position");
  const c = await root.appendObject(B, k, e.nextPosition, "!");
  eq(c.nextPosition, 12, "retry at the true position");
  const h = await root.headObject(B, k);
  eq([h.type, h.size, h.nextAppendPosition, h.crc64, h.sealed, h.contentType], ["Appendable", 12, 12, c.crc64, false, "text/plain"], "head");
  eq(await (await root.getObject(B, k)).text(), "hello world!", "content");
  const tail = await (await root.getObject(B, k, { range: [6] })).text();
  eq(tail, "world!", "tail range");
  await rejects(root.sealAppendObject(B, k, 5), "PositionNotEqualToLength", "seal at a wrong position");
  const s = await root.sealAppendObject(B, k, 12);
  assert(s.sealedTime, "sealed time");
  const hs = await root.headObject(B, k);
  assert(hs.sealed && hs.sealedTime, "head shows sealed");
  const after = await rejects(root.appendObject(B, k, 12, "more"), undefined, "append after seal");
  notes.push(`append after seal: ${after.status} ${after.code}`);
  await root.deleteObject(B, k);
});

await step("copy, rename, tagging, object ACL", async () => {
  const src = "src dir/ä+b%c";
  await root.putObject(B, src, "copy me", { contentType: "text/x-src" });
  const c = await root.copyObject(B, src, "dst/ä copy");
  assert(c.etag, "copy etag");
  eq(await (await root.getObject(B, "dst/ä copy")).text(), "copy me", "copied");
  const other = `${B}-copy`;
  await root.createBucket(other);
  await root.copyObject(other, src, "x", { srcBucket: B });
  eq(await (await root.getObject(other, "x")).text(), "copy me", "cross-bucket copy");
  await root.deleteObject(other, "x");
  await root.deleteBucket(other);
  await root.renameObject(B, "dst/ä copy", "renamed/ä");
  await rejects(root.headObject(B, "dst/ä copy"), "NoSuchKey", "renamed away");
  eq((await root.headObject(B, "renamed/ä")).contentType, "text/x-src", "renamed keeps metadata");
  await root.putObjectTagging(B, src, { "k 1": "v=1:/+", b: "" });
  eq(await root.getObjectTagging(B, src), { "k 1": "v=1:/+", b: "" }, "tags");
  await root.deleteObjectTagging(B, src);
  eq(await root.getObjectTagging(B, src), {}, "tags deleted");
  eq(await root.getObjectAcl(B, src), "default", "default acl");
  await root.putObjectAcl(B, src, "public-read");
  eq(await root.getObjectAcl(B, src), "public-read", "acl");
  const anon = await fetch(`${endpoint}/${B}/${encodeURIComponent(src).replace(/%2F/g, "/")}`);
  eq(anon.status, 200, "anonymous read of a public-read object");
  await root.deleteObjects(B, [src, "renamed/ä"]);
});

await step("bucket settings: ACL, policy, encryption, request payment, CORS, lifecycle, versioning", async () => {
  await root.putBucketAcl(B, "public-read");
  eq(await root.getBucketAcl(B), "public-read", "bucket acl");
  await root.putBucketAcl(B, "private");
  eq(await root.getBucketPolicy(B), null, "no policy");
  const policy = { Version: "1", Statement: [{ Effect: "Allow", Action: ["oss:GetObject"], Principal: ["*"],
    Resource: [`acs:oss:*:*:${B}/pub/*`] }] };
  await root.putBucketPolicy(B, policy);
  eq(JSON.parse(await root.getBucketPolicy(B)), policy, "policy");
  const bad = await rejects(root.putBucketPolicy(B, "{not json"), undefined, "invalid policy");
  notes.push(`invalid bucket policy: ${bad.code}`);
  await root.deleteBucketPolicy(B);
  eq(await root.getBucketPolicy(B), null, "policy deleted");
  eq(await root.getBucketEncryption(B), null, "no encryption");
  await root.putBucketEncryption(B, { algorithm: "AES256" });
  eq((await root.getBucketEncryption(B)).algorithm, "AES256", "AES256");
  await root.putObject(B, "enc", "secret");
  eq((await root.headObject(B, "enc")).serverSideEncryption, "AES256", "object encrypted");
  const kms = await root.createKmsKey("console test");
  await root.putBucketEncryption(B, { algorithm: "KMS", kmsKeyId: kms.KeyId });
  eq(await root.getBucketEncryption(B), { algorithm: "KMS", kmsKeyId: kms.KeyId }, "KMS");
  eq((await root.getBucketInfo(B)).encryption, { algorithm: "KMS", kmsKeyId: kms.KeyId }, "info shows KMS");
  await root.deleteBucketEncryption(B);
  eq(await root.getBucketEncryption(B), null, "encryption deleted");
  await root.deleteObject(B, "enc");
  eq(await root.getBucketRequestPayment(B), "BucketOwner", "payer");
  await root.putBucketRequestPayment(B, "Requester");
  eq(await root.getBucketRequestPayment(B), "Requester", "requester pays");
  await root.putBucketRequestPayment(B, "BucketOwner");
  eq(await root.getBucketCors(B), [], "no CORS");
  const rules = [{ allowedOrigins: ["https://a.example", "*"], allowedMethods: ["GET", "PUT"], allowedHeaders: ["*"],
    exposeHeaders: ["x-oss-next-append-position"], maxAgeSeconds: 100 }];
  await root.putBucketCors(B, rules);
  eq(await root.getBucketCors(B), rules, "CORS");
  eq((await root.getBucketCorsConfiguration(B)).responseVary, false, "no Vary by default");
  await root.putBucketCors(B, rules, { responseVary: true });
  eq(await root.getBucketCorsConfiguration(B), { rules, responseVary: true }, "CORS with ResponseVary");
  const badCors = await rejects(root.putBucketCors(B, [{ allowedOrigins: ["*"], allowedMethods: ["PATCH"] }]), "InvalidArgument", "bad method");
  assert(badCors.message.includes("PATCH") && badCors.fields.ArgumentName === "AllowedMethod", `refusal: ${badCors.message}`);
  await root.deleteBucketCors(B);
  eq(await root.getBucketCors(B), [], "CORS deleted");
  eq(await root.getBucketLifecycle(B), null, "no lifecycle");
  await root.putBucketLifecycle(B, [{ ID: "r1", Prefix: "tmp/", Status: "Enabled", Expiration: { Days: 3 } }]);
  const lc = parseXml(await root.getBucketLifecycle(B));
  eq([text(lc, "Rule/ID"), text(lc, "Rule/Prefix"), text(lc, "Rule/Expiration/Days")], ["r1", "tmp/", "3"], "lifecycle");
  eq(await root.getBucketLifecycleRules(B), [{ ID: "r1", Prefix: "tmp/", Status: "Enabled", Expiration: { Days: 3 } }], "rules");
  // every element survives a read and a put back: lists, numbers, flags, dates, what a form would not show
  // (in the order the server writes them, for eq)
  const full = [
    { ID: "r2", Prefix: "logs/", Status: "Enabled", Expiration: { Days: 365 },
      Transition: [{ Days: 30, StorageClass: "IA" }, { Days: 60, StorageClass: "Archive" }],
      AbortMultipartUpload: { Days: 7 }, NoncurrentVersionExpiration: { NoncurrentDays: 10 } },
    { ID: "r3", Prefix: "old/", Status: "Disabled", Filter: { ObjectSizeGreaterThan: 10 },
      Expiration: { CreatedBeforeDate: "2020-01-01T00:00:00.000Z" }, Tag: [{ Key: "a", Value: "1" }, { Key: "b", Value: "2" }] },
    { ID: "r4", Prefix: "m/", Status: "Enabled", Expiration: { ExpiredObjectDeleteMarker: true } },
  ];
  await root.putBucketLifecycle(B, full);
  const back = await root.getBucketLifecycleRules(B);
  eq(back, full, "rules read back");
  await root.putBucketLifecycle(B, back);
  eq(await root.getBucketLifecycleRules(B), full, "rules put back unchanged");
  const badLc = await rejects(root.putBucketLifecycle(B, [{ ID: "x", Prefix: "", Status: "Enabled", Expiration: { Days: 5 },
    Transition: [{ Days: 10, StorageClass: "IA" }] }]), "InvalidArgument", "expiry before a transition");
  assert(badLc.ec && /Expiration/.test(badLc.message), `refusal: ${badLc.ec} ${badLc.message}`);
  await root.deleteBucketLifecycle(B);
  eq(await root.getBucketLifecycle(B), null, "lifecycle deleted");
  eq(await root.getBucketLifecycleRules(B), [], "no rules");
  eq(await root.getBucketVersioning(B), null, "never versioned");
});

await step("versions: list, read an old one, bring it back, delete markers", async () => {
  const vb = `${B}-ver`;
  await root.createBucket(vb, { versioning: "Enabled" });
  eq(await root.getBucketVersioning(vb), "Enabled", "versioning");
  const v1 = await root.putObject(vb, "doc ü", "one");
  const v2 = await root.putObject(vb, "doc ü", "two");
  assert(v1.versionId && v2.versionId && v1.versionId !== v2.versionId, "version ids");
  eq(await (await root.getObject(vb, "doc ü", { versionId: v1.versionId })).text(), "one", "old version");
  eq((await root.headObject(vb, "doc ü", { versionId: v1.versionId })).versionId, v1.versionId, "head of a version");
  await root.copyObject(vb, "doc ü", "doc ü", { versionId: v1.versionId });
  eq(await (await root.getObject(vb, "doc ü")).text(), "one", "restored as the latest");
  const del = await root.deleteObject(vb, "doc ü");
  assert(del.deleteMarker && del.versionId, "delete marker");
  let l = await root.listObjectVersions(vb, { prefix: "doc" });
  eq([l.versions.length, l.deleteMarkers.length, l.deleteMarkers[0].isLatest, l.versions[0].key], [3, 1, true, "doc ü"], "listed");
  const p1 = await root.listObjectVersions(vb, { maxKeys: 2 });
  const p2 = await root.listObjectVersions(vb, { keyMarker: p1.nextKeyMarker, versionIdMarker: p1.nextVersionIdMarker });
  eq([p1.isTruncated, p1.versions.length + p1.deleteMarkers.length, p2.versions.length + p2.deleteMarkers.length], [true, 2, 2], "paged");
  await root.deleteObject(vb, "doc ü", { versionId: del.versionId });
  eq(await (await root.getObject(vb, "doc ü")).text(), "one", "marker removed");
  l = await root.listObjectVersions(vb);
  const d = await root.deleteObjects(vb, l.versions.map((v) => ({ key: v.key, versionId: v.versionId })));
  eq(d.deleted.length, 3, "every version deleted");
  eq((await root.listObjectVersions(vb)).versions, [], "none left");
  await root.putBucketVersioning(vb, "Suspended");
  eq(await root.getBucketVersioning(vb), "Suspended", "suspended");
  await root.deleteBucket(vb);
});

await step("restore an Archive object", async () => {
  await root.putObject(B, "cold", "frozen", { storageClass: "Archive" });
  const h = await root.headObject(B, "cold");
  eq([h.storageClass, h.restore], ["Archive", undefined], "archive");
  await rejects(root.getObject(B, "cold"), "InvalidObjectState", "unreadable before a restore");
  const r = await root.restoreObject(B, "cold", { days: 1 });
  eq(r.status, 202, "restore accepted");
  const after = await root.headObject(B, "cold");
  assert(after.restore, "x-oss-restore after the restore");
  if (after.restore.includes('ongoing-request="false"')) {
    eq(await (await root.getObject(B, "cold")).text(), "frozen", "readable once restored");
  } else notes.push(`restore still ongoing: ${after.restore}`);
  await root.deleteObject(B, "cold");
});

await step("presigned GET and PUT with plain fetch", async () => {
  const key = "pre signed/ü+%.bin";
  const body = new Uint8Array([0, 1, 2, 250, 255]);
  const put = await root.presign({ method: "PUT", bucket: B, key, expires: 300 });
  const pr = await fetch(put, { method: "PUT", body });
  eq(pr.status, 200, "presigned PUT " + (await pr.text()));
  const get = await root.presign({ bucket: B, key, expires: 60 });
  assert(get.includes("x-oss-signature="), "a V4 URL");
  const gr = await fetch(get);
  assert(gr.status === 200 && same(await bytesOf(gr), body), "presigned GET");
  const typed = await root.presign({ method: "PUT", bucket: B, key: "typed", headers: { "Content-Type": "text/plain" } });
  eq((await fetch(typed, { method: "PUT", body: "typed", headers: { "Content-Type": "text/plain" } })).status, 200, "typed PUT");
  eq((await fetch(typed, { method: "PUT", body: "typed", headers: { "Content-Type": "text/html" } })).status, 403, "other type refused");
  const ranged = await root.presign({ bucket: B, key, query: { "response-content-type": "application/x-ü" } });
  eq((await fetch(ranged)).headers.get("content-type"), "application/x-ü", "signed query parameter");
  const tampered = get.replace(/x-oss-expires=\d+/, "x-oss-expires=600");
  eq((await fetch(tampered)).status, 403, "tampered URL refused");
  await root.deleteObjects(B, [key, "typed"]);
});

await step("admin: users, access keys, policies, KMS", async () => {
  const user = `cc-user-${run}`;
  const u = await root.createUser(user);
  eq(u.UserName, user, "created");
  await rejects(root.createUser(user), "EntityAlreadyExists", "twice");
  assert((await root.listUsers()).Users.some((x) => x.UserName === user), "listed");
  const key = await root.createAccessKey(user);
  assert(key.AccessKeyId && key.AccessKeySecret, "a key pair");
  eq((await root.listAccessKeys(user)).AccessKeys.map((k) => k.AccessKeyId), [key.AccessKeyId], "keys");
  const asUser = new OssClient({ accessKeyId: key.AccessKeyId, accessKeySecret: key.AccessKeySecret, region, endpoint });
  await rejects(asUser.listObjects(B), "AccessDenied", "no policy yet");
  await rejects(root.putUserPolicy(user, "bad", "{\"Version\":\"1\",\"Statement\":[{\"Effect\":\"Maybe\"}]}"),
    "InvalidPolicyDocument", "an invalid policy");
  const doc = { Version: "1", Statement: [{ Effect: "Allow", Action: ["oss:ListObjects", "oss:GetObject"],
    Resource: [`acs:oss:*:*:${B}`, `acs:oss:*:*:${B}/*`] }] };
  await root.putUserPolicy(user, "read", doc);
  eq(JSON.parse((await root.getUserPolicy(user, "read")).PolicyDocument), doc, "policy");
  eq((await root.listUserPolicies(user)).Policies.map((p) => p.PolicyName), ["read"], "policies");
  eq((await root.getUser(user)).Policies, ["read"], "getUser");
  await asUser.listObjects(B);
  await rejects(asUser.putObject(B, "x", "no"), "AccessDenied", "read-only user writes");
  await rejects(asUser.listUsers(), "AccessDenied", "admin API for a non-root user");
  await root.updateAccessKey(key.AccessKeyId, "Inactive");
  const off = await rejects(asUser.listObjects(B), undefined, "inactive key");
  eq(off.status, 403, "inactive key refused");
  await root.updateAccessKey(key.AccessKeyId, "Active");
  await asUser.listObjects(B);
  await root.deleteUserPolicy(user, "read");
  await root.deleteAccessKey(key.AccessKeyId);
  await root.deleteUser(user);
  await rejects(root.getUser(user), "EntityNotExist", "deleted user");
  const k = await root.createKmsKey("desc ü");
  eq([k.KeyState, k.Description], ["Enabled", "desc ü"], "kms key");
  assert((await root.listKmsKeys()).Keys.some((x) => x.KeyId === k.KeyId), "kms listed");
  eq((await root.disableKmsKey(k.KeyId)).KeyState, "Disabled", "disabled");
  eq((await root.describeKmsKey(k.KeyId)).KeyState, "Disabled", "described");
  eq((await root.enableKmsKey(k.KeyId)).KeyState, "Enabled", "enabled");
  // two equal calls within one second are two requests (the nonce), not a replay
  await Promise.all([root.listUsers(), root.listUsers()]);
});

await step("STS: AssumeRole, a session restricted by its policy, presigned with a token", async () => {
  const user = `cc-sts-${run}`;
  await root.createUser(user);
  await root.putUserPolicy(user, "all", { Version: "1", Statement: [{ Effect: "Allow", Action: ["oss:*"],
    Resource: [`acs:oss:*:*:${B}`, `acs:oss:*:*:${B}/*`] }] });
  const session = { Version: "1", Statement: [{ Effect: "Allow", Action: ["oss:GetObject", "oss:ListObjects"],
    Resource: [`acs:oss:*:*:${B}`, `acs:oss:*:*:${B}/*`] }] };
  const { Credentials: cr } = await root.assumeRole(user, { durationSeconds: 900, policy: session });
  assert(cr.AccessKeyId && cr.AccessKeySecret && cr.SecurityToken, "STS credentials");
  await root.putObject(B, "sts.txt", "via sts");
  const sts = new OssClient({ accessKeyId: cr.AccessKeyId, accessKeySecret: cr.AccessKeySecret, securityToken: cr.SecurityToken, region, endpoint });
  eq(await (await sts.getObject(B, "sts.txt")).text(), "via sts", "read with a token");
  await rejects(sts.putObject(B, "sts2", "x"), "AccessDenied", "write outside the session policy");
  const url = await sts.presign({ bucket: B, key: "sts.txt" });
  assert(url.includes("x-oss-security-token="), "token in the URL");
  eq(await (await fetch(url)).text(), "via sts", "presigned with a token");
  const noToken = new OssClient({ accessKeyId: cr.AccessKeyId, accessKeySecret: cr.AccessKeySecret, region, endpoint });
  eq((await rejects(noToken.getObject(B, "sts.txt"), undefined, "no token")).status, 403, "refused without its token");
  await rejects(sts.listUsers(), "AccessDenied", "admin API with STS");
  await root.deleteObject(B, "sts.txt");
  await root.deleteUserPolicy(user, "all");
  await root.deleteUser(user);
});

await step("without Web Crypto (a browser's insecure context)", async () => {
  useWebCrypto(false);
  try {
    await root.putObject(B, "no webcrypto/ü", "fallback");
    eq(await (await fetch(await root.presign({ bucket: B, key: "no webcrypto/ü" }))).text(), "fallback", "presigned");
    await root.deleteObject(B, "no webcrypto/ü");
  } finally {
    useWebCrypto(true);
  }
});

await step("clock skew: the server's time is adopted", async () => {
  const skewed = new OssClient({ accessKeyId, accessKeySecret, region, endpoint });
  skewed.clockOffset = -3600 * 1000;
  await skewed.listObjects(B);
  assert(Math.abs(skewed.clockOffset) < 60 * 1000, `offset corrected: ${skewed.clockOffset}`);
});

await step("watch (long-poll where the server has it, else HEAD polling)", async () => {
  const k = "tail/live.log";
  await root.appendObject(B, k, 0, "line 1\n");
  const h = await root.headObject(B, k);
  const native = h.watch;
  notes.push(native ? "watch: the server's long-poll API" : "watch: the server has no watch API (no x-ossbox-watch header): tested the HEAD-polling fallback");
  const opts = { timeout: 5, pollInterval: 100 };
  const pending = root.watch(B, k, 7, opts);
  await new Promise((r) => setTimeout(r, 250));
  const a = await root.appendObject(B, k, 7, "line 2\n");
  const ev = await pending;
  eq([ev.event, ev.length, String(ev.crc64)], ["grown", 14, a.crc64], "grown");
  eq((await root.watch(B, k, 7, opts)).event, "grown", "already past");
  const t0 = Date.now();
  eq((await root.watch(B, k, 14, { timeout: 1, pollInterval: 100 })).event, "timeout", "timeout");
  assert(Date.now() - t0 < 4000, "timeout returns");
  const ac = new AbortController();
  const aborted = root.watch(B, k, 14, { ...opts, signal: ac.signal });
  setTimeout(() => ac.abort(), 100);
  let e;
  try { await aborted; } catch (x) { e = x; }
  assert(e && e.name === "AbortError", `aborted: ${e}`);
  const deleting = root.watch(B, k, 14, opts);
  await new Promise((r) => setTimeout(r, 150));
  await root.deleteObject(B, k);
  eq((await deleting).event, "deleted", "deleted");
  eq((await root.watch(B, "tail/none", 0, opts)).event, "deleted", "missing object");
  await root.appendObject(B, k, 0, "0123456789abcdefgh");
  const replacing = root.watch(B, k, 18, opts);
  await new Promise((r) => setTimeout(r, 150));
  await root.putObject(B, k, "short");
  eq((await replacing).event, "replaced", "replaced");
  const sameSize = root.watch(B, k, 5, opts);
  await new Promise((r) => setTimeout(r, 150));
  await root.putObject(B, k, "SHORT");
  eq((await sameSize).event, "replaced", "replaced by an object of the same length");
  await root.deleteObject(B, k);
  await root.appendObject(B, k, 0, "0123456789abcd");
  const sealing = root.watch(B, k, 14, opts);
  await new Promise((r) => setTimeout(r, 150));
  await root.sealAppendObject(B, k, 14);
  eq((await sealing).event, "sealed", "sealed");
  eq((await root.watch(B, k, 14, opts)).event, "sealed", "already sealed");
  await root.deleteObject(B, k);
  if (!native) {
    // the fallback also must detect nothing on a server that has watch: a plain GET is treated as none
    const c2 = new OssClient({ accessKeyId, accessKeySecret, region, endpoint });
    c2.watchSupported = true;
    await root.appendObject(B, k, 0, "x");
    eq((await c2.watch(B, k, 0, opts)).event, "grown", "an answer without the watch header falls back");
    eq(c2.watchSupported, false, "and remembers");
    await root.deleteObject(B, k);
  }
});

await step("deleteBucket: not empty, then empty", async () => {
  await root.putObject(B, "last", "x");
  await rejects(root.deleteBucket(B), "BucketNotEmpty", "not empty");
  await root.deleteObject(B, "last");
  await root.deleteBucket(B);
  await rejects(root.listObjects(B), "NoSuchBucket", "gone");
});

console.log(JSON.stringify({ ok: failures.length === 0, steps, failures, notes }));
process.exitCode = failures.length ? 1 : 0;
