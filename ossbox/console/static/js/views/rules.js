// The bucket's rule editors of the settings view: CORS rules and lifecycle rules, as forms of
// rules to add, change and remove, saved whole (PutBucketCors / PutBucketLifecycle replace every
// rule). The server checks them; a refusal is shown as it came (code, message, EC, the argument).
// Lifecycle rules are edited as the objects oss.getBucketLifecycleRules returns: the form sets the
// fields it shows and keeps every other element of a rule (tags, filters, noncurrent-version
// actions...) as the server sent it, so saving from the console loses nothing it does not show.
import { app } from "../app.js";
import { button, clear, errorText, field, h, run, select, status } from "../ui.js";

const CORS_METHODS = ["GET", "PUT", "DELETE", "POST", "HEAD"];
const TRANSITION_CLASSES = ["IA", "Archive", "ColdArchive", "DeepColdArchive"];

const lines = ta => ta.value.split("\n").map(l => l.trim()).filter(Boolean);

function errorBox(id) {
  return h("div", { class: "error", role: "alert", id, hidden: true });
}

function showRefusal(box, err, what) {
  const arg = err.fields?.ArgumentName ? ` · argument ${err.fields.ArgumentName}${err.fields.ArgumentValue ? ` = ${err.fields.ArgumentValue}` : ""}` : "";
  box.textContent = `${what} refused — ${errorText(err)}${arg}`;
  box.hidden = false;
  status(box.textContent, "error");
}

// Save (or delete when no rule is left), then show what the server now holds.
async function save(box, what, btn, fn, reload) {
  box.hidden = true;
  try {
    btn.disabled = true;
    const msg = await fn();
    status(msg, "ok");
    await reload();
  } catch (err) {
    showRefusal(box, err, what);
  } finally { btn.disabled = false; }
}

function ruleSet(legend, ...body) {
  return h("fieldset", { class: "rule" }, h("legend", {}, legend), ...body);
}

// -- CORS ------------------------------------------------------------------------------------------
export function corsSection(bucket, initial, unreadable) {
  const c = app.client;
  const list = h("div", { id: "cors-rules" });
  const vary = h("input", { type: "checkbox", name: "responseVary", id: "cors-vary", checked: Boolean(initial?.responseVary) });
  const err = errorBox("cors-error");
  let editors = [];

  function ruleEditor(r, i) {
    const n = i + 1;
    const ta = (values) => { const t = h("textarea", { rows: 2, spellcheck: "false" }); t.value = (values || []).join("\n"); return t; };
    const origins = ta(r.allowedOrigins), headers = ta(r.allowedHeaders), expose = ta(r.exposeHeaders);
    const methods = CORS_METHODS.map(m => h("input", { type: "checkbox", value: m, checked: (r.allowedMethods || []).includes(m) }));
    const maxAge = h("input", { type: "number", min: 0, step: 1, inputmode: "numeric", value: r.maxAgeSeconds ?? "" });
    const el = ruleSet(`CORS rule ${n}`,
      h("div", { class: "row" },
        field("Allowed origins, one a line", origins, "e.g. https://app.example.com; one * wildcard at most."),
        field("Allowed headers, one a line", headers, "Request headers a browser may send (* for any)."),
        field("Expose headers, one a line", expose, "Answer headers scripts may read.")),
      h("div", { class: "row" },
        h("fieldset", { class: "checks" }, h("legend", {}, "Allowed methods"), methods.map(box => h("label", {}, box, " ", box.value))),
        field("Max age (seconds)", maxAge, "How long a browser may cache a preflight answer; empty: not said.")),
      h("div", { class: "actions" }, button(`Remove CORS rule ${n}`, () => { collect(); state.splice(i, 1); show(); addBtn.focus(); }, { class: "danger" })));
    return {
      el,
      get: () => ({ allowedOrigins: lines(origins), allowedMethods: methods.filter(m => m.checked).map(m => m.value),
        allowedHeaders: lines(headers), exposeHeaders: lines(expose), maxAgeSeconds: maxAge.value === "" ? undefined : Number(maxAge.value) }),
    };
  }

  let state = (initial?.rules || []).slice();
  const collect = () => { state = editors.map(e => e.get()); };
  function show() {
    editors = state.map(ruleEditor);
    clear(list, editors.length ? editors.map(e => e.el) : h("p", { class: "empty" }, "No CORS rules: browsers on other origins get no CORS answer."));
  }
  const addBtn = button("Add CORS rule", () => {
    collect();
    state.push({ allowedOrigins: [], allowedMethods: ["GET"], allowedHeaders: [], exposeHeaders: [] });
    show();
    editors[editors.length - 1].el.querySelector("textarea").focus();
  }, { class: "secondary" });
  const saveBtn = button("Save CORS rules", ev => save(err, "Saving the CORS rules", ev.currentTarget, async () => {
    collect();
    if (!state.length) { await c.deleteBucketCors(bucket); return "CORS rules deleted."; }
    await c.putBucketCors(bucket, state, { responseVary: vary.checked });
    return `CORS rules saved (${state.length}).`;
  }, reload));
  async function reload() {
    const got = await run("Reading the CORS rules", () => c.getBucketCorsConfiguration(bucket));
    if (got) { state = got.rules.slice(); vary.checked = got.responseVary; show(); }
  }
  show();
  return h("section", { class: "card", "aria-labelledby": "cors-h" }, h("h2", { id: "cors-h" }, "CORS rules"), unreadable,
    h("p", { class: "hint" }, "Tried in order: the first rule that allows a request's origin, method and headers answers it. Saving replaces every rule; saving none deletes them."),
    list, h("div", { class: "field check" }, vary, h("label", { for: "cors-vary" }, "Answer with Vary: Origin")),
    err, h("div", { class: "actions" }, addBtn, saveBtn));
}

