// The status page's live refresh: an ES module, no build step, nothing from other sites.
// Without it the page is complete; with it, times read in the reader's own time zone and the
// banner, components, incidents and maintenance follow /api/v1/status (polled with
// If-None-Match, so an unchanged status costs a 304 and no body).

const STATUS_LABELS = {
  operational: "Operational",
  degraded_performance: "Degraded performance",
  partial_outage: "Partial outage",
  major_outage: "Major outage",
  under_maintenance: "Under maintenance",
};
const STATUS_ICONS = {
  operational: "\u2713",
  degraded_performance: "!",
  partial_outage: "\u25d0",
  major_outage: "\u2715",
  under_maintenance: "\u2692",
};
const INDICATOR_ICONS = { none: "\u2713", minor: "!", major: "\u25d0", critical: "\u2715" };
const DEFAULT_INTERVAL_S = 15;

const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const formatter = new Intl.DateTimeFormat(undefined, {
  day: "numeric",
  month: "short",
  year: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  timeZoneName: "short",
});

function localTimes(root) {
  for (const node of root.querySelectorAll("time[datetime]")) {
    const at = new Date(node.getAttribute("datetime"));
    if (!Number.isNaN(at.getTime())) {
      node.textContent = formatter.format(at);
      node.title = node.getAttribute("datetime");
    }
  }
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
  }
  return node;
}

function iso(value) {
  return new Date(value).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function timeEl(value) {
  const node = el("time", { datetime: iso(value) });
  node.textContent = formatter.format(new Date(value));
  return node;
}

function label(status) {
  return status.charAt(0).toUpperCase() + status.slice(1).replace(/_/g, " ");
}

function updatesList(updates) {
  return el(
    "ol",
    { class: "updates" },
    ...updates.map((update) =>
      el(
        "li",
        { class: "update" },
        el(
          "p",
          { class: "update__head" },
          el("strong", { class: "update__status" }, label(update.status)),
          " ",
          timeEl(update.display_at),
        ),
        el("p", { class: "update__body" }, update.body),
      ),
    ),
  );
}

function affected(item) {
  if (!item.components.length) return null;
  return el("p", { class: "affected" }, "Affects: " + item.components.map((c) => c.name).join(", "));
}

function incidentArticle(item, maintenance) {
  const cls = maintenance ? "maintenance" : item.impact;
  const window =
    maintenance && item.scheduled_for && item.scheduled_until
      ? el("p", { class: "window" }, "Window: ", timeEl(item.scheduled_for), " to ", timeEl(item.scheduled_until))
      : null;
  return el(
    "article",
    { class: `incident incident--${cls}`, "data-id": item.id },
    el("h3", {}, el("a", { href: `/status/incidents/${item.id}` }, item.name)),
    maintenance ? el("p", { class: "incident__state" }, label(item.status)) : null,
    window,
    affected(item),
    updatesList(item.updates),
  );
}

function renderList(sectionId, listId, items, maintenance) {
  const section = document.getElementById(sectionId);
  const list = document.getElementById(listId);
  if (!section || !list) return;
  list.replaceChildren(...items.map((item) => incidentArticle(item, maintenance)));
  section.hidden = items.length === 0;
}

function render(data, announce) {
  const changes = [];
  const banner = document.getElementById("banner");
  if (banner) {
    const { indicator, description } = data.status;
    const text = banner.querySelector('[data-role="text"]');
    if (text.textContent !== description) changes.push(description);
    banner.className = `banner banner--${indicator}`;
    banner.dataset.indicator = indicator;
    banner.querySelector('[data-role="icon"]').textContent = INDICATOR_ICONS[indicator] || "";
    text.textContent = description;
  }
  for (const component of data.components) {
    const row = document.querySelector(`.component[data-key="${CSS.escape(component.key)}"]`);
    if (!row || row.dataset.status === component.status) continue;
    row.dataset.status = component.status;
    const badge = row.querySelector('[data-role="status"]');
    badge.className = `status status--${component.status}`;
    badge.querySelector(".icon").textContent = STATUS_ICONS[component.status] || "";
    badge.querySelector('[data-role="label"]').textContent = STATUS_LABELS[component.status] || label(component.status);
    changes.push(`${component.name}: ${STATUS_LABELS[component.status] || label(component.status)}`);
  }
  renderList("incidents", "incident-list", data.incidents, false);
  renderList("maintenance", "maintenance-list", data.scheduled_maintenances, true);
  const updated = document.querySelector("#current .meta time");
  if (updated) {
    updated.setAttribute("datetime", iso(data.page.updated_at));
    updated.textContent = formatter.format(new Date(data.page.updated_at));
  }
  if (announce && changes.length) {
    document.getElementById("announce").textContent = changes.join(". ");
  }
}

function intervalMs() {
  // `?refresh=N` (2 to 300 seconds) changes how often the page polls.
  const asked = Number(new URLSearchParams(location.search).get("refresh"));
  const seconds = Number.isFinite(asked) && asked >= 2 && asked <= 300 ? asked : DEFAULT_INTERVAL_S;
  return seconds * 1000;
}

async function poll(state) {
  try {
    const headers = { Accept: "application/json" };
    if (state.etag) headers["If-None-Match"] = state.etag;
    const response = await fetch(state.url, { headers, cache: "no-store" });
    if (response.status === 200) {
      state.etag = response.headers.get("ETag");
      const body = await response.json();
      render(body.data, state.seen);
      state.seen = true;
    }
    document.documentElement.dataset.lastPoll = new Date().toISOString();
  } catch (error) {
    // Offline or the server restarting: keep what is shown and try again at the next tick.
  }
}

function start() {
  localTimes(document);
  const zoneNode = document.getElementById("time-zone");
  if (zoneNode) zoneNode.textContent = `your time zone (${zone})`;
  const current = document.getElementById("current");
  if (!current) return;
  const state = { url: current.dataset.poll, etag: null, seen: false };
  const every = intervalMs();
  const tick = async () => {
    if (!document.hidden) await poll(state);
    setTimeout(tick, every);
  };
  tick();
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) poll(state);
  });
}

start();
