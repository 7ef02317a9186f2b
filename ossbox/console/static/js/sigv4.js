// @ts-check
/**
 * OSS V4 signatures (OSS4-HMAC-SHA256) with Web Crypto, for header auth and presigned URLs, as
 * ossbox/auth/signature_v4.py verifies them and the official SDKs sign them:
 *   canonical request = METHOD \n URI \n QUERY \n HEADERS \n ADDITIONAL \n UNSIGNED-PAYLOAD
 *   string to sign    = OSS4-HMAC-SHA256 \n yyyymmddTHHMMSSZ \n scope \n hex(sha256(canonical))
 *   scope             = yyyymmdd/region/oss/aliyun_v4_request
 *   signing key       = HMAC chain of "aliyun_v4"+secret over date, region, "oss", "aliyun_v4_request"
 * No additional headers are signed: x-oss-*, Content-Type and Content-MD5 always are.
 * Browsers offer Web Crypto only in a secure context (https, localhost): a console opened as
 * http://<LAN address>:9000 has none, so SHA-256 and HMAC fall back to the small implementation here.
 * Also MD5 (Web Crypto has none), which Content-MD5 needs (DeleteMultipleObjects, the admin API).
 */

const ALGO = "OSS4-HMAC-SHA256";
export const UNSIGNED = "UNSIGNED-PAYLOAD";
const utf8 = new TextEncoder();
/** @type {SubtleCrypto | undefined} */
let subtle = globalThis.crypto?.subtle;

/** Use Web Crypto (when present) or the fallback; for tests. @param {boolean} on */
export function useWebCrypto(on) {
  subtle = on ? globalThis.crypto?.subtle : undefined;
  keyCache.clear();
}

/** RFC 3986 percent-encoding of the UTF-8 bytes: only A-Z a-z 0-9 - _ . ~ stay. @param {string} s */
export const enc = (s) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());

/** The canonical URI of a path-style request: /bucket/key with "/" kept. */
export function canonicalUri(/** @type {string|undefined} */ bucket, /** @type {string|undefined} */ key) {
  return bucket ? enc(`/${bucket}/${key ?? ""}`).replace(/%2F/g, "/") : "/";
}

/** @param {ArrayBuffer | Uint8Array} buf */
const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");

/** @param {string} s */
export const sha256Hex = async (s) => hex(subtle ? await subtle.digest("SHA-256", utf8.encode(s)) : sha256(utf8.encode(s)));

/** HMAC-SHA256. @param {ArrayBuffer | Uint8Array<ArrayBuffer>} key @param {string} data @returns {Promise<ArrayBuffer | Uint8Array<ArrayBuffer>>} */
async function hmac(key, data) {
  if (!subtle) return hmacSha256(new Uint8Array(key), utf8.encode(data));
  const k = await subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return subtle.sign("HMAC", k, utf8.encode(data));
}

/** @type {Map<string, Promise<ArrayBuffer | Uint8Array<ArrayBuffer>>>} */
const keyCache = new Map();

/** The signing key of one day, region and secret (cached: one per day in practice). */
function signingKey(/** @type {string} */ secret, /** @type {string} */ date8, /** @type {string} */ region) {
  const ck = `${date8}\n${region}\n${secret}`;
  let k = keyCache.get(ck);
  if (!k) {
    if (keyCache.size > 64) keyCache.clear();
    k = (async () => {
      let key = await hmac(utf8.encode("aliyun_v4" + secret), date8);
      for (const part of [region, "oss", "aliyun_v4_request"]) key = await hmac(key, part);
      return key;
    })();
    keyCache.set(ck, k);
  }
  return k;
}

/**
 * The canonical query: pairs encoded, sorted by (name, value); `k` alone for an empty value.
 * @param {[string, string][]} pairs
 */
export function canonicalQuery(pairs) {
  return pairs
    .map(([k, v]) => [enc(k), enc(v)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => (v ? `${k}=${v}` : k))
    .join("&");
}

/** yyyymmddTHHMMSSZ @param {Date} d */
export const isoBasic = (d) => d.toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "");

