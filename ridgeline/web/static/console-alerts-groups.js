// The alerts view's notification groups: alerts of one rule in an organization are told
// together (docs/alerting.md). Lists the groups (open ones, or all) with their alerts counted
// by state, who heard and where escalation stands; a group's alerts on request; and
// "Acknowledge group" (store managers and up), which acknowledges every firing alert of it.

import { el } from "./dom.js";
import { field } from "./forms.js";
import { badge, messageOf, when } from "./ui.js";

const PAGE = 50;
const ALERTS_SHOWN = 100; // a group's alerts listed in its detail
const STATE_ORDER = ["firing", "pending", "acknowledged", "resolved"];

// Where a group stands: closed, else its most urgent alert state.
function standing(group) {
  if (!group.open) return "closed";
  return STATE_ORDER.find((state) => group.counts[state] > 0) || "resolved";
}

function counted(counts) {
  const parts = STATE_ORDER.filter((state) => counts[state] > 0).map(
    (state) => `${counts[state]} ${state}`,
  );
  return parts.length ? parts.join(", ") : "none";
}

// The section and its `refresh()` (re-reads the groups on screen and the open details).
// names: {store(id), channel(id), policy(id)} give a name or null; `onAcknowledged()` after a
// group was acknowledged (the alerts list changed too).
export function alertGroups({ api, ctx, names, onAcknowledged }) {
  const { can, fmt } = ctx;
  let groups = [];
  let shown = PAGE;
  let nextCursor = null;
  let generation = 0;
  let openOnly = true;
  const expanded = new Set(); // groups whose alerts are shown
  const details = new Map(); // group id -> its detail's node, kept across re-reads

  const filter = el(
    "select",
    { name: "open" },
    el("option", { value: "true", text: "Open groups" }),
    el("option", { value: "false", text: "All groups, closed too" }),
  );
  const filterForm = el(
    "form",
    { class: "toolbar", "aria-label": "Filter alert groups" },
    field("groups-open", "Groups", filter),
  );
  const notice = el("p", { class: "notice bad", role: "alert", hidden: true });
  const result = el("p", { class: "step-result", role: "status" });
  const tbody = el("tbody");
  const headings = ["Rule", "Now", "Alerts by state", "Notifications", "Escalation", "Opened"];
  headings.push(can("store_manager") ? "Actions" : "Details");
  const table = el(
    "table",
    { class: "alerts alert-groups" },
    el("caption", { class: "visually-hidden", text: "Alert groups, newest first" }),
    el("thead", {}, el("tr", {}, ...headings.map((text) => el("th", { scope: "col", text })))),
    tbody,
  );
  const empty = el("p", { class: "muted", text: "No alert group.", hidden: true });
  const more = el("button", {
    type: "button",
    class: "secondary",
    text: "More groups",
    hidden: true,
  });
  const section = el(
    "section",
    { "aria-labelledby": "groups-title" },
    el("h2", { id: "groups-title", text: "Alert groups" }),
    el("p", {
      class: "muted",
      text: "An organization's alerts of one rule are told together: one notification, then one per change, escalated until someone acknowledges.",
    }),
    filterForm,
    notice,
    result,
    el("div", { class: "table-wrap", "aria-live": "off" }, table),
    empty,
    more,
  );

  function fail(error) {
    notice.textContent = messageOf(error);
    notice.hidden = false;
  }

  function path(cursor) {
    const params = new URLSearchParams({ open: String(openOnly), limit: String(PAGE) });
    if (cursor) params.set("cursor", cursor);
    return `/api/v1/alert-groups?${params}`;
  }

  function escalation(group) {
    if (!group.escalation_policy_id) {
      return el("span", { class: "muted", text: "no policy: every enabled channel hears" });
    }
    const policy = names.policy(group.escalation_policy_id) || group.escalation_policy_id;
    return el(
      "div",
      {},
      el("div", { text: `${policy}, level ${group.escalation_level + 1}` }),
      group.next_escalation_at
        ? el("div", { class: "muted small" }, "next level ", when(fmt, group.next_escalation_at))
        : null,
    );
  }

  async function acknowledge(group, button) {
    button.disabled = true;
    result.textContent = "";
    try {
      const body = await api.post(`/api/v1/alert-groups/${group.id}/acknowledge`, {});
      const text = `Group ${group.rule} acknowledged: ${counted(body.data.counts)}.`;
      result.textContent = text;
      result.className = "step-result ok";
      ctx.announce(text);
      await Promise.all([refresh(), onAcknowledged()]);
    } catch (error) {
      result.textContent = messageOf(error);
      result.className = "step-result bad";
      button.disabled = false;
    }
  }

  async function loadDetail(group, holder) {
    const [fresh, alerts] = await Promise.all([
      api.get(`/api/v1/alert-groups/${group.id}`),
      api.get(`/api/v1/alerts?group_id=${group.id}&limit=${ALERTS_SHOWN}`),
    ]);
    const heard = fresh.data.notified_channel_ids.map((id) => names.channel(id) || id);
    const list = el(
      "ul",
      { class: "plain-list" },
      ...alerts.data.map((alert) =>
        el(
          "li",
          { "data-group-alert": alert.id, "data-state": alert.state },
          badge(alert.state),
          " ",
          alert.store_id
            ? el("a", {
                href: `#/stores/${alert.store_id}`,
                text: names.store(alert.store_id) || alert.store_id,
              })
            : el("span", { class: "muted", text: "no store" }),
          `: ${alert.title} `,
          el("span", { class: "muted small" }, "since ", when(fmt, alert.created_at)),
        ),
      ),
    );
    if (!alerts.data.length) list.append(el("li", { class: "muted", text: "No alert." }));
    const parts = [
      el("p", {
        class: "muted small",
        text: heard.length ? `Heard by ${heard.join(", ")}.` : "No channel has heard of it yet.",
      }),
      list,
    ];
    if (alerts.meta.next_cursor) {
      parts.push(el("p", { class: "muted small", text: `The newest ${ALERTS_SHOWN} are shown.` }));
    }
    holder.replaceChildren(...parts);
  }

  // The group's detail row; its alerts are read when it opens, and again when `reread`.
  function detailRow(group, reread) {
    let holder = details.get(group.id);
    if (!holder) {
      holder = el("div", { id: `group-alerts-${group.id}`, "aria-live": "polite" });
      holder.append(el("p", { class: "muted", text: "Loading its alerts..." }));
      details.set(group.id, holder);
      reread = true;
    }
    if (reread) {
      loadDetail(group, holder).catch((error) => {
        holder.replaceChildren(el("p", { class: "fleet-error", text: messageOf(error) }));
      });
    }
    return el(
      "tr",
      { "data-group-detail": group.id },
      el("td", { colspan: String(headings.length) }, holder),
    );
  }

  function groupRows(group, reread) {
    const open = expanded.has(group.id);
    const toggle = el("button", {
      type: "button",
      class: "secondary",
      "data-show": "group-alerts",
      text: open ? "Hide alerts" : "Show alerts",
      "aria-expanded": open ? "true" : "false",
      "aria-controls": `group-alerts-${group.id}`,
      "aria-label": `${open ? "Hide" : "Show"} the alerts of group ${group.rule}`,
    });
    toggle.addEventListener("click", () => {
      if (expanded.has(group.id)) {
        expanded.delete(group.id);
        details.delete(group.id);
      } else {
        expanded.add(group.id);
      }
      renderGroups();
    });
    const actions = el("td", { class: "alert-actions" }, toggle);
    if (can("store_manager") && group.open && group.counts.firing > 0) {
      const ack = el("button", {
        type: "button",
        "data-action": "acknowledge-group",
        text: "Acknowledge group",
        "aria-label": `Acknowledge group ${group.rule}: every firing alert of it`,
      });
      ack.addEventListener("click", () => acknowledge(group, ack));
      actions.append(ack);
    }
    const row = el(
      "tr",
      { "data-group-id": group.id, "data-group-rule": group.rule, "data-state": standing(group) },
      el("td", {}, el("code", { text: group.rule })),
      el("td", {}, badge(standing(group))),
      el("td", { "data-counts": "" }, counted(group.counts)),
      el(
        "td",
        {},
        group.notifications
          ? el(
              "div",
              {},
              `${group.notifications} sent, last `,
              when(fmt, group.last_notified_at),
              group.last_state ? ` (${group.last_state})` : "",
            )
          : el("span", { class: "muted", text: "none yet" }),
      ),
      el("td", {}, escalation(group)),
      el(
        "td",
        {},
        when(fmt, group.created_at),
        group.closed_at
          ? el("div", { class: "muted small" }, "closed ", when(fmt, group.closed_at))
          : null,
      ),
      actions,
    );
    return open ? [row, detailRow(group, reread)] : [row];
  }

  function renderGroups({ reread = false } = {}) {
    tbody.replaceChildren(...groups.flatMap((group) => groupRows(group, reread)));
    empty.hidden = groups.length > 0;
    more.hidden = !nextCursor;
  }

  async function refresh() {
    const mine = ++generation;
    const wanted = shown;
    let loaded = [];
    let cursor = null;
    do {
      const body = await api.get(path(cursor));
      if (mine !== generation) return;
      loaded = loaded.concat(body.data);
      cursor = body.meta.next_cursor;
    } while (cursor && loaded.length < wanted);
    groups = loaded;
    nextCursor = cursor;
    notice.hidden = true;
    renderGroups({ reread: true });
  }

  filter.addEventListener("change", () => {
    openOnly = filter.value === "true";
    shown = PAGE;
    refresh().catch(fail);
  });
  filterForm.addEventListener("submit", (event) => event.preventDefault());
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      shown = groups.length + PAGE;
      const mine = ++generation;
      const body = await api.get(path(nextCursor));
      if (mine !== generation) return;
      groups = groups.concat(body.data);
      nextCursor = body.meta.next_cursor;
      renderGroups();
    } catch (error) {
      fail(error);
    } finally {
      more.disabled = false;
    }
  });

  return {
    section,
    refresh: () => refresh().catch(fail),
    stop: () => {
      generation += 1;
    },
  };
}
