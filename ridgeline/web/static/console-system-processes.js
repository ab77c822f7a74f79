// The System page's processes: every live process's latest published performance report (GET
// /api/v1/system/performance: requests, p95 latency and 5xx rate over its window, CPU, memory,
// event-loop lag, database pool, /cable connections), the requests by route of the process that
// answered, and that process's /cable (GET /api/v1/realtime/status). What the platform alert
// rules judge, as they read it.

import { el } from "./dom.js";
import { dataTable, facts, messageOf, percent, section, when } from "./ui.js";

const MB = 1024 * 1024;

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "n/a";
  return seconds < 1 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(2)} s`;
}

function memory(bytes) {
  return bytes === null || bytes === undefined ? "n/a" : `${Math.round(bytes / MB)} MB`;
}

function cpu(value) {
  return value === null || value === undefined ? "n/a" : `${Math.round(value)} %`;
}

function pool(use) {
  return use ? `${use.checked_out} of ${use.size} in use` : "not counted";
}

function cable(realtime) {
  if (!realtime) return "not served";
  const link = realtime.backplane_connected ? "" : ", backplane down";
  return `${realtime.connections} (${realtime.backplane}${link})`;
}

// `counts` ({name: n}) as "name n, other m"; none as "none".
function tally(counts) {
  const entries = Object.entries(counts || {});
  return entries.length ? entries.map(([name, n]) => `${name} ${n}`).join(", ") : "none";
}

export function systemProcesses({ api, ctx, isAlive }) {
  const { fmt } = ctx;
  const perfNotice = el("p", { class: "notice bad", role: "alert", hidden: true });
  const perfBody = el("div", { id: "processes-list", "aria-live": "off" });
  const routesBody = el("div");
  const routes = el(
    "details",
    { id: "process-routes" },
    el("summary", { text: "Requests by route, on the process that answered" }),
    routesBody,
  );
  const cableNotice = el("p", { class: "notice bad", role: "alert", hidden: true });
  const cableBody = el("div", { id: "cable-status" });

  function processRow(row, answering) {
    const report = row.report || {};
    const overall = (report.http || {}).overall || {};
    const loop = report.event_loop || {};
    const process = report.process || {};
    return el(
      "tr",
      { "data-process-key": row.process_key, "data-role": row.role },
      el(
        "td",
        {},
        el("code", {
          text: report.hostname ? `${report.hostname}:${report.pid}` : row.process_key,
        }),
        answering ? el("div", { class: "muted small", text: "answered this page" }) : null,
      ),
      el("td", { text: row.role }),
      el("td", {}, when(fmt, row.started_at)),
      el("td", {}, when(fmt, row.updated_at)),
      el("td", { text: String(overall.count ?? 0) }),
      el("td", { text: duration(overall.p95_s) }),
      el("td", { text: overall.count ? percent(overall.error_rate) : "n/a" }),
      el("td", { text: cpu(process.cpu_percent) }),
      el("td", { text: memory(process.rss_bytes) }),
      el("td", { text: duration(loop.lag_max_s) }),
      el("td", { text: pool(report.db_pool) }),
      el("td", { text: cable(report.realtime) }),
    );
  }

  function drawPerformance(performance) {
    const own = performance.process;
    const rows = [...performance.processes];
    // The answering process may not have published yet: its own figures stand in.
    if (own && !rows.some((row) => row.process_key === own.process_key)) {
      rows.push({
        process_key: own.process_key,
        role: own.role,
        started_at: own.started_at,
        updated_at: own.generated_at,
        report: own,
      });
    }
    const windowS = (own && own.window_s) || (rows[0] && rows[0].report.window_s);
    const over = windowS ? ` over the last ${Math.round(windowS / 60)} min` : "";
    perfBody.replaceChildren(
      el("p", {
        class: "muted",
        text:
          `${rows.length} process${rows.length === 1 ? "" : "es"} reported in the last 60 s; ` +
          `requests, latency and errors${over}.`,
      }),
      dataTable(
        "Processes and their figures",
        [
          "Process",
          "Role",
          "Up since",
          "Reported",
          "Requests",
          "p95 latency",
          "5xx rate",
          "CPU",
          "Memory",
          "Event-loop lag (max)",
          "Database pool",
          "/cable connections",
        ],
        rows.map((row) => processRow(row, own && row.process_key === own.process_key)),
        "No process has published a report in the last 60 s.",
      ),
      own
        ? ""
        : el("p", {
            class: "notice warn",
            text: "The performance monitor is off on the process that answered.",
          }),
    );
    const byRoute = own ? Object.entries((own.http || {}).routes || {}) : [];
    byRoute.sort((a, b) => b[1].count - a[1].count);
    routes.hidden = !own;
    routesBody.replaceChildren(
      dataTable(
        "Requests by route",
        ["Route", "Requests", "5xx", "p50", "p95", "p99"],
        byRoute.map(([route, figures]) =>
          el(
            "tr",
            {},
            el("td", {}, el("code", { text: route })),
            el("td", { text: String(figures.count) }),
            el("td", { text: String(figures.errors) }),
            el("td", { text: duration(figures.p50_s) }),
            el("td", { text: duration(figures.p95_s) }),
            el("td", { text: duration(figures.p99_s) }),
          ),
        ),
        "No request in the window.",
      ),
    );
  }

  function drawCable(status) {
    cableBody.replaceChildren(
      facts([
        ["Process", el("code", { text: status.node })],
        ["Mode", status.mode],
        ["Backplane", status.backplane_connected ? "connected" : "not connected"],
        ["Connections", status.connections],
        ["By protocol", tally(status.connections_by_protocol)],
        ["Kiosks connected", status.kiosk_connections],
        ["Operators connected", status.operator_connections],
        ["Subscriptions by channel", tally(status.subscriptions_by_channel)],
        ["Streams followed", status.streams_followed],
        ["Ping every", `${status.ping_interval_s} s`],
        ["Streams polled every", `${status.poll_interval_s} s`],
        ["Send queue limit", `${status.send_queue_max} messages`],
        ["Allowed origins", status.allowed_origins.join(", ") || "this site only"],
      ]),
    );
  }

  async function refresh() {
    const [performance, status] = await Promise.allSettled([
      api.get("/api/v1/system/performance"),
      api.get("/api/v1/realtime/status"),
    ]);
    if (!isAlive()) return;
    perfNotice.hidden = performance.status === "fulfilled";
    if (performance.status === "fulfilled") drawPerformance(performance.value.data);
    else perfNotice.textContent = messageOf(performance.reason);
    cableNotice.hidden = status.status === "fulfilled";
    if (status.status === "fulfilled") drawCable(status.value.data);
    else cableNotice.textContent = messageOf(status.reason);
  }

  return {
    sections: [
      section("system-processes", "Processes", perfNotice, perfBody, routes),
      section(
        "system-realtime",
        "Real-time (/cable)",
        el("p", {
          class: "muted",
          text: "The process that answered: in scaled mode, each process has its own.",
        }),
        cableNotice,
        cableBody,
      ),
    ],
    refresh,
  };
}