/**
 * @typedef {object} SignInput
 * @property {string} method
 * @property {string} uri              canonicalUri(bucket, key)
 * @property {[string, string][]} query decoded (name, value) pairs, as sent
 * @property {Record<string, string>} headers lower-case names, as sent
 * @property {string} accessKeyId
 * @property {string} accessKeySecret
 * @property {string} region
 * @property {string} datetime         isoBasic(now)
 */

/** The hex signature of a request. @param {SignInput} r */
export async function signature(r) {
  const signed = Object.keys(r.headers)
    .filter((k) => k.startsWith("x-oss-") || k === "content-type" || k === "content-md5")
    .sort();
  const canonical = [
    r.method, r.uri, canonicalQuery(r.query),
    signed.map((k) => `${k}:${r.headers[k].trim()}\n`).join(""),
    "", r.headers["x-oss-content-sha256"] || UNSIGNED,
  ].join("\n");
  const date8 = r.datetime.slice(0, 8);
  const sts = [ALGO, r.datetime, `${date8}/${r.region}/oss/aliyun_v4_request`, await sha256Hex(canonical)].join("\n");
  return hex(await hmac(await signingKey(r.accessKeySecret, date8, r.region), sts));
}

/**
 * Header auth: sets x-oss-date, x-oss-content-sha256 (and the token) in r.headers, returns the
 * Authorization header value.
 * @param {SignInput & {securityToken?: string}} r
 */
export async function authorization(r) {
  r.headers["x-oss-date"] = r.datetime;
  r.headers["x-oss-content-sha256"] = UNSIGNED;
  if (r.securityToken) r.headers["x-oss-security-token"] = r.securityToken;
  const scope = `${r.datetime.slice(0, 8)}/${r.region}/oss/aliyun_v4_request`;
  return `${ALGO} Credential=${r.accessKeyId}/${scope},Signature=${await signature(r)}`;
}

/**
 * Query auth (presigned URL): appends the x-oss-* query parameters and the signature to r.query.
 * Headers given in r.headers (x-oss-*, content-type, content-md5) are signed and must be sent as given.
 * @param {SignInput & {securityToken?: string, expires: number}} r
 */
export async function presignQuery(r) {
  const scope = `${r.datetime.slice(0, 8)}/${r.region}/oss/aliyun_v4_request`;
  r.query.push(["x-oss-signature-version", ALGO], ["x-oss-credential", `${r.accessKeyId}/${scope}`],
    ["x-oss-date", r.datetime], ["x-oss-expires", String(r.expires)]);
  if (r.securityToken) r.query.push(["x-oss-security-token", r.securityToken]);
  r.query.push(["x-oss-signature", await signature(r)]);
  return r.query;
}

// -- SHA-256 (FIPS 180-4) and HMAC (RFC 2104), where Web Crypto is missing --------------------------
/** @type {Uint32Array | undefined} */
let K256;
/** @type {number[]} */
let H256 = [];

