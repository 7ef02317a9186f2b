// @ts-check
/**
 * The console's OSS client: a plain ES module, no dependencies, for the browser and Node.js 20.
 * Contract: /work/notes/oss-js-contract.md (issue 15). Every request is an ordinary OSS request
 * signed with V4 (./sigv4.js) under the signed-in identity, path-style on `endpoint`
 * (endpoint/bucket/key), so policies and ACLs apply exactly as to any other client.
 *
 * Notes on the contract (what a caller should know):
 * - Dates are returned as the server wrote them (ISO 8601 in listings, RFC 1123 in headers).
 * - Sizes and positions are numbers; CRC-64 values are decimal strings (they exceed 2^53).
 * - The admin wrappers return the server's JSON as is (its field names: UserName, AccessKeyId, ...).
 * - getBucketLifecycle returns the XML text (null when none), getBucketLifecycleRules the rules as
 *   objects in OSS element names ({ID, Prefix, Status, Expiration: {Days}, Transition: [...]}), the
 *   form putBucketLifecycle takes besides XML text.
 * - A key whose path has a "." or ".." segment is sent with "/" as %2F (URL parsers would
 *   otherwise resolve the dot segments); a key that is exactly "." or ".." cannot be addressed
 *   (OssError InvalidObjectName, without a request).
 * - Header values (x-oss-meta-*) may be any text: sent and read back as UTF-8 bytes, as the SDKs do.
 * - Bodies: string, bytes, Blob/File; a ReadableStream works in Node.js only (browsers stream
 *   uploads over HTTP/2 only).
 * - presign: headers given are signed and must be sent as given; a PUT that sends a body with a
 *   Content-Type (fetch adds text/plain for a string) must presign that Content-Type.
 * - The clock: on RequestTimeTooSkewed the client adopts the server's time and retries once.
 */
import { authorization, canonicalUri, contentMd5, enc, isoBasic, presignQuery } from "./sigv4.js";
import { all, child, parseXml, text, toXml, xmlDocument } from "./xml.js";

/** @typedef {import("./xml.js").XmlElement} XmlElement */
/** @typedef {string | Uint8Array | ArrayBuffer | Blob | ReadableStream | null | undefined} Body */
/** @typedef {Record<string, string | number | boolean | null | undefined>} Query */

const MiB = 1024 * 1024;
const XML = "application/xml";

export class OssError extends Error {
  /**
   * @param {number} status @param {string} code @param {string} message
   * @param {Record<string, string>} [fields] the other elements of the error document
   * @param {Headers} [headers]
   */
  constructor(status, code, message, fields = {}, headers = undefined) {
    super(message || code);
    this.name = "OssError";
    this.status = status;
    this.code = code;
    this.ec = fields.EC || headers?.get("x-oss-ec") || undefined;
    this.requestId = fields.RequestId || headers?.get("x-oss-request-id") || undefined;
    this.hostId = fields.HostId;
    this.fields = fields;
    this.headers = headers;
    const next = headers?.get("x-oss-next-append-position");
    /** For PositionNotEqualToLength: the object's true length, where an append must start. */
    this.nextPosition = next != null ? Number(next) : undefined;
  }
}

/** @param {Response} res @param {string} method */
async function errorOf(res, method) {
  let doc = "";
  try {
    if (method === "HEAD") {
      const b64 = res.headers.get("x-oss-err");
      if (b64) doc = new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
    } else doc = await res.text();
  } catch { /* no body */ }
  /** @type {Record<string, string>} */
  const fields = {};
  try {
    const root = parseXml(doc);
    for (const c of root.children) fields[c.name] = c.text;
  } catch { /* not an OSS error document (a proxy's page, an empty HEAD answer) */ }
  const code = fields.Code || (res.status === 404 ? "NotFound" : `HTTP${res.status}`);
  return new OssError(res.status, code, fields.Message || res.statusText || code, fields, res.headers);
}

/** @param {string | undefined} s */
const int = (s) => (s == null || s === "" ? undefined : Number(s));
/** @param {string | undefined} s */
const bool = (s) => s === "true";

/** A key on the wire: the canonical form, unless a dot segment must be protected from URL parsing. */
function wirePath(/** @type {string|undefined} */ bucket, /** @type {string|undefined} */ key) {
  if (key === "." || key === "..") throw new OssError(400, "InvalidObjectName", `The key "${key}" cannot be addressed in a URL.`);
  if (bucket && key && key.split("/").some((p) => p === "." || p === "..")) return `/${enc(bucket)}/${enc(key)}`;
  return canonicalUri(bucket, key);
}

/** Query object -> (name, value) pairs: null/undefined/false left out, true and "" are bare flags. */
function pairs(/** @type {Query} */ query) {
  /** @type {[string, string][]} */
  const out = [];
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === false) continue;
    out.push([k, v === true ? "" : String(v)]);
  }
  return out;
}

/** Header values travel as bytes: non-ASCII text goes as its UTF-8 bytes (fetch takes byte strings). @param {string} v */
const toWire = (v) => (/[^\x00-\x7f]/.test(v) ? String.fromCharCode(...new TextEncoder().encode(v)) : v);

/** ... and comes back as those bytes, one character each: the UTF-8 text when they are UTF-8. @param {string} v */
function fromWire(v) {
  if (!/[\x80-\xff]/.test(v) || /[^\x00-\xff]/.test(v)) return v;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(v, (c) => c.charCodeAt(0)));
  } catch {
    return v;
  }
}

/** @param {[string, string][]} ps */
const queryString = (ps) => ps.map(([k, v]) => (v ? `${enc(k)}=${enc(v)}` : enc(k))).join("&");

/** @param {Response} res */
async function xmlOf(res) {
  return parseXml(await res.text());
}

/** @param {number} ms @param {AbortSignal} [signal] */
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", abort);
      resolve(undefined);
    }
    function abort() {
      clearTimeout(t);
      reject(signal?.reason);
    }
    signal?.addEventListener("abort", abort, { once: true });
  });
}

