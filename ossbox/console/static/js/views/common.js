// Pieces several views share: downloading an object, the presigned-link dialog.
import { app } from "../app.js";
import { button, field, formatBytes, h, modal, run, select, status } from "../ui.js";

// A download is the browser's own, from a presigned GET URL whose answer says
// `Content-Disposition: attachment`: the object goes to disk (streamed, any size) and is never
// rendered at this origin, where an HTML object's script would run beside the keys in
// sessionStorage. A HEAD first, signed as every console request, shows a refusal (AccessDenied,
// NoSuchKey...) in the status line instead of as a failed download.
export async function download(bucket, key, size, btn) {
  const name = key.split("/").pop() || "download";
  const url = await run(`Downloading ${key}`, async () => {
    await app.client.headObject(bucket, key);
    return app.client.presign({ method: "GET", bucket, key, expires: 900, query: { "response-content-disposition": attachment(name) } });
  }, btn);
  if (!url) return;
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  status(`Downloading ${key}${size !== undefined ? ` (${formatBytes(size)})` : ""}: see the browser's downloads.`, "ok");
}

// `attachment` with the name twice: plain ASCII for old clients, UTF-8 (RFC 6266 filename*) for the rest.
function attachment(name) {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  const utf8 = encodeURIComponent(name).replace(/['()*!]/g, c => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  return `attachment; filename="${ascii}"; filename*=UTF-8''${utf8}`;
}

export function presignDialog(bucket, key) {
  return modal(`Presigned link: ${key}`, () => {
    const method = select("method", [["GET", "GET (download)"], ["PUT", "PUT (upload)"]], "GET");
    const expires = select("expires", [["300", "5 minutes"], ["3600", "1 hour"], ["86400", "1 day"], ["604800", "7 days"]], "3600");
    const out = h("textarea", { readonly: true, rows: 4, id: "presigned-url", spellcheck: "false" });
    const copy = button("Copy", async () => {
      out.select();
      try { await navigator.clipboard.writeText(out.value); status("Link copied.", "ok"); }
      catch { document.execCommand("copy"); status("Link copied.", "ok"); }
    }, { class: "secondary", disabled: true });
    const make = button("Create link", async ev => {
      const url = await run("Presigning", () => app.client.presign({ method: method.value, bucket, key, expires: Number(expires.value) }), ev.currentTarget);
      if (url) { out.value = url; copy.disabled = false; status(`${method.value} link valid for ${expires.selectedOptions[0].textContent}.`, "ok"); }
    });
    return h("div", { class: "stack" }, field("Method", method), field("Expires in", expires),
      h("div", { class: "actions" }, make, copy), field("URL", out,
        "Anyone with this link can use it until it expires; it is signed with your keys."));
  });
}
