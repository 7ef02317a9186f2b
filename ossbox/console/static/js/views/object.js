// One object: its facts (type, length, next append position, CRC-64, seal state...), metadata,
// tags, ACL, versions, copy/rename, restore; for an appendable object the live view: a tail of the
// bytes others append (oss.watch: the server's long-poll, or HEAD polling elsewhere), appends from
// a text box or a file at a position, the 409 path with "retry at N", and seal.
import { app, go } from "../app.js";
import { button, clear, enc, errorText, field, formatBytes, formatDate, h, hexDump, looksText, act, run, select, showError, status, table } from "../ui.js";
import { download, presignDialog } from "./common.js";
import { objectsHash } from "./objects.js";

const TAIL_FIRST = 4096;          // bytes shown when the view opens
const TAIL_FETCH_MAX = 256 * 1024; // a bigger jump shows only its last part
const TAIL_KEEP_CHARS = 200_000;  // the tail keeps this much text in the page
const ARCHIVE = new Set(["Archive", "ColdArchive", "DeepColdArchive"]);
const ACLS = ["default", "private", "public-read", "public-read-write"];

export async function render(main, [bucket, key]) {
  const dir = key.includes("/") ? key.slice(0, key.lastIndexOf("/") + 1) : "";
  main.append(
    h("nav", { class: "crumbs", "aria-label": "Path" }, h("a", { href: "#/buckets" }, "Buckets"), " / ",
      h("a", { href: objectsHash(bucket) }, bucket), " / ", dir ? [h("a", { href: objectsHash(bucket, dir) }, dir), " "] : null),
    h("h1", { class: "key" }, key));
  let facts;
  try {
    facts = await app.client.headObject(bucket, key);
  } catch (err) {
    main.append(h("p", { class: "error", role: "alert" }, errorText(err)));
    showError(err, "Reading the object");
    return;
  }
  const controller = new AbortController();
  const factsBox = h("dl", { class: "facts", id: "facts" });
  function showFacts() {
    const rows = [
      ["Type", facts.type || "Normal"], ["Length", `${facts.size} bytes (${formatBytes(facts.size)})`],
      facts.type === "Appendable" ? ["Next append position", facts.nextAppendPosition ?? facts.size] : null,
      ["CRC-64", facts.crc64 ?? "—"],
      facts.type === "Appendable" ? ["Sealed", facts.sealed ? "yes" : "no"] : null,
      ["ETag", facts.etag], ["Content-Type", facts.contentType], ["Storage class", facts.storageClass],
      ["Last modified", formatDate(facts.lastModified)], facts.versionId ? ["Version", facts.versionId] : null];
    clear(factsBox, rows.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", { dataset: { fact: k } }, v ?? "")]));
  }
  showFacts();

  const dest = h("input", { name: "destination", spellcheck: "false", value: key });
  const copyForm = h("form", { class: "inline-form compact" }, field("Copy or rename to key", dest),
    h("div", { class: "actions" },
      button("Copy", ev => copyTo(false, ev.currentTarget), { class: "secondary" }),
      button("Rename", ev => copyTo(true, ev.currentTarget), { class: "secondary" })));
  async function copyTo(rename, btn) {
    const to = dest.value.trim();
    if (!to || to === key) { status("Give another key.", "error"); return; }
    if (facts.type === "Appendable" && !confirm(`The ${rename ? "renamed" : "copied"} object will be a Normal object (CopyObject does so, as OSS does): no more appends to it. Go on?`)) return;
    const ok = await run(rename ? "Renaming" : "Copying", async () => {
      if (rename) await app.client.renameObject(bucket, key, to); else await app.client.copyObject(bucket, key, to);
      return true;
    }, btn);
    if (ok) { status(`${rename ? "Renamed" : "Copied"} to ${to}.`, "ok"); go(`#/o/${enc(bucket)}/${enc(to)}`); }
  }

  const actions = h("div", { class: "actions" },
    button("Download", ev => download(bucket, key, facts.size, ev.currentTarget), { id: "download" }),
    button("Presigned link", () => presignDialog(bucket, key), { class: "secondary" }),
    button("Delete", async ev => {
      if (!confirm(`Delete ${key}?`)) return;
      const ok = await act(`Deleting ${key}`, () => app.client.deleteObject(bucket, key), ev.currentTarget);
      if (ok) { status(`Deleted ${key}.`, "ok"); go(objectsHash(bucket, dir)); }
    }, { class: "danger", id: "delete-object" }),
    ARCHIVE.has(facts.storageClass) ? button("Restore (1 day)", async ev => {
      const ok = await act("Restore", () => app.client.restoreObject(bucket, key, { days: 1 }), ev.currentTarget);
      if (ok) status("Restore started; the object becomes readable when it completes.", "ok");
    }, { class: "secondary" }) : null);

  const factsCard = h("section", { class: "card", "aria-labelledby": "facts-h" }, h("h2", { id: "facts-h" }, "Object"), factsBox, actions, copyForm);
  if (facts.type === "Appendable") {   // the facts beside the live tail: both in view at once
    main.append(h("div", { class: "object-top" }, factsCard,
      liveSection(bucket, key, () => facts, f => { facts = { ...facts, ...f }; showFacts(); }, controller.signal)));
  } else main.append(factsCard);

  main.append(await metaSection(facts), await tagsSection(bucket, key), await aclSection(bucket, key), versionsSection(bucket, key));
  return () => controller.abort();
}

function liveSection(bucket, key, getFacts, setFacts, signal) {
  let pos = Number(getFacts().size);          // bytes shown so far end here
  let textMode = null;                         // decided from the first bytes seen
  const decoder = new TextDecoder();
  const tail = h("pre", { class: "tail", id: "tail", tabindex: 0, "aria-label": "Live tail of the object" });
  const mode = h("span", { class: "badge", id: "watch-mode" }, getFacts().watch ? "live: server push" : "live: HEAD polling");
  const state = h("span", { class: "hint", id: "tail-state", "aria-live": "polite" });

  function show(bytes, offset) {
    if (textMode === null) textMode = /^(text\/|application\/(json|xml|x-ndjson))/.test(getFacts().contentType || "") || looksText(bytes);
    tail.append(textMode ? decoder.decode(bytes, { stream: true }) : hexDump(bytes, offset));
    if (tail.textContent.length > TAIL_KEEP_CHARS) tail.textContent = tail.textContent.slice(-TAIL_KEEP_CHARS / 2);
    tail.scrollTop = tail.scrollHeight;
  }

  async function fetchRange(from, to) {
    if (to <= from) return;
    if (to - from > TAIL_FETCH_MAX) {
      tail.append(`\n… ${to - from - TAIL_FETCH_MAX} bytes not shown …\n`);
      from = to - TAIL_FETCH_MAX;
    }
    const resp = await app.client.getObject(bucket, key, { range: `bytes=${from}-${to - 1}`, signal });
    show(new Uint8Array(await resp.arrayBuffer()), from);
  }

  async function follow() {
    const start = pos;
    try {
      await fetchRange(Math.max(0, start - TAIL_FIRST), start);
    } catch (err) { if (!signal.aborted) showError(err, "Reading the tail"); }
    while (!signal.aborted) {
      let ev;
      try {
        state.textContent = `waiting for bytes after ${pos}`;
        ev = await app.client.watch(bucket, key, pos, { timeout: 25, signal });
      } catch (err) {
        if (signal.aborted) return;
        state.textContent = `watch failed: ${errorText(err)}; retrying`;
        await new Promise(r => setTimeout(r, 2000));
        continue;
      }
      if (signal.aborted) return;
      if (ev.event === "grown" || (ev.length > pos && ev.event !== "replaced")) {
        try { await fetchRange(pos, ev.length); } catch (err) { if (!signal.aborted) showError(err, "Reading appended bytes"); }
        pos = ev.length;
        update({ size: ev.length, nextAppendPosition: ev.length, crc64: ev.crc64, sealed: ev.sealed });
      }
      if (ev.event === "sealed" || ev.sealed) { update({ sealed: true }); state.textContent = "sealed: it cannot grow any more"; return; }
      if (ev.event === "deleted") { state.textContent = "the object was deleted"; return; }
      if (ev.event === "replaced") { state.textContent = "the object was replaced; reopen it to follow the new one"; return; }
    }
  }

  // the append form: at a position (the next one, unless changed), from the text box or a file
  const position = h("input", { name: "position", type: "number", min: 0, step: 1, value: String(pos), id: "append-position", inputmode: "numeric" });
  const text = h("textarea", { name: "appendText", rows: 3, id: "append-text" });
  const file = h("input", { type: "file", name: "appendFile", id: "append-file" });
  const appendBtn = h("button", { type: "submit", id: "append-button" }, "Append");
  const conflict = h("div", { class: "conflict", id: "conflict", hidden: true, role: "alert" });
  let knownNext = pos;
  function update(f) {
    setFacts(f);
    const next = Number(f.nextAppendPosition ?? f.size ?? knownNext);
    if (Number(position.value) === knownNext) position.value = String(next);  // not edited by hand: follow
    knownNext = next;
  }

  async function doAppend(at) {
    conflict.hidden = true;
    const body = file.files.length ? file.files[0] : new TextEncoder().encode(text.value);
    appendBtn.disabled = true;
    try {
      const r = await app.client.appendObject(bucket, key, at, body);
      position.value = String(r.nextPosition);
      knownNext = Number(r.nextPosition);
      setFacts({ size: r.nextPosition, nextAppendPosition: r.nextPosition, crc64: r.crc64 });
      status(`Appended ${Number(r.nextPosition) - at} bytes at ${at}; next position ${r.nextPosition}, CRC-64 ${r.crc64}.`, "ok");
      text.value = ""; file.value = "";
    } catch (err) {
      if (err.code === "PositionNotEqualToLength" && err.nextPosition !== undefined && err.nextPosition !== null) {
        const n = Number(err.nextPosition);
        status(`409 PositionNotEqualToLength: the append at ${at} was refused (nothing written); the object's length — its next position — is ${n}.`, "error");
        clear(conflict, h("p", {}, `Position ${at} is not the object's length: the next position is `, h("strong", { id: "true-next" }, String(n)), "."),
          button(`Retry at ${n}`, () => { position.value = String(n); doAppend(n); }, { id: "retry-append" }));
        conflict.hidden = false;
        conflict.querySelector("button").focus();
      } else showError(err, "Append");
    } finally { appendBtn.disabled = false; }
  }
  const form = h("form", { class: "append-form", id: "append-form" },
    field("Position", position, "The object's length; an append elsewhere is refused with 409."),
    field("Text to append", text), field("…or a file", file),
    h("div", { class: "actions" }, appendBtn,
      button("Seal", async ev => {
        if (!confirm("Seal this object? No append will be accepted after it.")) return;
        const ok = await act("Seal", () => app.client.sealAppendObject(bucket, key, Number(getFacts().size)), ev.currentTarget);
        if (ok) { setFacts({ sealed: true }); status(`${key} sealed at ${getFacts().size} bytes.`, "ok"); }
      }, { class: "secondary", id: "seal" })),
    conflict);
  form.addEventListener("submit", ev => { ev.preventDefault(); doAppend(Number(position.value)); });

  follow();
  return h("section", { class: "card live", "aria-labelledby": "live-h" },
    h("div", { class: "title-row" }, h("h2", { id: "live-h" }, "Appendable object, live"), mode),
    state, tail, form);
}

async function metaSection(facts) {
  const meta = Object.entries(facts.meta || {});
  return h("section", { class: "card", "aria-labelledby": "meta-h" }, h("h2", { id: "meta-h" }, "User metadata"),
    meta.length ? table(["Name", "Value"], meta.map(([k, v]) => h("tr", {}, h("td", {}, `x-oss-meta-${k}`), h("td", {}, v))))
      : h("p", { class: "empty" }, "None."));
}

async function tagsSection(bucket, key) {
  const box = h("textarea", { name: "tags", rows: 3, spellcheck: "false" });
  const sec = h("section", { class: "card", "aria-labelledby": "tags-h" }, h("h2", { id: "tags-h" }, "Tags"));
  try {
    const tags = await app.client.getObjectTagging(bucket, key);
    box.value = Object.entries(tags || {}).map(([k, v]) => `${k}=${v}`).join("\n");
  } catch (err) { sec.append(h("p", { class: "hint" }, `Cannot read the tags: ${errorText(err)}`)); }
  sec.append(field("Tags, one key=value a line", box), h("div", { class: "actions" }, button("Save tags", async ev => {
    const tags = Object.fromEntries(box.value.split("\n").map(l => l.trim()).filter(Boolean).map(l => {
      const i = l.indexOf("="); return i < 0 ? [l, ""] : [l.slice(0, i).trim(), l.slice(i + 1).trim()];
    }));
    const ok = await run("Saving tags", async () => {
      if (Object.keys(tags).length) await app.client.putObjectTagging(bucket, key, tags); else await app.client.deleteObjectTagging(bucket, key);
      return true;
    }, ev.currentTarget);
    if (ok) status("Tags saved.", "ok");
  }, { class: "secondary" })));
  return sec;
}

async function aclSection(bucket, key) {
  const sec = h("section", { class: "card", "aria-labelledby": "acl-h" }, h("h2", { id: "acl-h" }, "ACL"));
  let current = "default";
  try {
    const got = await app.client.getObjectAcl(bucket, key);
    current = typeof got === "string" ? got : (got && (got.acl || got.grant)) || "default";
  } catch (err) { sec.append(h("p", { class: "hint" }, `Cannot read the ACL: ${errorText(err)}`)); }
  const acl = select("acl", ACLS, current);
  sec.append(field("Object ACL", acl, "default: the bucket's ACL applies."), h("div", { class: "actions" }, button("Save ACL", async ev => {
    const ok = await act("Saving the ACL", () => app.client.putObjectAcl(bucket, key, acl.value), ev.currentTarget);
    if (ok) status(`ACL set to ${acl.value}.`, "ok");
  }, { class: "secondary" })));
  return sec;
}

// Versions of this key, newest first, VERSIONS_PAGE at a time (key-marker / version-id-marker).
// The listing is by prefix (the key), so other keys that start with it follow this key's
// versions: the key's versions end where the listing's next marker leaves the key.
const VERSIONS_PAGE = 100;

function versionsSection(bucket, key) {
  const list = h("div", { id: "versions" });
  const where = h("span", { class: "hint", id: "versions-where", "aria-live": "polite" });
  const newer = button("Newer versions", ev => turn(-1, ev.currentTarget), { class: "secondary", disabled: true });
  const older = button("Older versions", ev => turn(1, ev.currentTarget), { class: "secondary", disabled: true });
  const pager = h("div", { class: "pager", hidden: true }, newer, older, where);
  const sec = h("section", { class: "card", "aria-labelledby": "versions-h" }, h("h2", { id: "versions-h" }, "Versions"),
    list, pager, button("Show versions", () => { markers = [{}]; load(0); }, { class: "secondary" }));
  let markers = [{}];   // markers[p]: where page p starts
  let page = 0;
  async function turn(step, btn) {
    await load(page + step);
    if (btn.disabled) (step > 0 ? newer : older).focus();   // the end reached: keep the focus on the pager
  }
  async function load(p) {
    const m = markers[p];
    const res = await run("Listing versions", () => app.client.listObjectVersions(bucket,
      { prefix: key, keyMarker: m.keyMarker, versionIdMarker: m.versionIdMarker, maxKeys: VERSIONS_PAGE }));
    if (!res) return;
    page = p;
    const more = res.isTruncated && res.nextKeyMarker === key;
    if (more) markers[p + 1] = { keyMarker: res.nextKeyMarker, versionIdMarker: res.nextVersionIdMarker };
    else markers.length = p + 1;
    const items = [...(res.versions || []).map(v => ({ ...v, marker: false })), ...(res.deleteMarkers || []).map(v => ({ ...v, marker: true }))]
      .filter(v => v.key === key).sort((a, b) => Date.parse(b.lastModified) - Date.parse(a.lastModified));
    newer.disabled = p === 0;
    older.disabled = !more;
    pager.hidden = p === 0 && !more;
    where.textContent = items.length ? `Versions ${p * VERSIONS_PAGE + 1}–${p * VERSIONS_PAGE + items.length}${more ? ", more older ones" : ""}` : "";
    clear(list, items.length ? table(["Version", "Latest", "Size", "Last modified", ""], items.map(v => h("tr", {},
      h("td", { class: "mono" }, v.versionId + (v.marker ? " (delete marker)" : "")), h("td", {}, v.isLatest ? "yes" : ""),
      h("td", { class: "num" }, v.marker ? "" : formatBytes(v.size)), h("td", {}, formatDate(v.lastModified)),
      h("td", { class: "row-actions" },
        !v.marker && !v.isLatest ? button("Restore this version", async ev => {
          const ok = await act("Restoring the version", () => app.client.copyObject(bucket, key, key, { versionId: v.versionId }), ev.currentTarget);
          if (ok) { status(`Version ${v.versionId} copied over the current one.`, "ok"); markers = [{}]; load(0); }
        }, { class: "secondary" }) : null,
        button("Delete version", async ev => {
          if (!confirm(`Delete version ${v.versionId} for good?`)) return;
          const ok = await act("Deleting the version", () => app.client.deleteObject(bucket, key, { versionId: v.versionId }), ev.currentTarget);
          if (ok) { status(`Version ${v.versionId} deleted.`, "ok"); load(page); }
        }, { class: "danger" })))))
      : h("p", { class: "empty" }, "No versions (versioning is off for this bucket, or nothing is kept)."));
  }
  return sec;
}
