// Sign-in: an AccessKeyId/secret (root or RAM user), optionally an STS token. The keys stay in
// this tab's sessionStorage; they are checked with one signed ListBuckets.
import { app, go, signIn, signOut } from "../app.js";
import { errorText, field, h, status } from "../ui.js";

const BAD_KEYS = new Set(["InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidSecurityToken",
  "SecurityTokenExpired", "AccessKeyDisabled"]);

export async function render(main) {
  const id = h("input", { name: "accessKeyId", autocomplete: "username", required: true, spellcheck: "false" });
  const secret = h("input", { name: "accessKeySecret", type: "password", autocomplete: "current-password", required: true });
  const token = h("textarea", { name: "securityToken", rows: 2, spellcheck: "false" });
  const submit = h("button", { type: "submit" }, "Sign in");
  const form = h("form", { class: "card narrow", id: "signin-form" },
    h("h1", {}, "Sign in"),
    h("p", {}, "Use the root key pair the server printed on its first start (",
      h("code", {}, "ossbox server --show-credentials"), " prints it again) or a RAM user's key."),
    field("AccessKeyId", id),
    field("AccessKeySecret", secret),
    field("STS security token (optional)", token, "Only for temporary credentials from AssumeRole."),
    h("div", { class: "actions" }, submit),
    h("p", { class: "hint" }, "The keys are kept in this browser tab's session storage only (no cookie) and every request is signed in the page; Sign out forgets them."));
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    submit.disabled = true;
    status("Checking the keys…");
    signIn({ accessKeyId: id.value.trim(), accessKeySecret: secret.value.trim(), securityToken: token.value.trim() || null });
    try {
      await app.client.listBuckets({ maxKeys: 1 });
    } catch (err) {
      if (BAD_KEYS.has(err.code) || !err.code) {
        signOut();
        status(`Sign-in failed — ${errorText(err)}`, "error");
        submit.disabled = false;
        return;
      }
      // valid keys without ListBuckets (a RAM user's policy): signed in all the same
    }
    status(`Signed in as ${id.value.trim()}.`, "ok");
    go("#/buckets");
  });
  main.append(form);
  id.focus();
}
