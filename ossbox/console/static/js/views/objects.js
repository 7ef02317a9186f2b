// Objects of a bucket: browse by prefix with delimiter "/", breadcrumbs, pages of 100, search by
// prefix, upload (multipart above 16 MiB) with progress, download, delete one or many, new
// appendable objects.
import { app, go } from "../app.js";
import { button, clear, enc, field, formatBytes, formatDate, h, act, run, status, table } from "../ui.js";
import { download, presignDialog } from "./common.js";

const PAGE = 100;
const MULTIPART_ABOVE = 16 * 1024 * 1024;

// Parts small enough for the progress bar to move (about 32 steps), at least 1 MiB, at most 10,000.
function partSize(size) {
  const MiB = 1024 * 1024;
  return Math.max(MiB, Math.ceil(size / 32 / MiB) * MiB, Math.ceil(size / 10000 / MiB) * MiB);
}

export function objectsHash(bucket, prefix = "") {
  return `#/b/${enc(bucket)}${prefix ? `?prefix=${enc(prefix)}` : ""}`;
}

export async function render(main, [bucket, query]) {
  const params = new URLSearchParams(query || "");
  const prefix = params.get("prefix") || "";
  // the "directory" shown: the prefix up to its last "/" (a search prefix such as logs/2026-0 lists
  // within logs/); names are shown relative to it and uploads go into it
  const dir = prefix.slice(0, prefix.lastIndexOf("/") + 1);
  const tokens = [undefined];   // continuation token of each page seen: Previous goes back one
  let page = 0;

  const crumbs = h("nav", { class: "crumbs", "aria-label": "Path" },
    h("a", { href: "#/buckets" }, "Buckets"), " / ",
    h("a", { href: objectsHash(bucket) }, bucket), " / ",
    prefix.split("/").slice(0, -1).map((part, i, all) => [
      h("a", { href: objectsHash(bucket, all.slice(0, i + 1).join("/") + "/") }, part), " / "]));

  const search = h("input", { name: "prefix", type: "search", value: prefix, spellcheck: "false" });
  const searchForm = h("form", { class: "inline-form compact", role: "search" }, field("Prefix", search),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "secondary" }, "Search")));
  searchForm.addEventListener("submit", ev => { ev.preventDefault(); go(objectsHash(bucket, search.value)); });

  const listing = h("div", { id: "object-list" });
  const pager = h("div", { class: "pager" });
  const deleteSelected = button("Delete selected", () => removeSelected(), { class: "danger", disabled: true, id: "delete-selected" });

  // upload
  const files = h("input", { type: "file", name: "files", multiple: true });
  const uploadBtn = h("button", { type: "submit" }, "Upload");
  const progress = h("progress", { max: 1, value: 0, hidden: true, id: "upload-progress", "aria-label": "Upload progress" });
  const progressText = h("span", { class: "hint", "aria-live": "polite" });
  const uploadForm = h("form", { class: "card inline-form", id: "upload-form" }, h("h2", {}, "Upload"),
    field(`Files (into ${dir || "the bucket root"})`, files), h("div", { class: "actions" }, uploadBtn), progress, progressText);
  uploadForm.addEventListener("submit", async ev => {
    ev.preventDefault();
    const chosen = [...files.files];
    if (!chosen.length) { status("Choose a file first.", "error"); return; }
    uploadBtn.disabled = true;
    progress.hidden = false;
    try {
      for (const file of chosen) {
        const key = dir + file.name;
        const onProgress = (loaded, total) => {
          progress.max = total || file.size || 1; progress.value = loaded;
          progressText.textContent = `${file.name}: ${formatBytes(loaded)} of ${formatBytes(total || file.size)}`;
        };
        const ok = await run(`Uploading ${key}`, async () => {
          if (file.size > MULTIPART_ABOVE) await app.client.multipartUpload(bucket, key, file, { onProgress, partSize: partSize(file.size) });
          else await app.client.putObject(bucket, key, file, { contentType: file.type || undefined, onProgress });
          return true;
        });
        if (!ok) return;
        status(`Uploaded ${key} (${formatBytes(file.size)}).`, "ok");
      }
      files.value = "";
      load(tokens[page]);
    } finally {
      uploadBtn.disabled = false;
      progress.hidden = true;
    }
  });

  // a new appendable object, created by its first append at position 0
  const newKey = h("input", { name: "appendKey", required: true, spellcheck: "false" });
  const newText = h("textarea", { name: "appendText", rows: 2 });
  const createBtn = h("button", { type: "submit" }, "Create appendable object");
  const appendForm = h("form", { class: "card inline-form", id: "new-appendable" }, h("h2", {}, "New appendable object"),
    field("Key", newKey, dir ? `Created under ${dir}` : undefined), field("First bytes (text)", newText),
    h("div", { class: "actions" }, createBtn));
  appendForm.addEventListener("submit", async ev => {
    ev.preventDefault();
    const key = dir + newKey.value.trim();
    const ok = await run(`Creating ${key}`, async () => {
      await app.client.appendObject(bucket, key, 0, new TextEncoder().encode(newText.value), { contentType: "text/plain" });
      return true;
    }, createBtn);
    if (ok) { status(`Appendable object ${key} created.`, "ok"); go(`#/o/${enc(bucket)}/${enc(key)}`); }
  });

  main.append(
    h("div", { class: "title-row" }, h("h1", {}, prefix ? `${bucket} / ${prefix}` : bucket),
      h("a", { href: `#/settings/${enc(bucket)}`, class: "button secondary" }, "Bucket settings")),
    crumbs, searchForm, listing, h("div", { class: "toolbar" }, deleteSelected, pager),
    h("div", { class: "cards" }, uploadForm, appendForm));

  const selected = new Set();
  function updateSelection() {
    deleteSelected.disabled = selected.size === 0;
    deleteSelected.textContent = selected.size ? `Delete selected (${selected.size})` : "Delete selected";
  }

  async function removeSelected() {
    const keys = [...selected];
    if (!confirm(`Delete ${keys.length} object(s)?`)) return;
    const res = await run("Deleting objects", () => app.client.deleteObjects(bucket, keys), deleteSelected);
    if (!res) return;
    const failed = res.errors || [];
    if (failed.length) status(`Deleted ${keys.length - failed.length}; refused: ${failed.map(e => `${e.key}: ${e.code}`).join(", ")}`, "error");
    else status(`Deleted ${keys.length} object(s).`, "ok");
    load(tokens[page]);
  }

  async function load(token) {
    const res = await run("Listing objects", () => app.client.listObjects(bucket, { prefix, delimiter: "/", continuationToken: token, maxKeys: PAGE }));
    selected.clear(); updateSelection();
    if (!res) { clear(listing, h("p", { class: "hint" }, "Cannot list this bucket with these keys.")); clear(pager); return; }
    const all = h("input", { type: "checkbox", "aria-label": "Select all objects on this page" });
    const boxes = [];
    all.addEventListener("change", () => { for (const b of boxes) { b.checked = all.checked; b.dispatchEvent(new Event("change")); } });
    const rows = [
      ...res.prefixes.map(p => h("tr", { class: "folder" }, h("td", {}),
        h("td", {}, h("a", { href: objectsHash(bucket, p) }, p.slice(dir.length))), h("td", {}, "folder"), h("td", {}), h("td", {}), h("td", {}))),
      ...res.objects.filter(o => o.key !== dir || !dir).map(o => {   // not the folder marker "dir/" itself
        const box = h("input", { type: "checkbox", "aria-label": `Select ${o.key}`, value: o.key });
        boxes.push(box);
        box.addEventListener("change", () => { if (box.checked) selected.add(o.key); else selected.delete(o.key); updateSelection(); });
        return h("tr", {}, h("td", {}, box),
          h("td", {}, h("a", { href: `#/o/${enc(bucket)}/${enc(o.key)}` }, o.key.slice(dir.length))),
          h("td", {}, o.type || ""), h("td", { class: "num" }, formatBytes(o.size)), h("td", {}, formatDate(o.lastModified)),
          h("td", { class: "row-actions" },
            button("Download", ev => download(bucket, o.key, o.size, ev.currentTarget), { class: "secondary", "aria-label": `Download ${o.key}` }),
            button("Link", () => presignDialog(bucket, o.key), { class: "secondary", "aria-label": `Presigned link for ${o.key}` }),
            button("Delete", async ev => {
              if (!confirm(`Delete ${o.key}?`)) return;
              const ok = await act(`Deleting ${o.key}`, () => app.client.deleteObject(bucket, o.key), ev.currentTarget);
              if (ok) { status(`Deleted ${o.key}.`, "ok"); load(tokens[page]); }
            }, { class: "danger", "aria-label": `Delete ${o.key}` })));
      })];
    clear(listing, rows.length
      ? table([all, "Name", "Type", "Size", "Last modified", ""], rows, { class: "grid objects" })
      : h("p", { class: "empty" }, prefix ? `Nothing under ${prefix}.` : "This bucket is empty."));
    clear(pager,
      page > 0 ? button("Previous page", () => { page--; load(tokens[page]); }, { class: "secondary" }) : null,
      h("span", { class: "hint" }, `Page ${page + 1}`),
      res.isTruncated ? button("Next page", () => { page++; tokens[page] = res.nextContinuationToken; load(tokens[page]); }, { class: "secondary" }) : null);
  }
  await load();
}
