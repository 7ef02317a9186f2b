// @ts-check
/**
 * A small XML reader and writer for OSS's documents (ListBucketResult, Error, BucketInfo, ...).
 * One implementation for the browser and Node.js (Node has no DOMParser), so both run the same code.
 * It reads elements, attributes, text, CDATA, the five named entities and character references;
 * it skips the declaration, comments, processing instructions and a DOCTYPE (never expands one).
 * Namespace prefixes are dropped: OSS names are unique without them.
 */

/** @typedef {{name: string, attrs: Record<string, string>, children: XmlElement[], text: string}} XmlElement */

const NAMED = /** @type {Record<string, string>} */ ({ amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" });

/** @param {string} s */
function unescapeXml(s) {
  if (s.indexOf("&") < 0) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (m, e) => {
    if (e[0] !== "#") return NAMED[e] ?? m;
    const cp = e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    return cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
  });
}

/** @param {string} name */
const local = (name) => name.slice(name.indexOf(":") + 1);

const TOKEN = /<!\[CDATA\[([\s\S]*?)\]\]>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!DOCTYPE[^>]*>|<\/\s*([^\s>]+)\s*>|<([^\s/>!?]+)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|([^<]+)|(<)/g;
const ATTR = /([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

/**
 * Parse an XML document; returns its root element. Throws on mismatched or unclosed tags.
 * @param {string} text
 * @returns {XmlElement}
 */
export function parseXml(text) {
  /** @type {XmlElement} */
  const top = { name: "", attrs: {}, children: [], text: "" };
  const stack = [top];
  TOKEN.lastIndex = 0;
  let m;
  while ((m = TOKEN.exec(text))) {
    const cur = stack[stack.length - 1];
    if (m[1] !== undefined) cur.text += m[1];
    else if (m[2] !== undefined) {
      if (stack.length < 2 || cur.name !== local(m[2])) throw new SyntaxError(`XML: unexpected </${m[2]}>`);
      stack.pop();
    } else if (m[3] !== undefined) {
      /** @type {Record<string, string>} */
      const attrs = {};
      for (const a of (m[4] || "").matchAll(ATTR)) attrs[local(a[1])] = unescapeXml(a[2] ?? a[3]);
      /** @type {XmlElement} */
      const el = { name: local(m[3]), attrs, children: [], text: "" };
      cur.children.push(el);
      if (!m[5]) stack.push(el);
    } else if (m[6] !== undefined) cur.text += unescapeXml(m[6]);
    else if (m[7] !== undefined) throw new SyntaxError("XML: stray <");
  }
  if (stack.length !== 1 || top.children.length !== 1) throw new SyntaxError("XML: not one closed root element");
  return top.children[0];
}

/** The first child named `name` (undefined if none). @param {XmlElement | undefined} el @param {string} name */
export const child = (el, name) => el?.children.find((c) => c.name === name);

/** Every child named `name`. @param {XmlElement | undefined} el @param {string} name */
export const all = (el, name) => (el ? el.children.filter((c) => c.name === name) : []);

/**
 * The text of the child at `path` ("A/B"), undefined when absent.
 * @param {XmlElement | undefined} el @param {string} path
 */
export function text(el, path) {
  for (const p of path.split("/")) el = child(el, p);
  return el?.text;
}

/** @param {string} s */
export const escapeXml = (s) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c] || c);

/**
 * Serialize a value as XML: an object -> child elements in key order; an array -> the element
 * repeated; a boolean/number/string -> text; null/undefined -> left out.
 * toXml("Tagging", {TagSet: {Tag: [{Key: "a", Value: "1"}]}})
 * @param {string} name @param {any} value @returns {string}
 */
export function toXml(name, value) {
  if (value === undefined || value === null) return "";
  if (Array.isArray(value)) return value.map((v) => toXml(name, v)).join("");
  if (typeof value === "object") {
    return `<${name}>${Object.entries(value).map(([k, v]) => toXml(k, v)).join("")}</${name}>`;
  }
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

/** A whole document with the declaration. @param {string} name @param {any} value */
export const xmlDocument = (name, value) => `<?xml version="1.0" encoding="UTF-8"?>\n${toXml(name, value)}`;
