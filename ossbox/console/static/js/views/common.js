// Pieces several views share: downloading an object, the presigned-link dialog.
import { app } from "../app.js";
import { button, field, h, modal, run, saveBlob, select, status } from "../ui.js";

const BLOB_LIMIT = 256 * 1024 * 1024;   // above this, the browser downloads from a presigned URL itself

export async function download(bucket, key, size, btn) {
  const name = key.split("/").pop() || "download";
  if (size !== undefined && Number(size) > BLOB_LIMIT) {
    // the browser streams it to disk; the URL asks for an attachment so nothing renders in this origin
    const url = await run(`Downloading ${key}`, () => app.client.presign({ method: "GET", bucket, key, expires: 900,
      query: { "response-content-disposition": `attachment; filename="${name.replace(/["\\\r\n]/g, "_")}"` } }), btn);
    if (url) { const a = h("a", { href: url, download: name }); document.body.append(a); a.click(); a.remove(); }
    return;
  }
  const blob = await run(`Downloading ${key}`, async () => (await app.client.getObject(bucket, key)).blob(), btn);
  if (blob) { saveBlob(blob, name); status(`Downloaded ${key}.`, "ok"); }
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
