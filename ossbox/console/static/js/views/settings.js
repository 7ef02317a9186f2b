// Bucket settings that ossbox implements: ACL, versioning, policy (JSON), default encryption,
// request payment, CORS and lifecycle rules (edited as forms of rules: ./rules.js).
import { app } from "../app.js";
import { button, errorText, field, h, act, run, select, status } from "../ui.js";
import { objectsHash } from "./objects.js";
import { corsSection, lifecycleSection } from "./rules.js";

async function read(fn) {
  try { return { value: await fn() }; } catch (err) { return { error: err }; }
}

function section(title, id, ...body) {
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), ...body);
}

function unreadable(r) {
  return r.error && r.error.code !== "NoSuchBucketPolicy" && r.error.code !== "NoSuchCORSConfiguration"
    && r.error.code !== "NoSuchLifecycle" && r.error.code !== "NoSuchServerSideEncryptionRule"
    ? h("p", { class: "hint" }, `Cannot read it: ${errorText(r.error)}`) : null;
}

export async function render(main, [bucket]) {
  const c = app.client;
  main.append(h("nav", { class: "crumbs", "aria-label": "Path" }, h("a", { href: "#/buckets" }, "Buckets"), " / ",
    h("a", { href: objectsHash(bucket) }, bucket)), h("h1", {}, `Settings of ${bucket}`));
  const [info, acl, ver, policy, encr, pay, cors, life] = await Promise.all([
    read(() => c.getBucketInfo(bucket)), read(() => c.getBucketAcl(bucket)), read(() => c.getBucketVersioning(bucket)),
    read(() => c.getBucketPolicy(bucket)), read(() => c.getBucketEncryption(bucket)), read(() => c.getBucketRequestPayment(bucket)),
    read(() => c.getBucketCorsConfiguration(bucket)), read(() => c.getBucketLifecycleRules(bucket))]);

  if (info.value) {
    const i = info.value;
    main.append(section("Bucket", "info-h", h("dl", { class: "facts" },
      [["Name", i.name], ["Region", i.region || i.location], ["Storage class", i.storageClass], ["Created", i.creationDate],
        ["Owner", i.owner && (i.owner.displayName || i.owner.id || i.owner)]]
        .filter(([, v]) => v).map(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]))));
  }

  const aclSel = select("acl", ["private", "public-read", "public-read-write"], typeof acl.value === "string" ? acl.value : acl.value?.acl);
  main.append(section("ACL", "acl-h", unreadable(acl), field("Bucket ACL", aclSel), h("div", { class: "actions" },
    button("Save ACL", async ev => { if (await act("Saving the ACL", () => c.putBucketAcl(bucket, aclSel.value), ev.currentTarget)) status("ACL saved.", "ok"); }))));

  const verValue = typeof ver.value === "string" ? ver.value : ver.value?.status;
  const verSel = select("versioning", [["Enabled", "Enabled"], ["Suspended", "Suspended"]], verValue || "Suspended");
  main.append(section("Versioning", "ver-h", unreadable(ver), h("p", {}, `Now: ${verValue || "never enabled"}`), field("Versioning status", verSel),
    h("div", { class: "actions" }, button("Save versioning", async ev => {
      if (await act("Saving versioning", () => c.putBucketVersioning(bucket, verSel.value), ev.currentTarget)) status(`Versioning ${verSel.value}.`, "ok");
    }))));

  const policyBox = h("textarea", { name: "policy", rows: 10, class: "code", spellcheck: "false" });
  policyBox.value = policy.value ? pretty(policy.value) : "";
  main.append(section("Bucket policy", "policy-h", unreadable(policy), field("Policy (JSON)", policyBox, "Empty: no policy."),
    h("div", { class: "actions" },
      button("Save policy", async ev => {
        if (!policyBox.value.trim()) return;
        if (await act("Saving the policy", () => c.putBucketPolicy(bucket, policyBox.value), ev.currentTarget)) status("Policy saved.", "ok");
      }),
      button("Delete policy", async ev => {
        if (await act("Deleting the policy", () => c.deleteBucketPolicy(bucket), ev.currentTarget)) { policyBox.value = ""; status("Policy deleted.", "ok"); }
      }, { class: "danger" }))));

  const e = encr.value || {};
  const alg = select("algorithm", [["", "none"], ["AES256", "AES256 (server-managed keys)"], ["KMS", "KMS"], ["SM4", "SM4"]], e.algorithm || "");
  const kms = h("input", { name: "kmsKeyId", value: e.kmsKeyId || "", spellcheck: "false" });
  main.append(section("Default encryption", "enc-h", unreadable(encr), field("Algorithm", alg), field("KMS key id (KMS only)", kms),
    h("div", { class: "actions" }, button("Save encryption", async ev => {
      const ok = await run("Saving encryption", async () => {
        if (alg.value) await c.putBucketEncryption(bucket, { algorithm: alg.value, kmsKeyId: kms.value.trim() || undefined });
        else await c.deleteBucketEncryption(bucket);
        return true;
      }, ev.currentTarget);
      if (ok) status("Encryption saved.", "ok");
    }))));

  const payValue = typeof pay.value === "string" ? pay.value : pay.value?.payer;
  const paySel = select("payer", ["BucketOwner", "Requester"], payValue || "BucketOwner");
  main.append(section("Request payment", "pay-h", unreadable(pay), field("Who pays for requests", paySel), h("div", { class: "actions" },
    button("Save request payment", async ev => { if (await act("Saving request payment", () => c.putBucketRequestPayment(bucket, paySel.value), ev.currentTarget)) status("Request payment saved.", "ok"); }))));

  main.append(corsSection(bucket, cors.value, unreadable(cors)), lifecycleSection(bucket, life.value, unreadable(life)));
  main.append(h("p", {}, h("a", { href: objectsHash(bucket) }, `Back to the objects of ${bucket}`)));
}

function pretty(v) {
  if (typeof v !== "string") return JSON.stringify(v, null, 2);
  try { return JSON.stringify(JSON.parse(v), null, 2); } catch { return v; }
}