/** Headers -> a plain object with lower-case names. @param {Headers} h */
const headerObject = (h) => Object.fromEntries(Array.from(h.entries()));

export class OssClient {
  /**
   * @param {{accessKeyId: string, accessKeySecret: string, securityToken?: string, region: string,
   *          endpoint?: string}} options endpoint defaults to location.origin in a browser
   */
  constructor({ accessKeyId, accessKeySecret, securityToken, region, endpoint }) {
    this.accessKeyId = accessKeyId;
    this.accessKeySecret = accessKeySecret;
    this.securityToken = securityToken;
    this.region = region;
    this.endpoint = (endpoint ?? globalThis.location?.origin ?? "").replace(/\/+$/, "");
    /** Milliseconds to add to the local clock (learnt from a RequestTimeTooSkewed). */
    this.clockOffset = 0;
    /** Whether the server answers x-ossbox-watch (undefined: not known yet). @type {boolean|undefined} */
    this.watchSupported = undefined;
  }

  // -- low level -------------------------------------------------------------------------------
  /**
   * One signed request; throws OssError on a status >= 300.
   * @param {{method?: string, bucket?: string, key?: string, query?: Query, headers?: Record<string, string|number|undefined>,
   *          body?: Body, signal?: AbortSignal}} req
   * @returns {Promise<Response>}
   */
  async request({ method = "GET", bucket, key, query = {}, headers = {}, body, signal }) {
    const ps = pairs(query);
    /** @type {Record<string, string>} */
    const h = {};
    for (const [k, v] of Object.entries(headers)) if (v !== undefined && v !== null) h[k.toLowerCase()] = String(v).trim();
    // fetch would add a Content-Type of its own to some bodies (text/plain for a string): name it
    if (body != null && !h["content-type"]) h["content-type"] = (body instanceof Blob && body.type) || "application/octet-stream";
    const once = typeof ReadableStream !== "undefined" && body instanceof ReadableStream;
    const qs = queryString(ps);
    const url = this.endpoint + wirePath(bucket, key) + (qs ? "?" + qs : "");
    for (let attempt = 0; ; attempt++) {
      const signedHeaders = { ...h };
      signedHeaders.authorization = await authorization({
        method, uri: canonicalUri(bucket, key), query: ps, headers: signedHeaders,
        accessKeyId: this.accessKeyId, accessKeySecret: this.accessKeySecret, securityToken: this.securityToken,
        region: this.region, datetime: isoBasic(new Date(Date.now() + this.clockOffset)),
      });
      /** @type {RequestInit & {duplex?: string}} */
      const init = { method, headers: Object.fromEntries(Object.entries(signedHeaders).map(([k, v]) => [k, toWire(v)])),
        body: /** @type {any} */ (body), signal, cache: "no-store" };
      if (once) init.duplex = "half"; // Node.js sends a stream only when told so
      const res = await fetch(url, init);
      if (res.status < 300) return res;
      const err = await errorOf(res, method);
      const serverTime = Date.parse(err.fields.ServerTime || res.headers.get("date") || "");
      if (err.code === "RequestTimeTooSkewed" && attempt === 0 && !once && serverTime) {
        this.clockOffset = serverTime - Date.now();
        continue;
      }
      throw err;
    }
  }

  /**
   * A presigned URL (V4 query auth) for plain fetch / a link.
   * @param {{method?: string, bucket?: string, key?: string, expires?: number, query?: Query, headers?: Record<string, string>}} p
   */
  async presign({ method = "GET", bucket, key, expires = 3600, query = {}, headers = {} }) {
    /** @type {Record<string, string>} */
    const h = {};
    for (const [k, v] of Object.entries(headers)) h[k.toLowerCase()] = String(v).trim();
    const path = wirePath(bucket, key);
    const ps = await presignQuery({
      method, uri: canonicalUri(bucket, key), query: pairs(query), headers: h, expires,
      accessKeyId: this.accessKeyId, accessKeySecret: this.accessKeySecret, securityToken: this.securityToken,
      region: this.region, datetime: isoBasic(new Date(Date.now() + this.clockOffset)),
    });
    return this.endpoint + path + "?" + queryString(ps);
  }

  /** GET a sub-resource's XML document. @param {string} bucket @param {Query} query @param {string} [key] */
  async _getXml(bucket, query, key = undefined) {
    return xmlOf(await this.request({ bucket, key, query }));
  }

  /** PUT an XML document to a sub-resource. */
  async _putXml(/** @type {string} */ bucket, /** @type {Query} */ query, /** @type {string} */ root, /** @type {any} */ value,
    /** @type {string|undefined} */ key = undefined) {
    const body = xmlDocument(root, value);
    return this.request({ method: "PUT", bucket, key, query, body, headers: { "content-type": XML, "content-md5": contentMd5(body) } });
  }

  /** The document of a sub-resource, or null when the server says it has none (404 `code`). */
  async _getOrNull(/** @type {() => Promise<any>} */ get, /** @type {string} */ code) {
    try {
      return await get();
    } catch (e) {
      if (e instanceof OssError && e.code === code) return null;
      throw e;
    }
  }

  // -- service and buckets ---------------------------------------------------------------------
  /** @param {{prefix?: string, marker?: string, maxKeys?: number}} [o] */
  async listBuckets({ prefix, marker, maxKeys } = {}) {
    const doc = await xmlOf(await this.request({ query: { prefix, marker, "max-keys": maxKeys } }));
    return {
      buckets: all(child(doc, "Buckets"), "Bucket").map((b) => ({
        name: text(b, "Name"), region: text(b, "Region"), location: text(b, "Location"),
        creationDate: text(b, "CreationDate"), storageClass: text(b, "StorageClass"),
      })),
      isTruncated: bool(text(doc, "IsTruncated")),
      nextMarker: text(doc, "NextMarker"),
    };
  }

