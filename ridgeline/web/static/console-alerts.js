// The console's alerts: the alerts (filtered by state and severity, paged) with Acknowledge and
// Resolve, silences and a form for one, the alert channels with a test button and their
// deliveries, and the escalation policies with a form to create or edit one; the notification
// groups are console-alerts-groups.js's. Buttons and forms show only for a role the API lets
// act; forms show the API's own errors beside the field.
// Live: OpsChannel's alert.changed re-reads the alerts and the groups (debounced).

import { channelForm } from "./console-alerts-channels.js";
import { alertGroups } from "./console-alerts-groups.js";
import { el } from "./dom.js";
import { clearErrors, deleteButton, field, localInput, submitting } from "./forms.js";
import { badge, everyPage, messageOf, options, when } from "./ui.js";

const ALERT_STATES = ["pending", "firing", "acknowledged", "resolved"];
const SEVERITIES = ["critical", "warning", "info"];
const LABELS = ["rule", "severity", "store_id"];
const DEBOUNCE_MS = 500;

export async function render(root, ctx) {
  const { api, cable, fmt, can } = ctx;
  const filters = { state: "", severity: "" };
  let alerts = [];
  let shown = 100; // alerts the operator asked for ("Load more" adds a page)
  let nextCursor = null;
  let generation = 0;
  let debounce = null;
  let storeNames = new Map();
  let organizations = [];
  let channels = [];
  let rules = [];
  let policyNames = new Map();
  const unsubscribes = [];
  const platform = ctx.me.role === "platform_admin";

  function orgField(prefix) {
    // Platform admins name the organization; everyone else acts on their own.
    if (!platform) return null;
    const select = el(
      "select",
      { name: "organization_id" },
      ...options(organizations, organizations[0] || ""),
    );
    return field(`${prefix}-organization`, "Organization", select);
  }

  // ---------------------------------------------------------------- alerts

  const heading = el("h1", { text: "Alerts" });
  const rulesLink = el(
    "p",
    { class: "muted" },
    "What raises them: ",
    el("a", { href: "#/alerts/rules", text: "the alert rules" }),
    ", with the organization's and stores' settings.",
  );
  const stateFilter = el(
    "select",
    { name: "state" },
    ...options(ALERT_STATES, "", { any: "Any state" }),
  );
  const severityFilter = el(
    "select",
    { name: "severity" },
    ...options(SEVERITIES, "", { any: "Any severity" }),
  );
  const filterForm = el(
    "form",
    { class: "toolbar", "aria-label": "Filter alerts" },
    field("alerts-state", "State", stateFilter),
    field("alerts-severity", "Severity", severityFilter),
  );
  const notice = el("p", { class: "notice bad", role: "alert", hidden: true });
  const tbody = el("tbody");
  const headings = ["Store", "Rule", "Severity", "State", "Since", "Alert"];
  if (can("store_manager")) headings.push("Actions");
  const table = el(
    "table",
    { class: "alerts" },
    el("caption", { class: "visually-hidden", text: "Alerts, newest first" }),
    el("thead", {}, el("tr", {}, ...headings.map((text) => el("th", { scope: "col", text })))),
    tbody,
  );
  const empty = el("p", { class: "muted", text: "No alert matches.", hidden: true });
  const more = el("button", {
    type: "button",
    class: "secondary",
    text: "Load more",
    hidden: true,
  });
  root.append(
    heading,
    rulesLink,
    filterForm,
    notice,
    el("div", { class: "table-wrap", "aria-live": "off" }, table),
    empty,
    more,
  );

  function fail(error) {
    notice.textContent = messageOf(error);
    notice.hidden = false;
  }

  function alertsPath(cursor, limit) {
    const params = new URLSearchParams();
    if (filters.state) params.set("state", filters.state);
    if (filters.severity) params.set("severity", filters.severity);
    params.set("limit", String(limit));
    if (cursor) params.set("cursor", cursor);
    return `/api/v1/alerts?${params}`;
  }

  async function act(alert, action, button) {
    button.disabled = true;
    try {
      await api.post(`/api/v1/alerts/${alert.id}/${action}`, {});
      ctx.announce(
        `Alert ${action === "acknowledge" ? "acknowledged" : "resolved"}: ${alert.title}`,
      );
      await refreshAlerts();
    } catch (error) {
      fail(error);
      button.disabled = false;
    }
  }

  function alertRow(alert) {
    const store = alert.store_id
      ? el(
          "td",
          {},
          storeNames.has(alert.store_id)
            ? el("a", { href: `#/stores/${alert.store_id}`, text: storeNames.get(alert.store_id) })
            : el("code", { text: alert.store_id }),
        )
      : el("td", { class: "muted", text: "none" });
    const tr = el(
      "tr",
      { "data-alert-id": alert.id, "data-state": alert.state, "data-rule": alert.kind },
      store,
      el("td", {}, el("code", { text: alert.kind })),
      el("td", {}, badge(alert.severity)),
      el(
        "td",
        {},
        badge(alert.state),
        alert.suppressed_by
          ? el("div", { class: "muted small", text: `quiet: ${alert.suppressed_by}` })
          : null,
      ),
      el(
        "td",
        {},
        when(fmt, alert.created_at),
        alert.occurrences > 1
          ? el(
              "div",
              { class: "muted small", text: `${alert.occurrences} times, last ` },
              when(fmt, alert.last_occurred_at),
            )
          : null,
      ),
      el(
        "td",
        {},
        el("div", { text: alert.title }),
        el("div", { class: "muted small", text: alert.message }),
      ),
    );
    if (can("store_manager")) {
      const actions = el("td", { class: "alert-actions" });
      if (alert.state === "firing" || alert.state === "pending") {
        const ack = el("button", {
          type: "button",
          "data-action": "acknowledge",
          text: "Acknowledge",
          "aria-label": `Acknowledge: ${alert.title}`,
        });
        ack.addEventListener("click", () => act(alert, "acknowledge", ack));
        actions.append(ack);
      }
      if (alert.state !== "resolved") {
        const resolve = el("button", {
          type: "button",
          class: "secondary",
          "data-action": "resolve",
          text: "Resolve",
          "aria-label": `Resolve: ${alert.title}`,
        });
        resolve.addEventListener("click", () => act(alert, "resolve", resolve));
        actions.append(resolve);
      }
      tr.append(actions);
    }
    return tr;
  }

  function renderAlerts() {
    tbody.replaceChildren(...alerts.map(alertRow));
    empty.hidden = alerts.length > 0;
    more.hidden = !nextCursor;
  }

  async function refreshAlerts() {
    const mine = ++generation;
    const wanted = shown;
    let loaded = [];
    let cursor = null;
    do {
      const body = await api.get(alertsPath(cursor, 100));
      if (mine !== generation) return;
      loaded = loaded.concat(body.data);
      cursor = body.meta.next_cursor;
    } while (cursor && loaded.length < wanted);
    alerts = loaded;
    nextCursor = cursor;
    notice.hidden = true;
    renderAlerts();
  }

  function reloadAlerts() {
    alerts = [];
    shown = 100;
    refreshAlerts().catch(fail);
  }

  filterForm.addEventListener("change", () => {
    filters.state = stateFilter.value;
    filters.severity = severityFilter.value;
    reloadAlerts();
  });
  filterForm.addEventListener("submit", (event) => event.preventDefault());
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      shown = alerts.length + 100; // a re-read meanwhile reads this many
      const mine = ++generation; // and an older re-read's answer is stale
      const body = await api.get(alertsPath(nextCursor, 100));
      if (mine !== generation) return;
      alerts = alerts.concat(body.data);
      nextCursor = body.meta.next_cursor;
      renderAlerts();
    } catch (error) {
      fail(error);
    } finally {
      more.disabled = false;
    }
  });

  // ---------------------------------------------------------------- silences

  const silenceList = el("ul", { class: "plain-list" });
  const silenceSection = el(
    "section",
    { "aria-labelledby": "silences-title" },
    el("h2", { id: "silences-title", text: "Silences" }),
    el("p", {
      class: "muted",
      text: "A silence keeps the alerts it matches out of notifications until it ends; they still show here.",
    }),
    silenceList,
  );

  async function loadSilences() {
    const silences = await everyPage(api, "/api/v1/alert-silences");
    silenceList.replaceChildren(
      ...silences.map((silence) => {
        const matchers = silence.matchers
          .map((m) => `${m.label} ${m.op} ${m.value === "" ? '""' : m.value}`)
          .join(", ");
        const item = el(
          "li",
          { "data-silence-id": silence.id },
          badge(silence.state === "active" ? "paused" : "info", silence.state),
          " ",
          el("code", { text: matchers }),
          ` until ${fmt.time(silence.ends_at)}`,
          silence.comment ? ` (${silence.comment})` : "",
          el("span", { class: "muted", text: ` by ${silence.created_by}` }),
        );
        if (can("store_manager") && silence.state !== "expired") {
          const end = el("button", {
            type: "button",
            class: "secondary",
            "data-action": "end-silence",
            text: "End",
            "aria-label": `End the silence ${matchers}`,
          });
          end.addEventListener("click", async () => {
            end.disabled = true;
            try {
              await api.delete(`/api/v1/alert-silences/${silence.id}`);
              ctx.announce("Silence ended");
              await loadSilences();
            } catch (error) {
              fail(error);
              end.disabled = false;
            }
          });
          item.append(" ", end);
        }
        return item;
      }),
    );
    if (!silences.length) silenceList.append(el("li", { class: "muted", text: "No silence." }));
  }

  function silenceForm() {
    const form = el("form", {
      class: "card console-form",
      novalidate: true,
      "aria-labelledby": "silence-form-title",
    });
    form.append(
      el("h3", { id: "silence-form-title", text: "New silence" }),
      el("p", { class: "form-error", "data-form-error": "", role: "alert" }),
    );
    const org = orgField("silence");
    if (org) form.append(org);
    const datalist = el(
      "datalist",
      { id: "silence-values" },
      ...rules.map((name) => el("option", { value: name })),
      ...SEVERITIES.map((name) => el("option", { value: name })),
    );
    form.append(datalist);
    for (const index of [0, 1]) {
      const group = el(
        "fieldset",
        { class: "matcher" },
        el("legend", { text: index === 0 ? "Matcher" : "Second matcher (optional)" }),
        field(
          `silence-${index}-label`,
          "Label",
          el(
            "select",
            { name: `matchers.${index}.label` },
            ...options(LABELS, index === 0 ? "rule" : "severity"),
          ),
        ),
        field(
          `silence-${index}-op`,
          "Operator",
          el("select", { name: `matchers.${index}.op` }, ...options(["=", "!="], "=")),
        ),
        field(
          `silence-${index}-value`,
          "Value",
          el("input", {
            name: `matchers.${index}.value`,
            type: "text",
            maxLength: 200,
            list: "silence-values",
          }),
          index === 0 ? "A rule name, a severity or a store id." : "Left empty: not used.",
        ),
      );
      form.append(group);
    }
    const ends = el("input", {
      name: "ends_at",
      type: "datetime-local",
      value: localInput(new Date(Date.now() + 2 * 3600 * 1000)),
    });
    form.append(
      field("silence-ends", "Ends at", ends, "In your time zone."),
      field(
        "silence-comment",
        "Comment",
        el("input", { name: "comment", type: "text", maxLength: 1000 }),
      ),
      el("button", { type: "submit", "data-action": "create-silence", text: "Create silence" }),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submitting(form, () => createSilence(form));
    });
    return form;
  }

  async function createSilence(form) {
    const value = (name) => form.elements.namedItem(name).value;
    const matchers = [];
    for (const index of [0, 1]) {
      const matcherValue = value(`matchers.${index}.value`).trim();
      if (index > 0 && matcherValue === "") continue;
      matchers.push({
        label: value(`matchers.${index}.label`),
        op: value(`matchers.${index}.op`),
        value: matcherValue,
      });
    }
    const body = { matchers, comment: value("comment") };
    if (value("ends_at")) body.ends_at = new Date(value("ends_at")).toISOString();
    if (platform) body.organization_id = value("organization_id") || null;
    await api.post("/api/v1/alert-silences", body);
    form.elements.namedItem("matchers.0.value").value = "";
    form.elements.namedItem("matchers.1.value").value = "";
    form.elements.namedItem("comment").value = "";
    ctx.announce("Silence created");
    await loadSilences();
  }

  // ---------------------------------------------------------------- channels

  const channelList = el("ul", { class: "plain-list" });
  const channelFormHolder = el("div");
  const channelSection = el(
    "section",
    { "aria-labelledby": "channels-title" },
    el("h2", { id: "channels-title", text: "Alert channels" }),
    channelList,
    channelFormHolder,
  );

  async function reloadChannels() {
    channels = (await api.get("/api/v1/alert-channels?limit=200")).data;
    renderChannels();
  }

  // The create or edit form, one at a time, under the list (org admins).
  function openChannelForm(channel) {
    const organizationSelect = platform && !channel ? orgField("channel") : null;
    const form = channelForm({
      api,
      channel,
      organizationId: organizationSelect
        ? () => organizationSelect.querySelector("select").value
        : null,
      onSaved: async (saved) => {
        channelFormHolder.replaceChildren(newChannelButton());
        ctx.announce(`Channel ${saved.name} saved`);
        await reloadChannels();
      },
      onCancel: () => channelFormHolder.replaceChildren(newChannelButton()),
    });
    if (organizationSelect) {
      // Platform admins name the organization the channel belongs to.
      form.querySelector("fieldset").before(organizationSelect);
    }
    channelFormHolder.replaceChildren(form);
    form.querySelector("input[name=name]").focus();
  }

  function newChannelButton() {
    if (!can("org_admin")) return el("span");
    const button = el("button", {
      type: "button",
      class: "secondary",
      "data-action": "new-channel",
      text: "New channel",
    });
    button.addEventListener("click", () => openChannelForm(null));
    return button;
  }

  async function showDeliveries(channel, holder, button) {
    if (!holder.hidden) {
      holder.hidden = true;
      button.setAttribute("aria-expanded", "false");
      return;
    }
    const body = await api.get(`/api/v1/alert-channels/${channel.id}/deliveries?limit=10`);
    holder.replaceChildren(
      ...(body.data.length
        ? body.data.map((d) =>
            el(
              "li",
              { "data-delivery-id": d.id },
              badge(d.status),
              ` ${d.alert_id ? "alert" : "test"}, ${d.attempts} attempt${d.attempts === 1 ? "" : "s"}, `,
              when(fmt, d.sent_at || d.created_at),
              d.error ? el("span", { class: "fleet-error", text: ` ${d.error}` }) : null,
            ),
          )
        : [el("li", { class: "muted", text: "No delivery yet." })]),
    );
    holder.hidden = false;
    button.setAttribute("aria-expanded", "true");
  }

  function renderChannels() {
    channelList.replaceChildren(
      ...channels.map((channel) => {
        const holder = el("ul", {
          class: "deliveries",
          id: `deliveries-${channel.id}`,
          hidden: true,
        });
        const show = el("button", {
          type: "button",
          class: "secondary",
          "data-show": "deliveries",
          text: "Deliveries",
          "aria-expanded": "false",
          "aria-controls": holder.id,
          "aria-label": `Deliveries of ${channel.name}`,
        });
        show.addEventListener("click", () => showDeliveries(channel, holder, show).catch(fail));
        const item = el(
          "li",
          { "data-channel-id": channel.id },
          el("strong", { text: channel.name }),
          ` ${channel.kind} `,
          badge(channel.enabled ? "ready" : "paused", channel.enabled ? "enabled" : "disabled"),
          " ",
          show,
        );
        if (can("org_admin")) {
          const test = el("button", {
            type: "button",
            "data-action": "test-channel",
            text: "Send a test",
            "aria-label": `Send a test to ${channel.name}`,
          });
          test.addEventListener("click", async () => {
            test.disabled = true;
            try {
              await api.post(`/api/v1/alert-channels/${channel.id}/test`, {});
              ctx.announce(`Test notification queued for ${channel.name}`);
              if (!holder.hidden) holder.hidden = true;
              await showDeliveries(channel, holder, show);
            } catch (error) {
              fail(error);
            } finally {
              test.disabled = false;
            }
          });
          const edit = el("button", {
            type: "button",
            class: "secondary",
            "data-action": "edit-channel",
            text: "Edit",
            "aria-label": `Edit ${channel.name}`,
          });
          edit.addEventListener("click", () => openChannelForm(channel));
          const remove = deleteButton("delete-channel", channel.name, fail, async () => {
            await api.delete(`/api/v1/alert-channels/${channel.id}`);
            ctx.announce(`Channel ${channel.name} deleted`);
            await reloadChannels();
          });
          item.append(" ", test, " ", edit, " ", remove);
        }
        item.append(holder);
        return item;
      }),
    );
    if (!channels.length) channelList.append(el("li", { class: "muted", text: "No channel." }));
  }

  // ---------------------------------------------------------------- escalation policies

  const policyList = el("ul", { class: "plain-list" });
  const policySection = el(
    "section",
    { "aria-labelledby": "policies-title" },
    el("h2", { id: "policies-title", text: "Escalation policies" }),
    policyList,
  );
  let policyFormNode = null;

  async function loadPolicies() {
    const policies = await everyPage(api, "/api/v1/escalation-policies");
    policyNames = new Map(policies.map((policy) => [policy.id, policy.name]));
    const channelName = new Map(channels.map((c) => [c.id, c.name]));
    policyList.replaceChildren(
      ...policies.map((policy) => {
        const levels = policy.levels
          .map(
            (level, i) =>
              `level ${i + 1}${level.delay_s ? ` after ${level.delay_s} s` : ""}: ` +
              level.channel_ids.map((id) => channelName.get(id) || id).join(", "),
          )
          .join("; ");
        const item = el(
          "li",
          { "data-policy-id": policy.id },
          el("strong", { text: policy.name }),
          ` ${policy.rules.length ? policy.rules.join(", ") : "every other rule"}; ${levels} `,
        );
        if (can("org_admin")) {
          const edit = el("button", {
            type: "button",
            class: "secondary",
            "data-action": "edit-policy",
            text: "Edit",
            "aria-label": `Edit ${policy.name}`,
          });
          edit.addEventListener("click", () => fillPolicyForm(policy));
          const remove = deleteButton("delete-policy", policy.name, fail, async () => {
            await api.delete(`/api/v1/escalation-policies/${policy.id}`);
            ctx.announce(`Escalation policy ${policy.name} deleted`);
            if (policyFormNode && policyFormNode.dataset.policyId === policy.id) {
              fillPolicyForm(null);
            }
            await loadPolicies();
          });
          item.append(edit, " ", remove);
        }
        return item;
      }),
    );
    if (!policies.length)
      policyList.append(el("li", { class: "muted", text: "No escalation policy." }));
  }

  function fillPolicyForm(policy) {
    const form = policyFormNode;
    if (!form) return;
    clearErrors(form);
    form.dataset.policyId = policy ? policy.id : "";
    form.policy = policy;
    form.querySelector("h3").textContent = policy ? `Edit ${policy.name}` : "New escalation policy";
    form.elements.namedItem("name").value = policy ? policy.name : "";
    const chosenRules = new Set(policy ? policy.rules : []);
    for (const option of form.elements.namedItem("rules").options)
      option.selected = chosenRules.has(option.value);
    const chosenChannels = new Set(policy ? policy.levels[0].channel_ids : []);
    for (const option of form.elements.namedItem("channel_ids").options) {
      option.selected = chosenChannels.has(option.value);
    }
    form.querySelector("button[type=submit]").textContent = policy
      ? "Save policy"
      : "Create policy";
    form.querySelector("[data-cancel]").hidden = !policy;
    if (policy) form.elements.namedItem("name").focus();
  }

  function policyForm() {
    const form = el("form", {
      class: "card console-form",
      novalidate: true,
      "aria-labelledby": "policy-form-title",
    });
    form.append(
      el("h3", { id: "policy-form-title", text: "New escalation policy" }),
      el("p", { class: "form-error", "data-form-error": "", role: "alert" }),
    );
    const org = orgField("policy");
    if (org) form.append(org);
    form.append(
      field("policy-name", "Name", el("input", { name: "name", type: "text", maxLength: 100 })),
      field(
        "policy-rules",
        "Rules",
        el(
          "select",
          { name: "rules", multiple: true, size: Math.max(3, Math.min(rules.length, 6)) },
          ...options(rules, "", { label: String }),
        ),
        "None chosen: the organization's default policy.",
      ),
      field(
        "policy-channels",
        "First level: notify these channels",
        el(
          "select",
          { name: "channel_ids", multiple: true, size: Math.max(3, Math.min(channels.length, 6)) },
          ...channels.map((c) => el("option", { value: c.id, text: c.name })),
        ),
      ),
    );
    const cancel = el("button", {
      type: "button",
      class: "secondary",
      text: "Cancel",
      hidden: true,
      "data-cancel": "",
    });
    cancel.addEventListener("click", () => fillPolicyForm(null));
    form.append(
      el(
        "div",
        { class: "toolbar" },
        el("button", { type: "submit", "data-action": "save-policy", text: "Create policy" }),
        cancel,
      ),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submitting(form, () => savePolicy(form));
    });
    return form;
  }

  // A new policy from the form, or the one it edits saved.
  async function savePolicy(form) {
    const selected = (name) =>
      [...form.elements.namedItem(name).selectedOptions].map((o) => o.value);
    const existing = form.policy || null;
    const body = {
      name: form.elements.namedItem("name").value,
      rules: selected("rules"),
      // The first level is this form's; the policy's later levels are kept as they are.
      levels: [
        { delay_s: 0, channel_ids: selected("channel_ids") },
        ...(existing ? existing.levels.slice(1) : []),
      ],
    };
    if (existing) {
      await api.put(`/api/v1/escalation-policies/${existing.id}`, body);
    } else {
      if (platform) body.organization_id = form.elements.namedItem("organization_id").value || null;
      await api.post("/api/v1/escalation-policies", body);
    }
    ctx.announce(existing ? "Escalation policy saved" : "Escalation policy created");
    fillPolicyForm(null);
    await loadPolicies();
  }

  const groups = alertGroups({
    api,
    ctx,
    names: {
      store: (id) => storeNames.get(id) || null,
      channel: (id) => (channels.find((c) => c.id === id) || {}).name || null,
      policy: (id) => policyNames.get(id) || null,
    },
    onAcknowledged: () => refreshAlerts().catch(fail),
  });

  root.append(groups.section, silenceSection, channelSection, policySection);

  // ---------------------------------------------------------------- loading and live updates

  const [fleet, ruleList, channelPage] = await Promise.all([
    api.get("/api/v1/fleet?limit=200").catch(() => ({ data: [] })),
    api.get("/api/v1/alert-rules").catch(() => ({ data: [] })),
    api.get("/api/v1/alert-channels?limit=200"),
  ]);
  storeNames = new Map(fleet.data.map((s) => [s.store_id, s.name]));
  organizations = [...new Set(fleet.data.map((s) => s.organization_id))];
  rules = ruleList.data.map((rule) => rule.name);
  channels = channelPage.data;
  renderChannels();
  channelFormHolder.replaceChildren(newChannelButton());
  if (can("store_manager")) silenceSection.append(silenceForm());
  if (can("org_admin")) {
    policyFormNode = policyForm();
    policySection.append(policyFormNode);
  }
  await Promise.all([refreshAlerts(), loadSilences(), loadPolicies()]);
  await groups.refresh(); // after the policies, whose names it shows

  function onMessage(message) {
    if (!message || message.type !== "alert.changed") return;
    if (debounce) return; // one re-read at a time, however many messages come
    debounce = setTimeout(() => {
      debounce = null;
      refreshAlerts().catch(fail);
      groups.refresh();
    }, DEBOUNCE_MS);
  }
  if (!(ctx.me.store_ids && ctx.me.store_ids.length)) {
    const followed = ctx.me.organization_id ? [ctx.me.organization_id] : organizations;
    for (const organization of followed) {
      unsubscribes.push(
        cable.subscribe("OpsChannel", { organization_id: organization }, onMessage),
      );
    }
  }
  return () => {
    generation += 1;
    groups.stop();
    clearTimeout(debounce);
    for (const unsubscribe of unsubscribes) unsubscribe();
  };
}
