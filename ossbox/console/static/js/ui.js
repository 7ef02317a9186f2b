// DOM helpers shared by the views. Everything from the server or the user goes in as text
// (textContent / attributes), never as HTML: object keys and metadata cannot inject markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name in el && typeof value !== "string") el[name] = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    Element.prototype.append.call(el, child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let fieldCount = 0;
// A labelled form control: <label for=id>text</label><input id=id ...>
export function field(label, control, hint) {
  const id = control.id || `f${++fieldCount}`;
  control.id = id;
  const hintEl = hint ? h("small", { id: id + "-hint", class: "hint" }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintEl);
}

export function select(name, options, value) {
  return h("select", { name }, options.map(o => {
    const [v, text] = Array.isArray(o) ? o : [o, o];
    return h("option", { value: v, selected: v === value }, text);
  }));
}

export function button(text, onclick, attrs = {}) {
  return h("button", { type: "button", onclick, ...attrs }, text);
}

// The status line (aria-live): what just happened, or what went wrong and why.
const statusEl = () => document.getElementById("status");
export function status(message, kind = "info") {
  const el = statusEl();
  el.className = `status ${kind}`;
  el.textContent = message;
}
export function clearStatus() {
  statusEl().textContent = "";
  statusEl().className = "status";
}

export function errorText(err) {
  if (!err) return "";
  if (err.code) {
    const parts = [`${err.code}${err.status ? ` (HTTP ${err.status})` : ""}: ${err.message || ""}`];
    if (err.ec) parts.push(`EC ${err.ec}`);
    if (err.requestId) parts.push(`request ${err.requestId}`);
    return parts.join(" · ");
  }
  return String(err.message || err);
}

export function showError(err, what) {
  status(`${what ? what + " failed — " : ""}${errorText(err)}`, "error");
}

// Runs an action with its button disabled; reports failure in the status line. Returns the result
// (undefined on failure).
export async function run(what, fn, btn) {
  if (btn) btn.disabled = true;
  try {
    return await fn();
  } catch (err) {
    showError(err, what);
    return undefined;
  } finally {
    if (btn) btn.disabled = false;
  }
}

// run() for an action whose result is only that it worked: true, or undefined when it failed.
export function act(what, fn, btn) {
  return run(what, async () => { await fn(); return true; }, btn);
}

export function formatBytes(n) {
  if (n === undefined || n === null || Number.isNaN(Number(n))) return "";
  n = Number(n);
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function formatDate(d) {
  if (!d) return "";
  const t = d instanceof Date ? d : new Date(d);
  return Number.isNaN(t.getTime()) ? String(d) : t.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

// A modal <dialog>; resolves when closed. body(dialog) builds its content.
export function modal(title, body) {
  return new Promise(resolve => {
    const dlg = h("dialog", { class: "modal", "aria-labelledby": "modal-title" });
    const close = button("Close", () => dlg.close(), { class: "secondary close" });
    dlg.append(h("div", { class: "modal-head" }, h("h2", { id: "modal-title" }, title), close), body(dlg));
    dlg.addEventListener("close", () => { dlg.remove(); resolve(dlg.returnValue); });
    document.body.append(dlg);
    dlg.showModal();
  });
}

export function table(headers, rows, attrs = {}) {
  return h("table", attrs,
    h("thead", {}, h("tr", {}, headers.map(t => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows));
}

// Bytes for display: UTF-8 text when they decode cleanly and hold no control characters other than
// whitespace, else a hex dump (offset, 16 bytes, ASCII).
export function looksText(bytes) {
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return !/[\u0000-\u0008\u000e-\u001f\u007f]/.test(text);
  } catch { return false; }
}

export function hexDump(bytes, offset = 0) {
  const lines = [];
  for (let i = 0; i < bytes.length; i += 16) {
    const row = bytes.subarray(i, i + 16);
    const hex = Array.from(row, b => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = Array.from(row, b => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
    lines.push(`${(offset + i).toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return lines.join("\n") + (lines.length ? "\n" : "");
}

export function enc(s) { return encodeURIComponent(s); }