  /** @param {string} name @param {{acl?: string, storageClass?: string, versioning?: string|boolean, dataRedundancyType?: string}} [o] */
  async createBucket(name, { acl, storageClass, versioning, dataRedundancyType } = {}) {
    const config = { StorageClass: storageClass, DataRedundancyType: dataRedundancyType };
    const body = storageClass || dataRedundancyType ? xmlDocument("CreateBucketConfiguration", config) : undefined;
    await this.request({ method: "PUT", bucket: name, headers: { "x-oss-acl": acl, "content-type": body && XML }, body });
    if (versioning) await this.putBucketVersioning(name, versioning === true ? "Enabled" : versioning);
  }

  /** @param {string} name */
  async deleteBucket(name) {
    await this.request({ method: "DELETE", bucket: name });
  }

  /** @param {string} name */
  async getBucketInfo(name) {
    const b = child(await this._getXml(name, { bucketInfo: true }), "Bucket");
    const sse = child(b, "ServerSideEncryptionRule");
    return {
      name: text(b, "Name"), region: text(b, "Region"), location: text(b, "Location"),
      creationDate: text(b, "CreationDate"), storageClass: text(b, "StorageClass"),
      acl: text(b, "AccessControlList/Grant"), versioning: text(b, "Versioning") || null,
      extranetEndpoint: text(b, "ExtranetEndpoint"), intranetEndpoint: text(b, "IntranetEndpoint"),
      dataRedundancyType: text(b, "DataRedundancyType"),
      owner: { id: text(b, "Owner/ID"), displayName: text(b, "Owner/DisplayName") },
      encryption: { algorithm: text(sse, "SSEAlgorithm"), kmsKeyId: text(sse, "KMSMasterKeyID") || undefined },
      blockPublicAccess: bool(text(b, "BlockPublicAccess")),
      comment: text(b, "Comment"),
    };
  }

  /** @param {string} name @returns {Promise<string>} */
  async getBucketAcl(name) {
    return text(await this._getXml(name, { acl: true }), "AccessControlList/Grant") || "";
  }

  /** @param {string} name @param {string} acl private | public-read | public-read-write */
  async putBucketAcl(name, acl) {
    await this.request({ method: "PUT", bucket: name, query: { acl: true }, headers: { "x-oss-acl": acl } });
  }

  /** "Enabled" | "Suspended" | null (never enabled). @param {string} name */
  async getBucketVersioning(name) {
    return text(await this._getXml(name, { versioning: true }), "Status") || null;
  }

  /** @param {string} name @param {string} status */
  async putBucketVersioning(name, status) {
    await this._putXml(name, { versioning: true }, "VersioningConfiguration", { Status: status });
  }

  /** The policy's JSON text, or null. @param {string} name @returns {Promise<string|null>} */
  async getBucketPolicy(name) {
    return this._getOrNull(async () => (await this.request({ bucket: name, query: { policy: true } })).text(),
      "NoSuchBucketPolicy");
  }

  /** @param {string} name @param {string | object} policy */
  async putBucketPolicy(name, policy) {
    const body = typeof policy === "string" ? policy : JSON.stringify(policy);
    await this.request({ method: "PUT", bucket: name, query: { policy: true }, body, headers: { "content-type": "application/json" } });
  }

  /** @param {string} name */
  async deleteBucketPolicy(name) {
    await this.request({ method: "DELETE", bucket: name, query: { policy: true } });
  }

  /** {algorithm, kmsKeyId, kmsDataEncryption} or null. @param {string} name */
  async getBucketEncryption(name) {
    return this._getOrNull(async () => {
      const r = child(await this._getXml(name, { encryption: true }), "ApplyServerSideEncryptionByDefault");
      return { algorithm: text(r, "SSEAlgorithm"), kmsKeyId: text(r, "KMSMasterKeyID") || undefined,
        kmsDataEncryption: text(r, "KMSDataEncryption") || undefined };
    }, "NoSuchServerSideEncryptionRule");
  }

  /** @param {string} name @param {{algorithm: string, kmsKeyId?: string, kmsDataEncryption?: string}} rule */
  async putBucketEncryption(name, { algorithm, kmsKeyId, kmsDataEncryption }) {
    await this._putXml(name, { encryption: true }, "ServerSideEncryptionRule", {
      ApplyServerSideEncryptionByDefault: { SSEAlgorithm: algorithm, KMSMasterKeyID: kmsKeyId, KMSDataEncryption: kmsDataEncryption },
    });
  }

  /** @param {string} name */
  async deleteBucketEncryption(name) {
    await this.request({ method: "DELETE", bucket: name, query: { encryption: true } });
  }

  /** "BucketOwner" | "Requester". @param {string} name */
  async getBucketRequestPayment(name) {
    return text(await this._getXml(name, { requestPayment: true }), "Payer") || "BucketOwner";
  }

  /** @param {string} name @param {string} payer */
  async putBucketRequestPayment(name, payer) {
    await this._putXml(name, { requestPayment: true }, "RequestPaymentConfiguration", { Payer: payer });
  }

  /**
   * [{allowedOrigins, allowedMethods, allowedHeaders, exposeHeaders, maxAgeSeconds}] ([] when none).
   * @param {string} name
   */
  async getBucketCors(name) {
    return (await this.getBucketCorsConfiguration(name)).rules;
  }

  /**
   * The whole CORS configuration: {rules (as getBucketCors), responseVary} ({rules: [], responseVary: false} when none).
   * @param {string} name
   */
  async getBucketCorsConfiguration(name) {
    const doc = await this._getOrNull(() => this._getXml(name, { cors: true }), "NoSuchCORSConfiguration");
    const texts = (/** @type {XmlElement} */ r, /** @type {string} */ n) => all(r, n).map((e) => e.text);
    return {
      rules: all(doc ?? undefined, "CORSRule").map((r) => ({
        allowedOrigins: texts(r, "AllowedOrigin"), allowedMethods: texts(r, "AllowedMethod"),
        allowedHeaders: texts(r, "AllowedHeader"), exposeHeaders: texts(r, "ExposeHeader"),
        maxAgeSeconds: int(text(r, "MaxAgeSeconds")),
      })),
      responseVary: bool(text(doc ?? undefined, "ResponseVary")),
    };
  }

