// The console's audit trail (#/audit, store managers and up): who changed what, when and from
// where (GET /api/v1/audit-events, newest first, paged), filtered by store, action (exact, or a
// family such as "store.") and time; each event's changed fields before and after, secrets
// already "[redacted]" by the API. Read only: no route changes an event.

import { el } from "./dom.js";
import { clearErrors, field, showError } from "./forms.js";
import { everyPage, messageOf, options, when, words } from "./ui.js";

const PAGE = 50;
// The action families of docs/security.md's table, offered as suggestions; any action or family
// may be typed.
const FAMILIES = [
  "alert.",
  "alert_channel.",
  "alert_group.",
  "alert_rule.",
  "alert_silence.",
  "escalation_policy.",
  "job.",
  "kiosk.",
  "kiosk_key.",
  "operator.",
  "order.",
  "organization.",
  "pos.",
  "product.",
  "recovery.",
  "rfid_tag.",
  "status.",
  "store.",
  "sync.",
];

// A value of `changes.before` / `after` as one line of text.
function shown(value) {
  if (value === undefined) return "(absent)";
  if (value === null) return "none";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function changeList(changes) {
  const before = (changes && changes.before) || {};
  const after = (changes && changes.after) || {};
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  if (!names.length) return el("span", { class: "muted", text: "no fields" });
  return el(
    "details",
    {},
    el("summary", { text: `${names.length} field${names.length === 1 ? "" : "s"}` }),
    el(
      "dl",
      { class: "facts" },
      names.flatMap((name) => [
        el("dt", {}, el("code", { text: name })),
        el("dd", { text: `${shown(before[name])} \u2192 ${shown(after[name])}` }),
      ]),
    ),
  );
}

export async function render(root, ctx) {
  const { api, fmt } = ctx;
  let events = [];
  let nextCursor = null;
  let query = new URLSearchParams();
  let generation = 0;

  const stores = await everyPage(api, "/api/v1/stores");
  const storeName = new Map(stores.map((s) => [s.id, s.name]));
  const storeIds = stores
    .slice()
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((s) => s.id);

  const storeFilter = el(
    "select",
    { name: "store_id" },
    ...options(storeIds, "", { any: "Every store", label: (id) => storeName.get(id) }),
  );
  const actionFilter = el("input", {
    name: "action",
    type: "text",
    list: "audit-families",
    autocomplete: "off",
    spellcheck: "false",
  });
  const sinceFilter = el("input", { name: "since", type: "datetime-local" });
  const untilFilter = el("input", { name: "until", type: "datetime-local" });
  const filterForm = el(
    "form",
    { id: "audit-filters", class: "toolbar", "aria-label": "Filter the audit trail" },
    el("p", { class: "form-error", "data-form-error": "", role: "alert" }),
    field("audit-store", "Store", storeFilter),
    field(
      "audit-action",
      "Action",
      actionFilter,
      'One action (store.update) or a family ending in "." (store.).',
    ),
    el(
      "datalist",
      { id: "audit-families" },
      FAMILIES.map((family) => el("option", { value: family })),
    ),
    field("audit-since", "From", sinceFilter),
    field("audit-until", "Before", untilFilter),
    el("button", { type: "submit", text: "Show" }),
  );
  const notice = el("p", { class: "notice bad", role: "alert", hidden: true });
  const status = el("p", { class: "muted", role: "status", "data-result": "audit" });
  const tbody = el("tbody");
  const table = el(
    "table",
    { id: "audit-table" },
    el("caption", { class: "visually-hidden", text: "Audit events, newest first" }),
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        ["When", "Who", "Action", "Store", "Object", "Changes", "From"].map((text) =>
          el("th", { scope: "col", text }),
        ),
      ),
    ),
    tbody,
  );
  const more = el("button", { type: "button", class: "secondary", text: "Load more", hidden: true });
  root.append(
    el("h1", { text: "Audit trail" }),
    el("p", {
      class: "muted",
      text:
        "Every change an operator made through the API, in the change's own transaction. " +
        "Events are kept for the retention period, then purged; none can be edited.",
    }),
    filterForm,
    notice,
    status,
    el("div", { class: "table-wrap" }, table),
    more,
  );

  function eventRow(event) {
    const who = event.actor_email
      ? el("span", { text: event.actor_email })
      : el("span", { class: "muted", text: "deleted operator" });
    const store = event.store_id
      ? el("a", {
          href: `#/stores/${event.store_id}`,
          text: storeName.get(event.store_id) || event.store_id,
        })
      : el("span", { class: "muted", text: "none" });
    return el(
      "tr",
      { "data-audit-id": event.id, "data-action": event.action },
      el("td", {}, when(fmt, event.created_at, { exact: true })),
      el(
        "td",
        {},
        who,
        el("div", { class: "muted small", text: words(event.actor_role) }),
      ),
      el("td", {}, el("code", { text: event.action })),
      el("td", {}, store),
      el("td", {}, event.target_id ? el("code", { text: event.target_id }) : ""),
      el("td", {}, changeList(event.changes)),
      el("td", { class: "small", text: event.client_address || "" }),
    );
  }

  function draw() {
    tbody.replaceChildren(...events.map(eventRow));
    table.hidden = !events.length;
    more.hidden = !nextCursor;
    status.textContent = events.length
      ? `${events.length} event${events.length === 1 ? "" : "s"}${nextCursor ? " so far" : ""}, newest first.`
      : "No event matches.";
  }

  async function load(cursor) {
    const mine = ++generation;
    const params = new URLSearchParams(query);
    params.set("limit", String(PAGE));
    if (cursor) params.set("cursor", cursor);
    const body = await api.get(`/api/v1/audit-events?${params}`);
    if (mine !== generation) return;
    events = cursor ? events.concat(body.data) : body.data;
    nextCursor = body.meta.next_cursor;
    notice.hidden = true;
    draw();
  }

  // The form's values as the API's query: times from the reader's zone to ISO 8601.
  function queryOf() {
    const params = new URLSearchParams();
    if (storeFilter.value) params.set("store_id", storeFilter.value);
    if (actionFilter.value.trim()) params.set("action", actionFilter.value.trim());
    for (const [input, name] of [
      [sinceFilter, "since"],
      [untilFilter, "until"],
    ]) {
      if (input.value) params.set(name, new Date(input.value).toISOString());
    }
    return params;
  }

  filterForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(filterForm);
    const previous = query;
    query = queryOf();
    try {
      await load(null);
      ctx.announce(status.textContent);
    } catch (error) {
      query = previous;
      showError(filterForm, error);
    }
  });

  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      await load(nextCursor);
    } catch (error) {
      notice.textContent = messageOf(error);
      notice.hidden = false;
    } finally {
      more.disabled = false;
    }
  });

  await load(null);
  return () => {
    generation += 1;
  };
}
