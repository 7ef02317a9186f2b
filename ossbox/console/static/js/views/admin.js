// Admin (root only; the server refuses anyone else with AccessDenied, which is shown as is):
// RAM users, their access keys (the secret shown once), their policies (a JSON editor; the
// server's validation errors are shown), STS AssumeRole, KMS keys.
import { app } from "../app.js";
import { button, clear, errorText, field, formatDate, h, modal, run, status, table } from "../ui.js";

const admin = (action, fields) => app.client.admin(action, fields);

export async function render(main) {
  main.append(h("h1", {}, "Admin"));
  const users = h("div", { id: "users" });
  const detail = h("div", { id: "user-detail" });
  const kms = h("div", { id: "kms" });
  const userName = h("input", { name: "userName", required: true, spellcheck: "false" });
  const createUser = h("form", { class: "inline-form compact" }, field("New user name", userName),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create user")));
  createUser.addEventListener("submit", async ev => {
    ev.preventDefault();
    const name = userName.value.trim();
    if (await run("Creating the user", () => admin("CreateUser", { UserName: name }), ev.submitter)) {
      status(`User ${name} created.`, "ok"); userName.value = ""; loadUsers(); showUser(name);
    }
  });
  main.append(h("section", { class: "card", "aria-labelledby": "users-h" }, h("h2", { id: "users-h" }, "RAM users"), users, createUser),
    detail, h("div", { class: "cards" }, stsSection(), h("section", { class: "card", "aria-labelledby": "kms-h" }, h("h2", { id: "kms-h" }, "KMS keys"), kms)));

  async function loadUsers() {
    let res;
    try { res = await admin("ListUsers"); } catch (err) {
      clear(users, h("p", { class: "error", role: "alert" }, `The admin API refused: ${errorText(err)}`,
        err.code === "AccessDenied" ? " — only the root account may use it." : ""));
      return false;
    }
    clear(users, res.Users.length ? table(["User", "Id", "Created", ""], res.Users.map(u => h("tr", {},
      h("td", {}, u.UserName), h("td", { class: "mono" }, u.UserId), h("td", {}, formatDate(u.CreateDate)),
      h("td", { class: "row-actions" }, button("Keys & policies", () => showUser(u.UserName), { class: "secondary", "aria-label": `Keys and policies of ${u.UserName}` }),
        button("Delete", async ev => {
          if (!confirm(`Delete user ${u.UserName} with its keys and policies?`)) return;
          if (await run("Deleting the user", () => admin("DeleteUser", { UserName: u.UserName }), ev.currentTarget)) {
            status(`User ${u.UserName} deleted.`, "ok"); clear(detail); loadUsers();
          }
        }, { class: "danger", "aria-label": `Delete user ${u.UserName}` }))))) : h("p", { class: "empty" }, "No RAM users yet."));
    return true;
  }

  async function showUser(name) {
    const keys = h("div", {});
    const policies = h("div", {});
    const polName = h("input", { name: "policyName", required: true, spellcheck: "false" });
    const polDoc = h("textarea", { name: "policyDocument", rows: 10, class: "code", spellcheck: "false" });
    polDoc.value = JSON.stringify({ Version: "1", Statement: [{ Effect: "Allow", Action: ["oss:GetObject", "oss:ListObjects"], Resource: ["acs:oss:*:*:*"] }] }, null, 2);
    const polError = h("pre", { class: "error", hidden: true, role: "alert", id: "policy-error" });
    const polForm = h("form", { class: "stack" }, field("Policy name", polName), field("Policy document (JSON)", polDoc), polError,
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Save policy")));
    polForm.addEventListener("submit", async ev => {
      ev.preventDefault();
      polError.hidden = true;
      try {
        await admin("PutUserPolicy", { UserName: name, PolicyName: polName.value.trim(), PolicyDocument: polDoc.value });
        status(`Policy ${polName.value.trim()} of ${name} saved.`, "ok");
        loadPolicies();
      } catch (err) {   // the server's own validation message, where it found the mistake
        polError.textContent = errorText(err);
        polError.hidden = false;
        status("The server refused the policy.", "error");
      }
    });
    clear(detail, h("section", { class: "card", "aria-labelledby": "detail-h" }, h("h2", { id: "detail-h" }, `User ${name}`),
      h("h3", {}, "Access keys"), keys,
      button("Create access key", async ev => {
        const k = await run("Creating the key", () => admin("CreateAccessKey", { UserName: name }), ev.currentTarget);
        if (!k) return;
        loadKeys();
        modal("New access key — shown this once", () => h("div", { class: "stack" },
          h("p", {}, "Copy the secret now: the server never shows it again."),
          h("dl", { class: "facts" }, h("dt", {}, "AccessKeyId"), h("dd", { class: "mono", id: "new-key-id" }, k.AccessKeyId),
            h("dt", {}, "AccessKeySecret"), h("dd", { class: "mono", id: "new-key-secret" }, k.AccessKeySecret))));
      }),
      h("h3", {}, "Policies"), policies, polForm));
    async function loadKeys() {
      const res = await run("Listing keys", () => admin("ListAccessKeys", { UserName: name }));
      if (!res) return;
      clear(keys, res.AccessKeys.length ? table(["AccessKeyId", "Status", "Created", ""], res.AccessKeys.map(k => h("tr", {},
        h("td", { class: "mono" }, k.AccessKeyId), h("td", {}, k.Status), h("td", {}, formatDate(k.CreateDate)),
        h("td", { class: "row-actions" },
          button(k.Status === "Active" ? "Disable" : "Enable", async ev => {
            const to = k.Status === "Active" ? "Inactive" : "Active";
            if (await run("Changing the key", () => admin("UpdateAccessKey", { AccessKeyId: k.AccessKeyId, Status: to }), ev.currentTarget)) loadKeys();
          }, { class: "secondary" }),
          button("Delete", async ev => {
            if (!confirm(`Delete key ${k.AccessKeyId}?`)) return;
            if (await run("Deleting the key", () => admin("DeleteAccessKey", { AccessKeyId: k.AccessKeyId }), ev.currentTarget)) loadKeys();
          }, { class: "danger" })))))
        : h("p", { class: "empty" }, "No keys."));
    }
    async function loadPolicies() {
      const res = await run("Listing policies", () => admin("ListUserPolicies", { UserName: name }));
      if (!res) return;
      clear(policies, res.Policies.length ? table(["Policy", ""], res.Policies.map(p => h("tr", {}, h("td", {}, p.PolicyName),
        h("td", { class: "row-actions" },
          button("Edit", () => { polName.value = p.PolicyName; polDoc.value = prettyJson(p.PolicyDocument); polDoc.focus(); }, { class: "secondary" }),
          button("Delete", async ev => {
            if (await run("Deleting the policy", () => admin("DeleteUserPolicy", { UserName: name, PolicyName: p.PolicyName }), ev.currentTarget)) loadPolicies();
          }, { class: "danger" })))))
        : h("p", { class: "empty" }, "No policies: this user may do nothing yet."));
    }
    await Promise.all([loadKeys(), loadPolicies()]);
  }

  async function loadKms(focusKey) {
    const res = await run("Listing KMS keys", () => admin("ListKmsKeys"));
    if (!res) return;
    const desc = h("input", { name: "kmsDescription", spellcheck: "false" });
    const form = h("form", { class: "inline-form compact" }, field("Description of a new key", desc),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Create KMS key")));
    form.addEventListener("submit", async ev => {
      ev.preventDefault();
      const made = await run("Creating the KMS key", () => admin("CreateKmsKey", { Description: desc.value }), ev.submitter);
      if (made) { await loadKms(made.KeyId); status(`KMS key ${made.KeyId} created.`, "ok"); }
    });
    clear(kms, res.Keys.length ? table(["KeyId", "State", "Description", "Created", ""], res.Keys.map(k => h("tr", {},
      h("td", { class: "mono" }, k.KeyId + (k.Default ? " (default)" : "")), h("td", {}, k.KeyState), h("td", {}, k.Description),
      h("td", {}, formatDate(k.CreationDate)),
      h("td", { class: "row-actions" }, button(k.KeyState === "Enabled" ? "Disable" : "Enable", async ev => {
        const action = k.KeyState === "Enabled" ? "Disable" : "Enable";
        if (await run("Changing the KMS key", () => admin(`${action}KmsKey`, { KeyId: k.KeyId }), ev.currentTarget)) {
          status(`KMS key ${k.KeyId} ${action.toLowerCase()}d.`, "ok");
          loadKms(k.KeyId);
        }
      }, { class: "secondary", "aria-label": `${k.KeyState === "Enabled" ? "Disable" : "Enable"} KMS key ${k.KeyId}`, dataset: { key: k.KeyId } })))))
      : h("p", { class: "empty" }, "No KMS keys yet."), form);
    // the table was redrawn: the keyboard stays on the key just changed
    if (focusKey) [...kms.querySelectorAll("button[data-key]")].find(b => b.dataset.key === focusKey)?.focus();
  }

  if (await loadUsers()) await loadKms();
}

function stsSection() {
  const user = h("input", { name: "stsUser", required: true, spellcheck: "false" });
  const duration = h("input", { name: "duration", type: "number", min: 900, max: 43200, value: "3600" });
  const policy = h("textarea", { name: "sessionPolicy", rows: 4, class: "code", spellcheck: "false" });
  const out = h("div", {});
  const form = h("form", { class: "stack" }, field("User", user), field("Duration (seconds)", duration),
    field("Session policy (JSON, optional)", policy, "Narrows the user's rights for these credentials."),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Get temporary credentials")), out);
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    const res = await run("AssumeRole", () => admin("AssumeRole", { UserName: user.value.trim(), DurationSeconds: Number(duration.value), Policy: policy.value.trim() || undefined }), ev.submitter);
    if (!res) return;
    const cr = res.Credentials;
    clear(out, h("dl", { class: "facts" }, [["AccessKeyId", cr.AccessKeyId], ["AccessKeySecret", cr.AccessKeySecret],
      ["SecurityToken", cr.SecurityToken], ["Expiration", cr.Expiration]].map(([k, v]) => [h("dt", {}, k), h("dd", { class: "mono wrap", id: `sts-${k}` }, v)])),
      h("p", { class: "hint" }, "Sign in with these three to act as the user with these rights (the secret is not shown again)."));
    status(`Temporary credentials for ${user.value.trim()} until ${cr.Expiration}.`, "ok");
  });
  return h("section", { class: "card", "aria-labelledby": "sts-h" }, h("h2", { id: "sts-h" }, "STS: temporary credentials (AssumeRole)"), form);
}

function prettyJson(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
}