  /**
   * Replaces every rule. responseVary (Vary: Origin on answers) is sent only when given.
   * @param {string} name
   * @param {{allowedOrigins: string[], allowedMethods: string[], allowedHeaders?: string[], exposeHeaders?: string[], maxAgeSeconds?: number}[]} rules
   * @param {{responseVary?: boolean}} [o]
   */
  async putBucketCors(name, rules, { responseVary } = {}) {
    await this._putXml(name, { cors: true }, "CORSConfiguration", {
      CORSRule: rules.map((r) => ({ AllowedOrigin: r.allowedOrigins, AllowedMethod: r.allowedMethods,
        AllowedHeader: r.allowedHeaders, ExposeHeader: r.exposeHeaders, MaxAgeSeconds: r.maxAgeSeconds })),
      ResponseVary: responseVary,
    });
  }

  /** @param {string} name */
  async deleteBucketCors(name) {
    await this.request({ method: "DELETE", bucket: name, query: { cors: true } });
  }

  /** The LifecycleConfiguration XML text, or null. @param {string} name @returns {Promise<string|null>} */
  async getBucketLifecycle(name) {
    return this._getOrNull(async () => (await this.request({ bucket: name, query: { lifecycle: true } })).text(),
      "NoSuchLifecycle");
  }

  /**
   * The lifecycle rules as objects in OSS element names, as putBucketLifecycle takes them ([] when none):
   * [{ID, Prefix, Status, Expiration: {Days | CreatedBeforeDate | Date | ExpiredObjectDeleteMarker},
   *   Transition: [{Days | CreatedBeforeDate, StorageClass, ...}], AbortMultipartUpload: {Days | CreatedBeforeDate},
   *   Tag: [{Key, Value}], Filter, NoncurrentVersionExpiration, NoncurrentVersionTransition: [...]}].
   * Elements that may repeat are always arrays; Days, NoncurrentDays and sizes are numbers, flags
   * booleans; every element is kept, so a rule read, changed in a few fields and put back loses nothing.
   * @param {string} name @returns {Promise<Record<string, any>[]>}
   */
  async getBucketLifecycleRules(name) {
    const xml = await this.getBucketLifecycle(name);
    return xml ? all(parseXml(xml), "Rule").map(lifecycleValue) : [];
  }

  /** @param {string} name @param {string | object[]} xmlOrRules XML text, or rules in OSS element names */
  async putBucketLifecycle(name, xmlOrRules) {
    const body = typeof xmlOrRules === "string" ? xmlOrRules : xmlDocument("LifecycleConfiguration", { Rule: xmlOrRules });
    await this.request({ method: "PUT", bucket: name, query: { lifecycle: true }, body, headers: { "content-type": XML, "content-md5": contentMd5(body) } });
  }

  /** @param {string} name */
  async deleteBucketLifecycle(name) {
    await this.request({ method: "DELETE", bucket: name, query: { lifecycle: true } });
  }

  /**
   * GetBucketStat: its figures by their OSS names, as numbers ({Storage, ObjectCount, MultipartUploadCount, ...}).
   * @param {string} name @returns {Promise<Record<string, number>>}
   */
  async getBucketStat(name) {
    const doc = await this._getXml(name, { stat: true });
    return Object.fromEntries(doc.children.map((c) => [c.name, Number(c.text)]));
  }

  /**
   * Multipart uploads not completed nor aborted -> {uploads: [{key, uploadId, initiated}], isTruncated, nextKeyMarker, nextUploadIdMarker}.
   * @param {string} bucket @param {{prefix?: string, keyMarker?: string, uploadIdMarker?: string, maxUploads?: number}} [o]
   */
  async listMultipartUploads(bucket, { prefix, keyMarker, uploadIdMarker, maxUploads } = {}) {
    const doc = await this._getXml(bucket, { uploads: true, prefix, "key-marker": keyMarker, "upload-id-marker": uploadIdMarker,
      "max-uploads": maxUploads, "encoding-type": "url" });
    const dec = text(doc, "EncodingType") === "url" ? decodeURIComponent : (/** @type {string} */ s) => s;
    return {
      uploads: all(doc, "Upload").map((u) => ({ key: dec(text(u, "Key") || ""), uploadId: text(u, "UploadId"), initiated: text(u, "Initiated") })),
      isTruncated: bool(text(doc, "IsTruncated")),
      nextKeyMarker: text(doc, "NextKeyMarker") && dec(text(doc, "NextKeyMarker") || ""),
      nextUploadIdMarker: text(doc, "NextUploadIdMarker"),
    };
  }

  /** @param {string} bucket @param {string} key @param {string} uploadId */
  async abortMultipartUpload(bucket, key, uploadId) {
    await this.request({ method: "DELETE", bucket, key, query: { uploadId } });
  }

  // -- objects ---------------------------------------------------------------------------------
  /**
   * ListObjectsV2 (keys url-encoded on the wire, so any key survives the XML).
   * @param {string} bucket
   * @param {{prefix?: string, delimiter?: string, continuationToken?: string, maxKeys?: number, startAfter?: string, signal?: AbortSignal}} [o]
   */
  async listObjects(bucket, { prefix, delimiter, continuationToken, maxKeys, startAfter, signal } = {}) {
    const doc = await xmlOf(await this.request({ bucket, signal, query: {
      "list-type": 2, prefix, delimiter, "continuation-token": continuationToken, "max-keys": maxKeys,
      "start-after": startAfter, "encoding-type": "url" } }));
    const dec = text(doc, "EncodingType") === "url" ? decodeURIComponent : (/** @type {string} */ s) => s;
    return {
      objects: all(doc, "Contents").map((c) => ({
        key: dec(text(c, "Key") || ""), size: Number(text(c, "Size")), lastModified: text(c, "LastModified"),
        etag: text(c, "ETag"), type: text(c, "Type"), storageClass: text(c, "StorageClass"),
        restoreInfo: text(c, "RestoreInfo"),
      })),
      prefixes: all(doc, "CommonPrefixes").map((p) => dec(text(p, "Prefix") || "")),
      isTruncated: bool(text(doc, "IsTruncated")),
      nextContinuationToken: text(doc, "NextContinuationToken") && dec(text(doc, "NextContinuationToken") || ""),
      keyCount: int(text(doc, "KeyCount")),
    };
  }

