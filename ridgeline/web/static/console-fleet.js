// The console's fleet: every store the operator sees with its state, breaker, last sync,
// kiosks, queued orders and firing alerts (GET /api/v1/fleet, 200 stores a request, never a
// request per store). Live: OpsChannel's store.status, kiosk.presence and alert.changed patch
// what they say at once and re-read the loaded pages (debounced); every 30 s as a fallback.
// Organization admins and up add a store here (platform admins choose its organization), then
// land on its page to connect its POS.

import { storeFields } from "./console-store-fields.js";
import { el } from "./dom.js";
import { field, formCard, formValues, submitting } from "./forms.js";
import { badge, everyPage, section, when } from "./ui.js";

const STATES = ["connected", "degraded", "error", "offline", "paused", "unconfigured", "unjudged"];
const PAGE_SIZE = 200;
const DEBOUNCE_MS = 1000;
const FALLBACK_MS = 30000;

function label(state) {
  return state ? state.replace("_", " ") : "not judged";
}

// A state as a badge; a store (or breaker) not judged yet has none.
function storeBadge(state, text) {
  return badge(state || "unjudged", text || label(state));
}

function cells(store, fmt) {
  const name = el(
    "td",
    {},
    el("a", { href: `#/stores/${store.store_id}`, text: store.name }),
    store.pos_provider ? el("div", { class: "muted small", text: store.pos_provider }) : null,
  );
  const state = el(
    "td",
    {},
    storeBadge(store.state),
    store.cause && store.cause !== "ok"
      ? el("div", { class: "small", text: store.cause.replaceAll("_", " ") })
      : null,
    store.since ? el("div", { class: "muted small" }, "since ", when(fmt, store.since)) : null,
  );
  const breaker = el(
    "td",
    {},
    storeBadge(store.breaker.state),
    store.breaker.open_until
      ? el("div", { class: "muted small" }, "until ", when(fmt, store.breaker.open_until))
      : null,
  );
  const sync = store.last_sync;
  const lastSync = el(
    "td",
    {},
    sync
      ? storeBadge(sync.status, `${sync.kind} ${sync.status}`)
      : el("span", { class: "muted", text: "none" }),
    sync
      ? el("div", { class: "muted small" }, when(fmt, sync.finished_at || sync.started_at))
      : null,
    sync && sync.error ? el("div", { class: "small fleet-error", text: sync.error }) : null,
  );
  const kiosks = el(
    "td",
    {},
    `${store.kiosks.online} / ${store.kiosks.total}`,
    store.kiosks.last_heartbeat_at
      ? el("div", { class: "muted small" }, "seen ", when(fmt, store.kiosks.last_heartbeat_at))
      : null,
  );
  const queued = el(
    "td",
    {},
    String(store.queued_orders.count),
    store.queued_orders.oldest_placed_at
      ? el(
          "div",
          { class: "muted small" },
          "oldest ",
          when(fmt, store.queued_orders.oldest_placed_at),
        )
      : null,
  );
  const alerts = el(
    "td",
    {},
    store.firing_alerts.count
      ? storeBadge(
          store.firing_alerts.worst_severity,
          `${store.firing_alerts.count} ${store.firing_alerts.worst_severity || ""}`.trim(),
        )
      : el("span", { class: "muted", text: "0" }),
  );
  return [name, state, breaker, lastSync, kiosks, queued, alerts];
}