// -- lifecycle -------------------------------------------------------------------------------------
const toDay = s => (typeof s === "string" ? s.slice(0, 10) : "");
const fromDay = d => `${d}T00:00:00.000Z`;
const WHEN_KEYS = ["Days", "CreatedBeforeDate", "Date", "ExpiredObjectDeleteMarker"];

// When an action applies: a choice among `kinds` ([key, text]; "" for never), with its days or its
// date, in a fieldset named `legend` (none: the fields alone, for a fieldset around them), after
// the fields `lead`. get() ->
// the action's object (the original's other elements kept) or undefined for never.
function whenEditor(legend, value, kinds, { lead = null, daysHint = "Days after the object was last modified." } = {}) {
  const current = WHEN_KEYS.find(k => value && value[k] !== undefined) || (value ? kinds[0][0] : "");
  if (current && !kinds.some(([k]) => k === current)) kinds = [...kinds, [current, current === "Date" ? "from a date on (the older form)" : current]];
  const kind = select("when", kinds, current);
  const days = h("input", { type: "number", min: 1, step: 1, inputmode: "numeric", value: value?.Days ?? "" });
  const date = h("input", { type: "date", value: toDay(value?.CreatedBeforeDate ?? value?.Date) });
  const daysField = field("Days", days, daysHint);
  const dateField = field("Date", date, "For objects created before this day (UTC).");
  const sync = () => { daysField.hidden = kind.value !== "Days"; dateField.hidden = !["CreatedBeforeDate", "Date"].includes(kind.value); };
  kind.addEventListener("change", sync);
  sync();
  const row = h("div", { class: "row" }, lead, field("When", kind), daysField, dateField);
  const el = legend ? h("fieldset", { class: "rule" }, h("legend", {}, legend), row) : row;
  return {
    el,
    get() {
      if (!kind.value) return undefined;
      const rest = Object.fromEntries(Object.entries(value || {}).filter(([k]) => !WHEN_KEYS.includes(k)));
      const v = kind.value === "Days" ? (days.value === "" ? "" : Number(days.value))
        : kind.value === "ExpiredObjectDeleteMarker" ? true : date.value ? fromDay(date.value) : "";
      return { [kind.value]: v, ...rest };
    },
  };
}

const KNOWN = new Set(["ID", "Prefix", "Status", "Expiration", "Transition", "AbortMultipartUpload"]);