  /** @param {string} bucket @param {string} key @param {{versionId?: string, signal?: AbortSignal}} [o] */
  async headObject(bucket, key, { versionId, signal } = {}) {
    const res = await this.request({ method: "HEAD", bucket, key, query: { versionId }, signal });
    return objectFacts(res.headers);
  }

  /**
   * GetObject; the Response (stream, .text(), .arrayBuffer(), .blob()); objectFacts(res.headers) reads its headers.
   * @param {string} bucket @param {string} key
   * @param {{range?: string | [number, number?], versionId?: string, signal?: AbortSignal, headers?: Record<string, string>}} [o]
   */
  async getObject(bucket, key, { range, versionId, signal, headers = {} } = {}) {
    const r = Array.isArray(range) ? `bytes=${range[0]}-${range[1] ?? ""}` : range;
    return this.request({ bucket, key, query: { versionId }, headers: { ...headers, range: r }, signal });
  }

  /**
   * PutObject. onProgress(0, total) before and (total, total) after (fetch reports no upload progress).
   * @param {string} bucket @param {string} key @param {Body} body
   * @param {{contentType?: string, acl?: string, storageClass?: string, meta?: Record<string, string>, headers?: Record<string, string>,
   *          onProgress?: (loaded: number, total: number) => void, signal?: AbortSignal}} [o]
   */
  async putObject(bucket, key, body, { contentType, acl, storageClass, meta, headers = {}, onProgress, signal } = {}) {
    const total = sizeOf(body);
    onProgress?.(0, total);
    const res = await this.request({ method: "PUT", bucket, key, body: body ?? "", signal,
      headers: { ...writeHeaders({ contentType, acl, storageClass, meta }), ...headers } });
    onProgress?.(total, total);
    return writeResult(res.headers);
  }

