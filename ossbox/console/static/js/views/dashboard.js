// The server's figures from its Prometheus endpoint (/-/metrics, no credentials), sampled every
// 2 s: requests/s, appends/s, bytes in and out per second, mean latency, requests in flight and
// watches waiting (the live tails and `tail -f`s of every client).
import { app } from "../app.js";
import { clear, formatBytes, h } from "../ui.js";

const EVERY_MS = 2000;
const KEEP = 60;   // samples in each sparkline (two minutes)

// Prometheus text format: {name: [{labels, value}]}, comments skipped.
export function parseMetrics(text) {
  const out = {};
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    for (const [, k, v] of (m[3] || "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v.replace(/\\(.)/g, "$1");
    (out[m[1]] ||= []).push({ labels, value: Number(m[4]) });
  }
  return out;
}

const sum = (metrics, name, filter = () => true) => (metrics[name] || []).filter(s => filter(s.labels)).reduce((a, s) => a + s.value, 0);

function figures(m) {
  return {
    requests: sum(m, "ossbox_requests_total"),
    errors: sum(m, "ossbox_requests_total", l => Number(l.status) >= 500),
    appends: sum(m, "ossbox_appends_total"),
    conflicts: sum(m, "ossbox_append_position_conflicts_total"),
    bytesIn: sum(m, "ossbox_request_bytes_total"),
    bytesOut: sum(m, "ossbox_response_bytes_total"),
    latencySum: sum(m, "ossbox_request_duration_seconds_sum"),
    latencyCount: sum(m, "ossbox_request_duration_seconds_count"),
    inFlight: sum(m, "ossbox_requests_in_flight"),
    watches: sum(m, "ossbox_watches_pending"),
    diskFree: sum(m, "ossbox_disk_free_bytes"),
  };
}

function sparkline(values) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${KEEP - 1} 20`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "spark");
  svg.setAttribute("aria-hidden", "true");
  const max = Math.max(1e-9, ...values);
  const line = document.createElementNS(ns, "polyline");
  // the samples so far across the whole width (two minutes of them once the page has been open that long)
  const step = (KEEP - 1) / Math.max(1, values.length - 1);
  line.setAttribute("points", values.map((v, i) => `${(i * step).toFixed(2)},${(20 - (v / max) * 18).toFixed(2)}`).join(" "));
  line.setAttribute("vector-effect", "non-scaling-stroke");
  svg.append(line);
  return svg;
}

export async function render(main) {
  main.append(h("h1", {}, "Dashboard"));
  if (!app.config.metrics) { main.append(h("p", {}, "This server does not serve its metrics here (--metrics-port).")); return; }
  const grid = h("div", { class: "tiles", id: "tiles" });
  const note = h("p", { class: "hint" }, `From ${app.config.metrics}, every ${EVERY_MS / 1000} s; rates over the last interval. The console's own requests count too.`);
  main.append(note, grid);
  const series = { rps: [], aps: [], inps: [], outps: [], lat: [] };
  let last = null, lastAt = 0, stopped = false, idle = true;
  async function tick() {
    let text;
    try { text = await (await fetch(app.config.metrics, { cache: "no-store" })).text(); } catch (err) {
      clear(grid, h("p", { class: "error" }, `Cannot read the metrics: ${err.message}`)); return;
    }
    const now = performance.now();
    const f = figures(parseMetrics(text));
    if (last) {
      const dt = (now - lastAt) / 1000;
      const push = (k, v) => { series[k].push(Math.max(0, v)); if (series[k].length > KEEP) series[k].shift(); };
      push("rps", (f.requests - last.requests) / dt);
      push("aps", (f.appends - last.appends) / dt);
      push("inps", (f.bytesIn - last.bytesIn) / dt);
      push("outps", (f.bytesOut - last.bytesOut) / dt);
      const dc = f.latencyCount - last.latencyCount;
      push("lat", dc > 0 ? ((f.latencySum - last.latencySum) / dc) * 1000 : 0);
      idle = dc <= 0;
    }
    last = f; lastAt = now;
    const cur = k => series[k].length ? series[k][series[k].length - 1] : 0;
    const tile = (title, value, sub, key) => h("div", { class: "tile" }, h("h2", {}, title), h("p", { class: "figure" }, value),
      h("p", { class: "hint" }, sub), key ? sparkline(series[key]) : null);
    clear(grid,
      tile("Requests/s", cur("rps").toFixed(1), `${f.requests} since start, ${f.errors} answered 5xx`, "rps"),
      tile("Appends/s", cur("aps").toFixed(1), `${f.appends} appends, ${f.conflicts} refused with 409`, "aps"),
      tile("Bytes in/s", formatBytes(Math.round(cur("inps"))), `${formatBytes(f.bytesIn)} received`, "inps"),
      tile("Bytes out/s", formatBytes(Math.round(cur("outps"))), `${formatBytes(f.bytesOut)} sent`, "outps"),
      tile("Mean latency", idle ? "—" : `${cur("lat").toFixed(1)} ms`, `overall ${f.latencyCount ? ((f.latencySum / f.latencyCount) * 1000).toFixed(1) : 0} ms`, "lat"),
      tile("In flight", String(f.inFlight), `${f.watches} watches waiting · disk free ${formatBytes(f.diskFree)}`));
  }
  await tick();
  const timer = setInterval(() => { if (!stopped) tick(); }, EVERY_MS);
  return () => { stopped = true; clearInterval(timer); };
}