export function lifecycleSection(bucket, initial, unreadable) {
  const c = app.client;
  const list = h("div", { id: "lifecycle-rules" });
  const err = errorBox("lifecycle-error");
  let editors = [];
  let state = (initial || []).slice();

  function ruleEditor(r, i) {
    const n = i + 1;
    const id = h("input", { spellcheck: "false", value: r.ID ?? "", maxlength: 255 });
    const prefix = h("input", { spellcheck: "false", value: r.Prefix ?? "" });
    const st = select("status", ["Enabled", "Disabled"], r.Status || "Enabled");
    const exp = whenEditor("Expiration", r.Expiration, [["", "never"], ["Days", "after a number of days"],
      ["CreatedBeforeDate", "if created before a date"], ["ExpiredObjectDeleteMarker", "expired delete markers (versioned buckets)"]]);
    const abort = whenEditor("Abort incomplete multipart uploads", r.AbortMultipartUpload, [["", "never"], ["Days", "after a number of days"],
      ["CreatedBeforeDate", "if started before a date"]], { daysHint: "Days after the upload was started." });
    const transBox = h("div", {});
    let trans = [];
    let tstate = (r.Transition || []).slice();
    function showTransitions() {
      trans = tstate.map((t, j) => {
        const cls = select("storageClass", TRANSITION_CLASSES.includes(t.StorageClass) || !t.StorageClass ? TRANSITION_CLASSES
          : [...TRANSITION_CLASSES, t.StorageClass], t.StorageClass || "IA");
        const when = whenEditor(null, t, [["Days", "after a number of days"], ["CreatedBeforeDate", "if created before a date"]],
          { lead: field("To storage class", cls) });
        const el = ruleSet(`Transition ${j + 1}`, when.el,
          h("div", { class: "actions" }, button(`Remove transition ${j + 1} of rule ${n}`, () => {
            tstate = trans.map(x => x.get()); tstate.splice(j, 1); showTransitions(); addTrans.focus();
          }, { class: "danger" })));
        return { el, get: () => ({ ...when.get(), StorageClass: cls.value }) };
      });
      clear(transBox, trans.map(t => t.el));
    }
    const addTrans = button(`Add a transition to rule ${n}`, () => {
      tstate = trans.map(x => x.get());
      const last = tstate[tstate.length - 1];
      tstate.push({ Days: (last?.Days || 0) + 30, StorageClass: TRANSITION_CLASSES[Math.min(tstate.length, TRANSITION_CLASSES.length - 1)] });
      showTransitions();
      trans[trans.length - 1].el.querySelector("select").focus();
    }, { class: "secondary" });
    showTransitions();
    const others = Object.keys(r).filter(k => !KNOWN.has(k));
    const el = ruleSet(`Lifecycle rule ${n}`,
      h("div", { class: "row" }, field("Rule ID", id, "Empty: the server names it."), field("Prefix", prefix, "Empty: the whole bucket."), field("Status", st)),
      exp.el, h("fieldset", { class: "rule" }, h("legend", {}, "Transitions to colder storage"), transBox, h("div", { class: "actions" }, addTrans)),
      abort.el,
      others.length ? h("p", { class: "hint" }, `This rule also has ${others.join(", ")}: kept as they are (change them with ossbox api).`) : null,
      h("div", { class: "actions" }, button(`Remove lifecycle rule ${n}`, () => { collect(); state.splice(i, 1); show(); addBtn.focus(); }, { class: "danger" })));
    return {
      el,
      get() {
        const out = { ...r, ID: id.value.trim() || undefined, Prefix: prefix.value.trim(), Status: st.value,
          Expiration: exp.get(), Transition: trans.map(t => t.get()), AbortMultipartUpload: abort.get() };
        if (!out.Transition.length) delete out.Transition;
        return out;
      },
    };
  }

  const collect = () => { state = editors.map(e => e.get()); };
  function show() {
    editors = state.map(ruleEditor);
    clear(list, editors.length ? editors.map(e => e.el) : h("p", { class: "empty" }, "No lifecycle rules: objects stay until deleted."));
  }
  const addBtn = button("Add lifecycle rule", () => {
    collect();
    state.push({ ID: "", Prefix: "", Status: "Enabled", Expiration: { Days: 30 } });
    show();
    editors[editors.length - 1].el.querySelector("input").focus();
  }, { class: "secondary" });
  const saveBtn = button("Save lifecycle rules", ev => save(err, "Saving the lifecycle rules", ev.currentTarget, async () => {
    collect();
    if (!state.length) { await c.deleteBucketLifecycle(bucket); return "Lifecycle rules deleted."; }
    await c.putBucketLifecycle(bucket, state);
    return `Lifecycle rules saved (${state.length}).`;
  }, reload));
  async function reload() {
    const got = await run("Reading the lifecycle rules", () => c.getBucketLifecycleRules(bucket));
    if (got) { state = got; show(); }
  }
  show();
  return h("section", { class: "card", "aria-labelledby": "life-h" }, h("h2", { id: "life-h" }, "Lifecycle rules"), unreadable,
    h("p", { class: "hint" }, "Each rule acts on the objects under its prefix: expire them, move them to colder storage classes, abort multipart uploads left incomplete. Saving replaces every rule; saving none deletes them."),
    list, err, h("div", { class: "actions" }, addBtn, saveBtn));
}