  /**
   * A multipart upload of a Blob/File (or bytes/text), parts sent `parallel` at a time; progress
   * after every part; on failure or abort the upload is aborted on the server.
   * @param {string} bucket @param {string} key @param {Blob | Uint8Array | ArrayBuffer | string} data
   * @param {{partSize?: number, parallel?: number, contentType?: string, acl?: string, storageClass?: string, meta?: Record<string, string>,
   *          headers?: Record<string, string>, onProgress?: (loaded: number, total: number) => void, signal?: AbortSignal}} [o]
   */
  async multipartUpload(bucket, key, data, { partSize = 8 * MiB, parallel = 3, contentType, acl, storageClass, meta, headers = {}, onProgress, signal } = {}) {
    const blob = data instanceof Blob ? data : new Blob([/** @type {BlobPart} */ (data)]);
    const total = blob.size;
    partSize = Math.max(partSize, Math.ceil(total / 10000), 100 * 1024);
    const count = Math.max(1, Math.ceil(total / partSize));
    const init = await xmlOf(await this.request({ method: "POST", bucket, key, query: { uploads: true }, signal,
      headers: { ...writeHeaders({ contentType: contentType || blob.type, acl, storageClass, meta }), ...headers } }));
    const uploadId = text(init, "UploadId") || "";
    /** @type {string[]} */
    const etags = [];
    let loaded = 0;
    let next = 0;
    onProgress?.(0, total);
    const worker = async () => {
      while (next < count) {
        const i = next++;
        const part = blob.slice(i * partSize, Math.min(total, (i + 1) * partSize));
        const res = await this.request({ method: "PUT", bucket, key, body: part, signal,
          query: { partNumber: i + 1, uploadId }, headers: { "content-type": "application/octet-stream" } });
        etags[i] = res.headers.get("etag") || "";
        loaded += part.size;
        onProgress?.(loaded, total);
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
      const body = xmlDocument("CompleteMultipartUpload", { Part: etags.map((e, i) => ({ PartNumber: i + 1, ETag: e })) });
      const res = await this.request({ method: "POST", bucket, key, query: { uploadId }, body, signal,
        headers: { "content-type": XML, "content-md5": contentMd5(body) } });
      return { ...writeResult(res.headers), uploadId };
    } catch (e) {
      next = count; // stop the other workers
      await this.request({ method: "DELETE", bucket, key, query: { uploadId } }).catch(() => {});
      throw e;
    }
  }

  /**
   * AppendObject at `position` -> {nextPosition, crc64, etag, versionId}. A wrong position throws
   * OssError code PositionNotEqualToLength (409) whose .nextPosition is the object's true length.
   * @param {string} bucket @param {string} key @param {number} position @param {Body} body
   * @param {{contentType?: string, acl?: string, storageClass?: string, meta?: Record<string, string>, headers?: Record<string, string>, signal?: AbortSignal}} [o]
   */
  async appendObject(bucket, key, position, body, { contentType, acl, storageClass, meta, headers = {}, signal } = {}) {
    const res = await this.request({ method: "POST", bucket, key, query: { append: true, position }, body: body ?? "", signal,
      headers: { ...writeHeaders({ contentType, acl, storageClass, meta }), ...headers } });
    return { nextPosition: Number(res.headers.get("x-oss-next-append-position")), ...writeResult(res.headers) };
  }

  /**
   * SealAppendObject: no append after this; `position` must be the object's length.
   * @param {string} bucket @param {string} key @param {number} position
   */
  async sealAppendObject(bucket, key, position) {
    const res = await this.request({ method: "POST", bucket, key, query: { seal: true, position } });
    return { sealedTime: res.headers.get("x-oss-sealed-time") };
  }

  /** @param {string} bucket @param {string} key @param {{versionId?: string}} [o] */
  async deleteObject(bucket, key, { versionId } = {}) {
    const res = await this.request({ method: "DELETE", bucket, key, query: { versionId } });
    return { deleteMarker: res.headers.get("x-oss-delete-marker") === "true", versionId: res.headers.get("x-oss-version-id") || undefined };
  }

  /**
   * DeleteMultipleObjects (batches of 1000) -> {deleted: [{key, versionId, deleteMarker, deleteMarkerVersionId}], errors: [...]}.
   * @param {string} bucket @param {(string | {key: string, versionId?: string})[]} keys
   */
  async deleteObjects(bucket, keys) {
    /** @type {{deleted: any[], errors: any[]}} */
    const out = { deleted: [], errors: [] };
    for (let i = 0; i < keys.length; i += 1000) {
      const objects = keys.slice(i, i + 1000).map((k) => (typeof k === "string" ? { Key: k } : { Key: k.key, VersionId: k.versionId }));
      const body = xmlDocument("Delete", { Quiet: false, Object: objects });
      const doc = await xmlOf(await this.request({ method: "POST", bucket, query: { delete: true, "encoding-type": "url" }, body,
        headers: { "content-type": XML, "content-md5": contentMd5(body) } }));
      const dec = text(doc, "EncodingType") === "url" ? decodeURIComponent : (/** @type {string} */ s) => s;
      for (const d of all(doc, "Deleted")) {
        out.deleted.push({ key: dec(text(d, "Key") || ""), versionId: text(d, "VersionId"),
          deleteMarker: bool(text(d, "DeleteMarker")), deleteMarkerVersionId: text(d, "DeleteMarkerVersionId") });
      }
      for (const e of all(doc, "Error")) {
        out.errors.push({ key: dec(text(e, "Key") || ""), code: text(e, "Code"), message: text(e, "Message"), versionId: text(e, "VersionId") });
      }
    }
    return out;
  }

  /**
   * CopyObject within or across buckets -> {etag, versionId, ...}.
   * @param {string} bucket @param {string} srcKey @param {string} dstKey
   * @param {{srcBucket?: string, versionId?: string, headers?: Record<string, string>}} [o] headers e.g. x-oss-metadata-directive
   */
  async copyObject(bucket, srcKey, dstKey, { srcBucket = bucket, versionId, headers = {} } = {}) {
    const source = canonicalUri(srcBucket, srcKey) + (versionId ? `?versionId=${enc(versionId)}` : "");
    const res = await this.request({ method: "PUT", bucket, key: dstKey, headers: { ...headers, "x-oss-copy-source": source } });
    return { ...writeResult(res.headers), etag: text(await xmlOf(res), "ETag") || res.headers.get("etag") || undefined };
  }

  /**
   * A rename as OSS has it for flat buckets: copy, then delete the source. CopyObject makes an
   * Appendable source a Normal object (as OSS does), and OSS copies at most 1 GB this way.
   */
  async renameObject(/** @type {string} */ bucket, /** @type {string} */ srcKey, /** @type {string} */ dstKey) {
    const r = await this.copyObject(bucket, srcKey, dstKey);
    await this.deleteObject(bucket, srcKey);
    return r;
  }

  /** {key: value}. @param {string} bucket @param {string} key @param {{versionId?: string}} [o] */
  async getObjectTagging(bucket, key, { versionId } = {}) {
    const doc = await this._getXml(bucket, { tagging: true, versionId }, key);
    return Object.fromEntries(all(child(doc, "TagSet"), "Tag").map((t) => [text(t, "Key") || "", text(t, "Value") || ""]));
  }

  /** @param {string} bucket @param {string} key @param {Record<string, string>} tags @param {{versionId?: string}} [o] */
  async putObjectTagging(bucket, key, tags, { versionId } = {}) {
    const Tag = Object.entries(tags).map(([k, v]) => ({ Key: k, Value: v }));
    await this._putXml(bucket, { tagging: true, versionId }, "Tagging", { TagSet: { Tag } }, key);
  }

  /** @param {string} bucket @param {string} key @param {{versionId?: string}} [o] */
  async deleteObjectTagging(bucket, key, { versionId } = {}) {
    await this.request({ method: "DELETE", bucket, key, query: { tagging: true, versionId } });
  }

  /** "default" | "private" | "public-read" | "public-read-write". @param {string} bucket @param {string} key @param {{versionId?: string}} [o] */
  async getObjectAcl(bucket, key, { versionId } = {}) {
    return text(await this._getXml(bucket, { acl: true, versionId }, key), "AccessControlList/Grant") || "";
  }

  /** @param {string} bucket @param {string} key @param {string} acl @param {{versionId?: string}} [o] */
  async putObjectAcl(bucket, key, acl, { versionId } = {}) {
    await this.request({ method: "PUT", bucket, key, query: { acl: true, versionId }, headers: { "x-oss-object-acl": acl } });
  }

  /**
   * @param {string} bucket
   * @param {{prefix?: string, delimiter?: string, keyMarker?: string, versionIdMarker?: string, maxKeys?: number}} [o]
   */
  async listObjectVersions(bucket, { prefix, delimiter, keyMarker, versionIdMarker, maxKeys } = {}) {
    const doc = await this._getXml(bucket, { versions: true, prefix, delimiter, "key-marker": keyMarker,
      "version-id-marker": versionIdMarker, "max-keys": maxKeys, "encoding-type": "url" });
    const dec = text(doc, "EncodingType") === "url" ? decodeURIComponent : (/** @type {string} */ s) => s;
    const base = (/** @type {XmlElement} */ v) => ({ key: dec(text(v, "Key") || ""), versionId: text(v, "VersionId"),
      isLatest: bool(text(v, "IsLatest")), lastModified: text(v, "LastModified") });
    return {
      versions: all(doc, "Version").map((v) => ({ ...base(v), etag: text(v, "ETag"), type: text(v, "Type"),
        size: Number(text(v, "Size")), storageClass: text(v, "StorageClass"), restoreInfo: text(v, "RestoreInfo") })),
      deleteMarkers: all(doc, "DeleteMarker").map(base),
      prefixes: all(doc, "CommonPrefixes").map((p) => dec(text(p, "Prefix") || "")),
      isTruncated: bool(text(doc, "IsTruncated")),
      nextKeyMarker: text(doc, "NextKeyMarker") !== undefined ? dec(text(doc, "NextKeyMarker") || "") : undefined,
      nextVersionIdMarker: text(doc, "NextVersionIdMarker"),
    };
  }

  /**
   * RestoreObject of an Archive/ColdArchive/DeepColdArchive object -> {status} (202 started, 200 already restored).
   * @param {string} bucket @param {string} key @param {{days?: number, tier?: string, versionId?: string}} [o] tier for the cold classes
   */
  async restoreObject(bucket, key, { days = 1, tier, versionId } = {}) {
    const body = xmlDocument("RestoreRequest", { Days: days, JobParameters: tier ? { Tier: tier } : undefined });
    const res = await this.request({ method: "POST", bucket, key, query: { restore: true, versionId }, body,
      headers: { "content-type": XML, "content-md5": contentMd5(body) } });
    return { status: res.status };
  }

  // -- watch -----------------------------------------------------------------------------------
  /**
   * Wait until the object grows past `position` (or is sealed, replaced, deleted) or `timeout`
   * seconds pass -> {event: "grown"|"sealed"|"replaced"|"deleted"|"timeout", length, crc64, type, sealed, etag, lastModified}.
   * Uses ossbox's long-poll watch (GET ?x-ossbox-watch&position=N); against a server without it
   * (no x-ossbox-watch header on HEAD: real OSS) polls HEAD every `pollInterval` ms.
   * @param {string} bucket @param {string} key @param {number} position
   * @param {{timeout?: number, pollInterval?: number, signal?: AbortSignal}} [o]
   */
  async watch(bucket, key, position, { timeout = 25, pollInterval = 1000, signal } = {}) {
    /** @type {ReturnType<typeof objectFacts> | null} */
    let first = null;
    if (this.watchSupported === undefined) {
      first = await this._headOrNull(bucket, key, signal);
      if (!first) return deletedEvent();
      this.watchSupported = first.watch;
    }
    if (this.watchSupported) {
      let res;
      try {
        res = await this.request({ bucket, key, signal, query: { "x-ossbox-watch": true, position, timeout: Math.max(1, Math.min(60, Math.round(timeout))) } });
      } catch (e) {
        if (e instanceof OssError && e.status === 404) return deletedEvent();
        throw e;
      }
      if (res.headers.get("x-ossbox-watch-event")) return res.json();
      await res.body?.cancel(); // an answer without the watch: a plain GetObject; poll from now on
      this.watchSupported = false;
    }
    return this._pollWatch(bucket, key, position, timeout, pollInterval, signal, first);
  }

  /** HEAD, null for a missing object. */
  async _headOrNull(/** @type {string} */ bucket, /** @type {string} */ key, /** @type {AbortSignal|undefined} */ signal) {
    try {
      return await this.headObject(bucket, key, { signal });
    } catch (e) {
      if (e instanceof OssError && e.status === 404) return null;
      throw e;
    }
  }

  /**
   * The watch by HEAD polling. Between two looks an appendable object can only have grown: a
   * different type, a shorter length or another ETag at the same length is another object.
   */
  async _pollWatch(/** @type {string} */ bucket, /** @type {string} */ key, /** @type {number} */ position, /** @type {number} */ timeout,
    /** @type {number} */ pollInterval, /** @type {AbortSignal|undefined} */ signal, /** @type {ReturnType<typeof objectFacts> | null} */ first) {
    const deadline = Date.now() + timeout * 1000;
    let f = first || (await this._headOrNull(bucket, key, signal));
    let before = f;
    for (;;) {
      if (!f || !before) return deletedEvent();
      const facts = f;
      const ev = (/** @type {string} */ event) => ({ event, length: facts.size, crc64: facts.crc64 ?? null, type: facts.type ?? null,
        sealed: facts.sealed, etag: facts.etag, lastModified: facts.lastModified });
      if (f.type !== before.type || f.size < before.size || (f.size === before.size && f.etag !== before.etag)) return ev("replaced");
      if (f.size > position) return ev("grown");
      if (f.sealed) return ev("sealed");
      if (Date.now() >= deadline) return ev("timeout");
      await sleep(Math.min(pollInterval, Math.max(0, deadline - Date.now())), signal);
      before = f;
      f = await this._headOrNull(bucket, key, signal);
    }
  }

  // -- the admin API of ossbox (root only) -----------------------------------------------------
  /**
   * One admin action: POST /?x-ossbox-admin=<action>, the action in the signed x-oss-ossbox-admin
   * header, the fields as a JSON body bound by its Content-MD5, a nonce so that two equal calls in
   * one second are two signatures (the server serves each signature once). -> the JSON answer.
   * @param {string} action @param {Record<string, any>} [fields]
   */
  async admin(action, fields = {}) {
    const body = new TextEncoder().encode(JSON.stringify(fields));
    const nonce = Array.from(globalThis.crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
    const res = await this.request({ method: "POST", query: { "x-ossbox-admin": action }, body, headers: {
      "content-type": "application/json", "content-md5": contentMd5(body), "x-oss-ossbox-admin": action, "x-oss-ossbox-nonce": nonce } });
    const t = await res.text();
    return t ? JSON.parse(t) : {};
  }

  listUsers() { return this.admin("ListUsers"); }
  /** @param {string} userName */
  createUser(userName) { return this.admin("CreateUser", { UserName: userName }); }
  /** @param {string} userName */
  getUser(userName) { return this.admin("GetUser", { UserName: userName }); }
  /** @param {string} userName */
  deleteUser(userName) { return this.admin("DeleteUser", { UserName: userName }); }
  /** The secret is in this answer only. @param {string} userName */
  createAccessKey(userName) { return this.admin("CreateAccessKey", { UserName: userName }); }
  /** @param {string} userName */
  listAccessKeys(userName) { return this.admin("ListAccessKeys", { UserName: userName }); }
  /** @param {string} accessKeyId @param {"Active"|"Inactive"} status */
  updateAccessKey(accessKeyId, status) { return this.admin("UpdateAccessKey", { AccessKeyId: accessKeyId, Status: status }); }
  /** @param {string} accessKeyId */
  deleteAccessKey(accessKeyId) { return this.admin("DeleteAccessKey", { AccessKeyId: accessKeyId }); }
  /** @param {string} userName @param {string} policyName @param {string | object} document */
  putUserPolicy(userName, policyName, document) {
    return this.admin("PutUserPolicy", { UserName: userName, PolicyName: policyName, PolicyDocument: document });
  }
  /** @param {string} userName @param {string} policyName */
  getUserPolicy(userName, policyName) { return this.admin("GetUserPolicy", { UserName: userName, PolicyName: policyName }); }
  /** @param {string} userName */
  listUserPolicies(userName) { return this.admin("ListUserPolicies", { UserName: userName }); }
  /** @param {string} userName @param {string} policyName */
  deleteUserPolicy(userName, policyName) { return this.admin("DeleteUserPolicy", { UserName: userName, PolicyName: policyName }); }
  /**
   * STS credentials for a user -> {Credentials: {AccessKeyId, AccessKeySecret, SecurityToken, Expiration}, AssumedRoleUser}.
   * @param {string} userName @param {{durationSeconds?: number, policy?: string | object}} [o]
   */
  assumeRole(userName, { durationSeconds, policy } = {}) {
    return this.admin("AssumeRole", { UserName: userName, DurationSeconds: durationSeconds, Policy: policy });
  }
  listKmsKeys() { return this.admin("ListKmsKeys"); }
  /** @param {string} [description] */
  createKmsKey(description = "") { return this.admin("CreateKmsKey", { Description: description }); }
  /** @param {string} keyId */
  describeKmsKey(keyId) { return this.admin("DescribeKmsKey", { KeyId: keyId }); }
  /** @param {string} keyId */
  disableKmsKey(keyId) { return this.admin("DisableKmsKey", { KeyId: keyId }); }
  /** @param {string} keyId */
  enableKmsKey(keyId) { return this.admin("EnableKmsKey", { KeyId: keyId }); }
}

const LIFECYCLE_LISTS = new Set(["Transition", "Tag", "NoncurrentVersionTransition"]);
const LIFECYCLE_NUMBERS = new Set(["Days", "NoncurrentDays", "ObjectSizeGreaterThan", "ObjectSizeLessThan"]);
const LIFECYCLE_FLAGS = new Set(["ExpiredObjectDeleteMarker", "IsAccessTime", "ReturnToStdWhenVisit", "AllowSmallFile"]);

/** A lifecycle element as the value toXml writes back to the same element. @param {XmlElement} el @returns {any} */
function lifecycleValue(el) {
  if (!el.children.length) {
    const t = el.text.trim();
    if (LIFECYCLE_NUMBERS.has(el.name) && /^\d+$/.test(t)) return Number(t);
    if (LIFECYCLE_FLAGS.has(el.name) && /^(true|false)$/i.test(t)) return t.toLowerCase() === "true";
    return t;
  }
  /** @type {Record<string, any>} */
  const out = {};
  for (const c of el.children) {
    const v = lifecycleValue(c);
    if (LIFECYCLE_LISTS.has(c.name)) (out[c.name] ??= []).push(v);
    else if (c.name in out) out[c.name] = [].concat(out[c.name], v);
    else out[c.name] = v;
  }
  return out;
}

/** @returns {{event: string, length: number, crc64: string, type: null, sealed: boolean}} */
const deletedEvent = () => ({ event: "deleted", length: 0, crc64: "0", type: null, sealed: false });

/** @param {Body} body */
function sizeOf(body) {
  if (body == null) return 0;
  if (typeof body === "string") return new TextEncoder().encode(body).length;
  if (body instanceof Blob) return body.size;
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return body.byteLength;
  return NaN; // a stream: unknown
}

/** @param {{contentType?: string, acl?: string, storageClass?: string, meta?: Record<string, string>}} o */
function writeHeaders({ contentType, acl, storageClass, meta = {} }) {
  /** @type {Record<string, string|undefined>} */
  const h = { "content-type": contentType || undefined, "x-oss-object-acl": acl, "x-oss-storage-class": storageClass };
  for (const [k, v] of Object.entries(meta)) h["x-oss-meta-" + k.toLowerCase()] = v;
  return h;
}

/** @param {Headers} h */
const writeResult = (h) => ({ etag: h.get("etag") || undefined, crc64: h.get("x-oss-hash-crc64ecma") || undefined,
  versionId: h.get("x-oss-version-id") || undefined });

/**
 * What HeadObject/GetObject headers say about an object.
 * @param {Headers} h
 */
export function objectFacts(h) {
  /** @type {Record<string, string>} */
  const meta = {};
  for (const [k, v] of h.entries()) if (k.startsWith("x-oss-meta-")) meta[k.slice(11)] = fromWire(v);
  const next = h.get("x-oss-next-append-position");
  return {
    size: Number(h.get("content-length") ?? 0),
    type: h.get("x-oss-object-type") || undefined,
    nextAppendPosition: next != null ? Number(next) : undefined,
    crc64: h.get("x-oss-hash-crc64ecma") || undefined,
    etag: h.get("etag") || undefined,
    lastModified: h.get("last-modified") || undefined,
    contentType: h.get("content-type") || undefined,
    storageClass: h.get("x-oss-storage-class") || undefined,
    sealed: h.has("x-oss-sealed-time"),
    sealedTime: h.get("x-oss-sealed-time") || undefined,
    versionId: h.get("x-oss-version-id") || undefined,
    restore: h.get("x-oss-restore") || undefined,
    serverSideEncryption: h.get("x-oss-server-side-encryption") || undefined,
    meta,
    watch: h.get("x-ossbox-watch") === "1",
    headers: headerObject(h),
  };
}