/** SHA-256 digest of bytes. @param {Uint8Array} data @returns {Uint8Array<ArrayBuffer>} */
export function sha256(data) {
  if (!K256) { // the constants: fractional parts of the square and cube roots of the first primes
    /** @type {number[]} */
    const primes = [];
    for (let n = 2; primes.length < 64; n++) if (primes.every((p) => n % p)) primes.push(n);
    const frac = (/** @type {number} */ x) => ((x - Math.floor(x)) * 2 ** 32) >>> 0;
    K256 = Uint32Array.from(primes, (p) => frac(Math.cbrt(p)));
    H256 = primes.slice(0, 8).map((p) => frac(Math.sqrt(p)));
  }
  const k = K256;
  const n = ((data.length + 8) >> 6) + 1;
  const buf = new Uint8Array(n * 64);
  buf.set(data);
  buf[data.length] = 0x80;
  const view = new DataView(buf.buffer);
  view.setUint32(n * 64 - 8, Math.floor(data.length / 2 ** 29));
  view.setUint32(n * 64 - 4, (data.length * 8) >>> 0);
  const h = H256.slice();
  const w = new Uint32Array(64);
  const rot = (/** @type {number} */ x, /** @type {number} */ r) => (x >>> r) | (x << (32 - r));
  for (let off = 0; off < buf.length; off += 64) {
    for (let i = 0; i < 64; i++) {
      if (i < 16) w[i] = view.getUint32(off + i * 4);
      else {
        const a = w[i - 15], b = w[i - 2];
        w[i] = w[i - 16] + (rot(a, 7) ^ rot(a, 18) ^ (a >>> 3)) + w[i - 7] + (rot(b, 17) ^ rot(b, 19) ^ (b >>> 10));
      }
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const t1 = (hh + (rot(e, 6) ^ rot(e, 11) ^ rot(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i]) | 0;
      const t2 = ((rot(a, 2) ^ rot(a, 13) ^ rot(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      hh = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    [a, b, c, d, e, f, g, hh].forEach((v, i) => { h[i] = (h[i] + v) | 0; });
  }
  const out = new Uint8Array(32);
  const ov = new DataView(out.buffer);
  h.forEach((v, i) => ov.setUint32(i * 4, v));
  return out;
}

/** @param {Uint8Array} key @param {Uint8Array} data */
function hmacSha256(key, data) {
  const k = new Uint8Array(64);
  k.set(key.length > 64 ? sha256(key) : key);
  const pad = (/** @type {number} */ x, /** @type {Uint8Array} */ tail) => {
    const b = new Uint8Array(64 + tail.length);
    b.set(k.map((v) => v ^ x));
    b.set(tail, 64);
    return b;
  };
  return sha256(pad(0x5c, sha256(pad(0x36, data))));
}

// -- MD5 (RFC 1321), for Content-MD5 ---------------------------------------------------------------
const S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
const K = Array.from({ length: 64 }, (_, i) => (Math.abs(Math.sin(i + 1)) * 2 ** 32) >>> 0);

/** MD5 digest of bytes. @param {Uint8Array} data @returns {Uint8Array} */
export function md5(data) {
  const n = ((data.length + 8) >> 6) + 1;
  const buf = new Uint8Array(n * 64);
  buf.set(data);
  buf[data.length] = 0x80;
  const view = new DataView(buf.buffer);
  view.setUint32(n * 64 - 8, (data.length * 8) >>> 0, true);
  view.setUint32(n * 64 - 4, Math.floor(data.length / 2 ** 29), true);
  const h = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
  const w = new Array(16);
  for (let off = 0; off < buf.length; off += 64) {
    for (let j = 0; j < 16; j++) w[j] = view.getUint32(off + j * 4, true);
    let [a, b, c, d] = h;
    for (let i = 0; i < 64; i++) {
      const r = i >> 4;
      let f, g;
      if (r === 0) { f = (b & c) | (~b & d); g = i; }
      else if (r === 1) { f = (d & b) | (~d & c); g = (5 * i + 1) & 15; }
      else if (r === 2) { f = b ^ c ^ d; g = (3 * i + 5) & 15; }
      else { f = c ^ (b | ~d); g = (7 * i) & 15; }
      const t = d;
      d = c;
      c = b;
      const x = (a + f + K[i] + w[g]) | 0;
      const s = S[(r << 2) | (i & 3)];
      b = (b + ((x << s) | (x >>> (32 - s)))) | 0;
      a = t;
    }
    h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
  }
  const out = new Uint8Array(16);
  const ov = new DataView(out.buffer);
  h.forEach((v, i) => ov.setUint32(i * 4, v, true));
  return out;
}

/** base64 of bytes. @param {Uint8Array} bytes */
export const base64 = (bytes) => btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));

/** Content-MD5 of a text or bytes. @param {string | Uint8Array} body */
export const contentMd5 = (body) => base64(md5(typeof body === "string" ? utf8.encode(body) : body));