export async function render(root, ctx) {
  const { api, cable, fmt } = ctx;
  const filters = new Set();
  let q = "";
  let stores = []; // the rows loaded, in the API's order
  let nextCursor = null;
  let counts = {};
  let generation = 0; // a newer load makes an older answer stale
  let shown = PAGE_SIZE; // rows the operator asked for ("Load more" adds a page)
  let debounce = null;
  const subscriptions = new Map(); // organization id -> unsubscribe
  const rowsById = new Map();

  const heading = el("h1", { text: "Fleet" });
  const summary = el("p", { class: "muted", "aria-live": "off" });
  const toggles = el("div", {
    class: "toolbar fleet-counts",
    role: "group",
    "aria-label": "Filter by state",
  });
  const search = el("input", {
    id: "fleet-q",
    type: "search",
    name: "q",
    autocomplete: "off",
    maxLength: 200,
  });
  const searchForm = el(
    "form",
    { class: "toolbar", role: "search" },
    el("div", { class: "row" }, el("label", { for: "fleet-q", text: "Store name" }), search),
    el("button", { type: "submit", class: "secondary", text: "Search" }),
  );
  const notice = el("p", { class: "notice bad", role: "alert", hidden: true });
  const tbody = el("tbody");
  const table = el(
    "table",
    { class: "fleet" },
    el("caption", { class: "visually-hidden", text: "Stores and their state" }),
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        ...[
          "Store",
          "State",
          "Breaker",
          "Last sync",
          "Kiosks online",
          "Queued orders",
          "Firing alerts",
        ].map((text) => el("th", { scope: "col", text })),
      ),
    ),
    tbody,
  );
  const empty = el("p", { class: "muted", text: "No store matches.", hidden: true });
  const more = el("button", {
    type: "button",
    class: "secondary",
    text: "Load more",
    hidden: true,
  });
  root.append(
    heading,
    summary,
    toggles,
    searchForm,
    notice,
    // The shell's view is a polite live region; the table's updates are announced one by
    // one through ctx.announce instead of all at once.
    el("div", { class: "table-wrap", "aria-live": "off" }, table),
    empty,
    more,
  );

  function query(cursor, limit) {
    const params = new URLSearchParams();
    for (const state of filters) params.append("state", state);
    if (q) params.set("q", q);
    params.set("limit", String(limit));
    if (cursor) params.set("cursor", cursor);
    return `/api/v1/fleet?${params}`;
  }

  function renderCounts() {
    const total = STATES.reduce((sum, state) => sum + (counts[state] || 0), 0);
    summary.textContent = `${total} store${total === 1 ? "" : "s"}`;
    toggles.replaceChildren(
      ...STATES.filter((state) => counts[state] || filters.has(state)).map((state) => {
        const button = el(
          "button",
          {
            type: "button",
            class: "secondary fleet-toggle",
            "data-state": state,
            "aria-pressed": filters.has(state) ? "true" : "false",
          },
          storeBadge(state),
          el("span", { class: "fleet-count", text: String(counts[state] || 0) }),
        );
        button.addEventListener("click", () => {
          if (filters.has(state)) filters.delete(state);
          else filters.add(state);
          reload();
        });
        return button;
      }),
    );
  }

  function renderRows() {
    const ids = stores.map((store) => store.store_id);
    const current = [...tbody.children].map((tr) => tr.dataset.storeId);
    const sameOrder = ids.length === current.length && ids.every((id, i) => id === current[i]);
    if (!sameOrder) {
      rowsById.clear();
      tbody.replaceChildren();
    }
    for (const store of stores) {
      const signature = JSON.stringify(store);
      let tr = rowsById.get(store.store_id);
      if (!tr) {
        tr = el("tr", { "data-store-id": store.store_id });
        rowsById.set(store.store_id, tr);
        tbody.append(tr);
      }
      if (tr.dataset.sig !== signature) {
        tr.dataset.sig = signature;
        tr.dataset.state = store.state || "unjudged";
        tr.replaceChildren(...cells(store, fmt));
      }
    }
    empty.hidden = stores.length > 0;
    more.hidden = !nextCursor;
  }

  function announceChanges(before) {
    for (const store of stores) {
      const was = before.get(store.store_id);
      if (was !== undefined && was !== store.state) {
        ctx.announce(`Store ${store.name} is now ${label(store.state)}`);
      }
    }
  }

  function follow() {
    // The organizations whose ops stream tells of these stores: the operator's own, or (a
    // platform admin) each one in the rows. A manager kept to some stores has no ops stream.
    if (ctx.me.store_ids && ctx.me.store_ids.length) return;
    const organizations = new Set(
      ctx.me.organization_id ? [ctx.me.organization_id] : stores.map((s) => s.organization_id),
    );
    for (const organization of organizations) {
      if (subscriptions.has(organization)) continue;
      subscriptions.set(
        organization,
        cable.subscribe("OpsChannel", { organization_id: organization }, onMessage),
      );
    }
  }

  // Every loaded page again (a request per 200 rows), keeping the operator's place.
  async function refresh() {
    const mine = ++generation;
    const wanted = shown;
    let loaded = [];
    let cursor = null;
    let meta = null;
    do {
      const body = await api.get(query(cursor, PAGE_SIZE));
      if (mine !== generation) return;
      loaded = loaded.concat(body.data);
      meta = body.meta;
      cursor = body.meta.next_cursor;
    } while (cursor && loaded.length < wanted);
    const before = new Map(stores.map((s) => [s.store_id, s.state]));
    stores = loaded;
    nextCursor = cursor;
    counts = meta.counts || {};
    notice.hidden = true;
    renderCounts();
    renderRows();
    announceChanges(before);
    follow();
  }

  async function reload() {
    stores = [];
    shown = PAGE_SIZE;
    nextCursor = null;
    try {
      await refresh();
    } catch (error) {
      showFailure(error);
    }
  }

  function showFailure(error) {
    notice.textContent = `The fleet could not be loaded: ${error.message || error}`;
    notice.hidden = false;
  }

  // At most one re-read a second however many messages come (a throttle, not a debounce: a
  // steady stream of messages must not put the re-read off for ever).
  function schedule() {
    if (debounce) return;
    debounce = setTimeout(() => {
      debounce = null;
      refresh().catch(showFailure);
    }, DEBOUNCE_MS);
  }

  function onMessage(message) {
    if (!message || !message.type) return;
    if (message.type === "store.status" && message.data) {
      // Say at once what the message says; the re-read fills in the rest.
      const store = stores.find((s) => s.store_id === message.data.store_id);
      if (store && store.state !== message.data.state) {
        store.state = message.data.state;
        store.cause = message.data.cause;
        store.since = message.data.since;
        if (message.data.circuit_breaker) store.breaker.state = message.data.circuit_breaker.state;
        renderRows();
        ctx.announce(`Store ${store.name} is now ${label(store.state)}`);
      }
    }
    if (["store.status", "kiosk.presence", "alert.changed"].includes(message.type)) schedule();
  }

  searchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    q = search.value.trim();
    reload();
  });
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      shown = stores.length + PAGE_SIZE; // a re-read meanwhile reads this many
      const mine = ++generation; // and an older re-read's answer is stale
      const body = await api.get(query(nextCursor, PAGE_SIZE));
      if (mine !== generation) return;
      stores = stores.concat(body.data);
      nextCursor = body.meta.next_cursor;
      counts = body.meta.counts || counts;
      renderCounts();
      renderRows();
      follow();
    } catch (error) {
      showFailure(error);
    } finally {
      more.disabled = false;
    }
  });

  if (ctx.can("org_admin")) root.append(await addStoreSection(ctx));
  await refresh();
  const fallback = setInterval(() => refresh().catch(showFailure), FALLBACK_MS);
  return () => {
    generation += 1;
    clearTimeout(debounce);
    clearInterval(fallback);
    for (const unsubscribe of subscriptions.values()) unsubscribe();
    subscriptions.clear();
  };
}

// POST /api/v1/stores: its name, time zone and currency, and (platform admins, who belong to
// no organization) the organization it belongs to. On success, the new store's page.
async function addStoreSection(ctx) {
  const { api } = ctx;
  const form = formCard("store-new", "New store");
  if (!ctx.me.organization_id) {
    const organizations = await everyPage(api, "/api/v1/organizations");
    form.append(
      field(
        "store-new-organization",
        "Organization",
        el(
          "select",
          { name: "organization_id" },
          el("option", { value: "", text: "Choose one" }),
          organizations.map((o) => el("option", { value: o.id, text: o.name })),
        ),
      ),
    );
  }
  form.append(
    ...storeFields("store-new"),
    el("button", { type: "submit", "data-action": "create-store", text: "Add store" }),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitting(form, async () => {
      const created = (await api.post("/api/v1/stores", formValues(form))).data;
      ctx.announce(`${created.name} added: connect its POS.`);
      ctx.navigate(`#/stores/${created.id}`);
    });
  });
  return section(
    "store-add",
    "Add a store",
    el("p", {
      class: "muted",
      text: "Then connect its POS on its page (Update credentials).",
    }),
    form,
  );
}
