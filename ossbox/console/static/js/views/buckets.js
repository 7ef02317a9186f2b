// Buckets: list (paginated by marker), create (ACL, storage class, versioning), delete.
import { app, go } from "../app.js";
import { button, clear, enc, field, formatDate, h, act, run, select, status, table } from "../ui.js";

const ACLS = ["private", "public-read", "public-read-write"];
const CLASSES = ["Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive"];

export async function render(main) {
  const list = h("div", { id: "bucket-list" });
  const name = h("input", { name: "bucket", required: true, pattern: "[a-z0-9][a-z0-9\\-]{1,61}[a-z0-9]", spellcheck: "false" });
  const acl = select("acl", ACLS, "private");
  const cls = select("storageClass", CLASSES, "Standard");
  const versioning = h("input", { type: "checkbox", name: "versioning" });
  const create = h("button", { type: "submit" }, "Create bucket");
  const form = h("form", { class: "card inline-form", id: "create-bucket" },
    h("h2", {}, "New bucket"),
    field("Bucket name", name, "3–63 characters: lower-case letters, digits, hyphens."),
    field("ACL", acl), field("Storage class", cls),
    h("div", { class: "field check" }, versioning, h("label", { for: versioning.id = "new-versioning" }, "Enable versioning")),
    h("div", { class: "actions" }, create));
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    const bucket = name.value.trim();
    const done = await run(`Creating bucket ${bucket}`, async () => {
      await app.client.createBucket(bucket, { acl: acl.value, storageClass: cls.value, versioning: versioning.checked ? "Enabled" : undefined });
      return true;
    }, create);
    if (done) { status(`Bucket ${bucket} created.`, "ok"); name.value = ""; load(); }
  });

  const open = h("input", { name: "openBucket", spellcheck: "false" });
  const openForm = h("form", { class: "inline-form compact" }, field("Open a bucket by name", open),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "secondary" }, "Open")));
  openForm.addEventListener("submit", ev => { ev.preventDefault(); if (open.value.trim()) go(`#/b/${enc(open.value.trim())}`); });

  main.append(h("h1", {}, "Buckets"), list, openForm, form);

  let marker;
  async function load(next) {
    const page = await run("Listing buckets", () => app.client.listBuckets({ marker: next, maxKeys: 100 }));
    if (!page) { clear(list, h("p", { class: "hint" }, "These keys may not list buckets; open one by name below.")); return; }
    marker = page.isTruncated ? page.nextMarker : undefined;
    const rows = page.buckets.map(b => h("tr", {},
      h("td", {}, h("a", { href: `#/b/${enc(b.name)}` }, b.name)),
      h("td", {}, b.region || ""), h("td", {}, b.storageClass || ""), h("td", {}, formatDate(b.creationDate)),
      h("td", { class: "row-actions" },
        h("a", { href: `#/settings/${enc(b.name)}`, class: "button secondary" }, "Settings"),
        button("Delete", async ev => {
          if (!confirm(`Delete bucket ${b.name}? It must be empty.`)) return;
          const ok = await act(`Deleting bucket ${b.name}`, () => app.client.deleteBucket(b.name), ev.currentTarget);
          if (ok) { status(`Bucket ${b.name} deleted.`, "ok"); load(); }
        }, { class: "danger", "aria-label": `Delete bucket ${b.name}` }))));
    clear(list,
      rows.length ? table(["Name", "Region", "Storage class", "Created", ""], rows, { class: "grid buckets" })
        : h("p", { class: "empty" }, "No buckets yet."),
      marker ? button("More buckets", () => load(marker), { class: "secondary" }) : null);
  }
  await load();
}
