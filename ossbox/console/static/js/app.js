// The console's shell: configuration, the signed-in session, and the hash router.
import { OssClient } from "./oss.js";
import { clear, clearStatus, h, status } from "./ui.js";

const SESSION_KEY = "ossbox.console.session";   // sessionStorage only: gone when the tab closes

export const app = { config: null, client: null, session: null };

async function loadConfig() {
  const resp = await fetch("config.json", { cache: "no-store" });
  if (!resp.ok) throw new Error(`config.json: HTTP ${resp.status}`);
  return resp.json();
}

export function signIn(session) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  useSession(session);
}

export function signOut() {
  sessionStorage.removeItem(SESSION_KEY);
  app.session = app.client = null;
  stopView();
  location.hash = "#/signin";
  status("Signed out; the keys were removed from this tab.");
}

function useSession(session) {
  app.session = session;
  app.client = new OssClient({
    accessKeyId: session.accessKeyId, accessKeySecret: session.accessKeySecret,
    securityToken: session.securityToken || undefined, region: app.config.region, endpoint: location.origin,
  });
  document.getElementById("identity").textContent =
    `${session.accessKeyId}${session.securityToken ? " (STS)" : ""}`;
}

// Views: render(main, params) may return a cleanup function (live tails, dashboards stop there).
const routes = [
  [/^#\/signin$/, () => import("./views/signin.js")],
  [/^#\/buckets$/, () => import("./views/buckets.js")],
  [/^#\/b\/([^/?]+)(?:\?(.*))?$/, () => import("./views/objects.js")],
  [/^#\/o\/([^/]+)\/(.+)$/, () => import("./views/object.js")],
  [/^#\/settings\/([^/]+)$/, () => import("./views/settings.js")],
  [/^#\/admin$/, () => import("./views/admin.js")],
  [/^#\/dashboard$/, () => import("./views/dashboard.js")],
];

let cleanup = null;
function stopView() {
  if (typeof cleanup === "function") { try { cleanup(); } catch { /* the view is gone anyway */ } }
  cleanup = null;
}

async function route() {
  let hash = location.hash || "#/buckets";
  if (!app.session && hash !== "#/signin") { location.hash = "#/signin"; return; }
  if (app.session && hash === "#/signin") hash = "#/buckets";
  const found = routes.find(([re]) => re.test(hash));
  if (!found) { location.hash = "#/buckets"; return; }
  const params = hash.match(found[0]).slice(1).map(p => (p === undefined ? p : decodeURIComponent(p)));
  stopView();
  const signedIn = Boolean(app.session);
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("who").hidden = !signedIn;
  for (const a of document.querySelectorAll("[data-nav]")) {
    const current = hash.startsWith(`#/${a.dataset.nav}`) ||
      (a.dataset.nav === "buckets" && /^#\/(b|o|settings)\//.test(hash));
    if (current) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  const main = document.getElementById("main");
  const view = await found[1]();
  clear(main);
  cleanup = await view.render(main, params, hash);
  const heading = main.querySelector("h1");
  if (heading) document.title = `${heading.textContent} — ossbox console`;
}

let keepStatus = false;
// Navigation by the console itself after an action: its status message stays.
export function go(hash) {
  if (location.hash === hash) { route(); return; }
  keepStatus = true;
  location.hash = hash;
}

async function start() {
  try {
    app.config = await loadConfig();
  } catch (err) {
    clear(document.getElementById("main"), h("p", { class: "error" }, `Cannot load the console configuration: ${err.message}`));
    return;
  }
  document.getElementById("version").textContent = `ossbox ${app.config.version || ""} · region ${app.config.region}`;
  document.getElementById("nav-dashboard").hidden = !app.config.metrics;
  document.getElementById("signout").addEventListener("click", signOut);
  const saved = sessionStorage.getItem(SESSION_KEY);
  if (saved) {
    try { useSession(JSON.parse(saved)); } catch { sessionStorage.removeItem(SESSION_KEY); }
  }
  window.addEventListener("hashchange", () => {
    if (!keepStatus) clearStatus();   // a message that came with the move (go()) stays
    keepStatus = false;
    route();
  });
  route();
}

start();
