// The console's status page management, for platform admins: the components (what each shows,
// what its rules found and why, the evidence, any override) with an override form each and
// "Evaluate now"; the drafts that outages and critical alerts propose, published or discarded in
// one click; the open incidents and maintenance with an update form each; forms for a new
// incident and for scheduled maintenance. Forms show the API's own errors beside the field.
// Re-reads after every action and every 15 s while open; forms being typed in are kept.

import { el } from "./dom.js";
import { clearErrors, field, formValues, localInput, showError } from "./forms.js";
import { badge, messageOf, options, when } from "./ui.js";

const POLL_MS = 15_000;
const COMPONENT_STATUSES = [
  "operational",
  "degraded_performance",
  "partial_outage",
  "major_outage",
  "under_maintenance",
];
// What an incident may declare for a component (maintenance comes from its schedule).
const DECLARABLE = ["degraded_performance", "partial_outage", "major_outage", "operational"];
const INCIDENT_STATUSES = ["investigating", "identified", "monitoring", "resolved"];
const MAINTENANCE_STATUSES = ["scheduled", "in_progress", "verifying", "completed"];
const IMPACTS = ["none", "minor", "major", "critical"];
const COLUMNS = ["Component", "Shown", "Rules found", "Evidence", "Override", "Actions"];

function label(value) {
  const text = String(value).replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// A status as a badge, in words with a capital.
function statusBadge(state) {
  return badge(state, label(state));
}

// <option>s for the statuses, in words with a capital; `any`: a first, empty option.
function statusOptions(values, selected, { any } = {}) {
  return options(values, selected, { any, label });
}

function checkbox(id, name, text, { checked = false, value } = {}) {
  // checked: form.reset() returns to it.
  const input = el("input", { type: "checkbox", id, name, checked: checked, value });
  return el("div", { class: "statuspage-check" }, input, el("label", { for: id, text }));
}

// A datetime-local value (the reader's zone) as ISO 8601 in UTC; "" stays "" (left out).
function isoOf(local) {
  if (!local) return "";
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? local : date.toISOString();
}

function formShell(id, title) {
  const form = el("form", { class: "card console-form", novalidate: true, "aria-labelledby": id });
  form.append(
    el("h3", { id, text: title }),
    el("p", { class: "form-error", "data-form-error": "", role: "alert" }),
  );
  return form;
}

// Keeps `container`'s children in step with `items`, reusing the node of each key (a form
// being typed in survives a re-read): create(item) makes a node, update(node, item) refreshes.
function reconcile(container, items, keyOf, create, update) {
  const existing = new Map([...container.children].map((node) => [node.dataset.key, node]));
  const wanted = items.map((item) => {
    const key = keyOf(item);
    let node = existing.get(key);
    if (!node) {
      node = create(item);
      node.dataset.key = key;
    }
    existing.delete(key);
    update(node, item);
    return node;
  });
  for (const stale of existing.values()) stale.remove();
  wanted.forEach((node, index) => {
    if (container.children[index] !== node) {
      container.insertBefore(node, container.children[index] || null);
    }
  });
}

export async function render(root, ctx) {
  const { api, fmt } = ctx;
  let components = [];
  let generation = 0;
  let timer = null;
  let stopped = false;

  const notice = el("p", { class: "notice bad", role: "alert", hidden: true });
  function fail(error) {
    notice.textContent = messageOf(error);
    notice.hidden = false;
  }

  // Runs an action: the button is disabled meanwhile; then a re-read and the announcement.
  async function act(button, action, done, form) {
    if (button) button.disabled = true;
    if (form) clearErrors(form);
    try {
      await action();
      notice.hidden = true;
      await refresh();
      ctx.announce(typeof done === "function" ? done() : done);
      return true;
    } catch (error) {
      if (form) showError(form, error);
      else fail(error);
      return false;
    } finally {
      if (button) button.disabled = false;
    }
  }

  // ---------------------------------------------------------------- components

  const evaluate = el("button", {
    type: "button",
    "data-action": "evaluate",
    text: "Evaluate now",
  });
  evaluate.addEventListener("click", () =>
    act(evaluate, () => api.post("/api/v1/status/evaluate", {}), "Components evaluated"),
  );
  const componentRows = el("tbody");
  const componentSection = el(
    "section",
    { "aria-labelledby": "sp-components-title" },
    el("h2", { id: "sp-components-title", text: "Components" }),
    el(
      "p",
      { class: "muted" },
      "Shown: an override, else maintenance, else the worse of the rules and open incidents. ",
      el("a", { href: "/status", text: "Open the public status page" }),
    ),
    el("div", { class: "toolbar" }, evaluate),
    el(
      "div",
      { class: "table-wrap" },
      el(
        "table",
        { class: "statuspage-components" },
        el("caption", { class: "visually-hidden", text: "Status page components" }),
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            ...COLUMNS.map((text) => el("th", { scope: "col", text })),
          ),
        ),
        componentRows,
      ),
    ),
  );

  function evidenceList(evidence) {
    const entries = Object.entries(evidence || {});
    if (!entries.length) return el("span", { class: "muted", text: "none" });
    return el(
      "dl",
      { class: "evidence" },
      ...entries.flatMap(([key, value]) => {
        let text =
          typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
        if (typeof value === "number" && !Number.isInteger(value)) {
          text = String(Math.round(value * 1000) / 1000);
        }
        if (text.length > 80) text = `${text.slice(0, 77)}...`;
        return [el("dt", { text: key }), el("dd", { text })];
      }),
    );
  }

  function overrideForm(component) {
    const prefix = `override-${component.key}`;
    const form = el("form", {
      class: "override-form",
      novalidate: true,
      "aria-label": `Override ${component.name}`,
    });
    form.append(
      el("p", { class: "form-error", "data-form-error": "", role: "alert" }),
      field(
        `${prefix}-status`,
        "Status",
        el("select", { name: "status" }, ...statusOptions(COMPONENT_STATUSES, "major_outage")),
      ),
      field(
        `${prefix}-reason`,
        "Reason",
        el("input", { name: "reason", type: "text", maxLength: 500 }),
      ),
      field(
        `${prefix}-until`,
        "Until (optional)",
        el("input", { name: "until", type: "datetime-local" }),
        "In your time zone; empty: until removed.",
      ),
      el("button", {
        type: "submit",
        "data-action": "override",
        text: "Set override",
        "aria-label": `Set override on ${component.name}`,
      }),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const values = formValues(form);
      const body = { status: values.status, reason: values.reason || "" };
      if (values.until) body.until = isoOf(values.until);
      act(
        form.querySelector("button[type=submit]"),
        () => api.put(`/api/v1/status/components/${component.key}/override`, body),
        `Override set: ${component.name} shows ${label(body.status)}`,
        form,
      ).then((ok) => {
        if (ok) {
          form.reset();
          form.closest("details").open = false;
        }
      });
    });
    return form;
  }

  function componentRow(component) {
    const remove = el("button", {
      type: "button",
      class: "secondary",
      "data-action": "remove-override",
      text: "Remove override",
      "aria-label": `Remove the override on ${component.name}`,
    });
    remove.addEventListener("click", () =>
      act(
        remove,
        () => api.delete(`/api/v1/status/components/${component.key}/override`),
        `Override removed: ${component.name} is back to its rules`,
      ),
    );
    const details = el(
      "details",
      { class: "override" },
      el("summary", { text: "Override", "aria-label": `Override ${component.name}` }),
      overrideForm(component),
    );
    return el(
      "tr",
      { "data-component": component.key },
      el(
        "th",
        { scope: "row" },
        el("div", { text: component.name }),
        el("code", { class: "small", text: component.key }),
      ),
      el("td", { "data-cell": "shown" }),
      el("td", { "data-cell": "derived" }),
      el("td", { "data-cell": "evidence" }),
      el("td", { "data-cell": "override" }),
      el("td", { class: "statuspage-actions" }, details, remove),
    );
  }

  function updateComponentRow(tr, component) {
    tr.dataset.status = component.status;
    const cell = (name) => tr.querySelector(`[data-cell="${name}"]`);
    cell("shown").replaceChildren(statusBadge(component.status));
    cell("derived").replaceChildren(
      statusBadge(component.derived_status),
      el("div", { class: "small", "data-role": "reason", text: component.reason }),
      el("div", { class: "muted small" }, "judged ", when(fmt, component.evaluated_at)),
    );
    cell("evidence").replaceChildren(evidenceList(component.evidence));
    if (component.override_status) {
      cell("override").replaceChildren(
        statusBadge(component.override_status),
        el("div", {
          class: "small",
          "data-role": "override-reason",
          text: component.override_reason || "",
        }),
        el(
          "div",
          { class: "muted small" },
          component.override_until
            ? `until ${fmt.time(component.override_until)}`
            : "until removed",
          component.override_by ? `, by ${component.override_by}` : "",
        ),
      );
    } else {
      cell("override").replaceChildren(el("span", { class: "muted", text: "none" }));
    }
    tr.querySelector("[data-action=remove-override]").hidden = !component.override_status;
  }

  // ---------------------------------------------------------------- drafts

  const draftList = el("ul", { class: "plain-list statuspage-list" });
  const draftsEmpty = el("p", { class: "muted", text: "No draft.", hidden: true });
  const draftSection = el(
    "section",
    { "aria-labelledby": "sp-drafts-title" },
    el("h2", { id: "sp-drafts-title", text: "Drafts" }),
    el("p", {
      class: "muted",
      text:
        "Incidents proposed by outages and critical alerts, or saved unpublished. " +
        "Nobody sees them until published.",
    }),
    draftList,
    draftsEmpty,
  );

  function affects(incident) {
    if (!incident.components.length) return el("span", { class: "muted", text: "no component" });
    return incident.components
      .map((c) => `${c.name}${c.status ? ` (${label(c.status)})` : ""}`)
      .join(", ");
  }

  function draftItem(draft) {
    const publish = el("button", {
      type: "button",
      "data-action": "publish",
      text: "Publish",
      "aria-label": `Publish ${draft.name}`,
    });
    publish.addEventListener("click", () =>
      act(
        publish,
        () => api.post(`/api/v1/status/incidents/${draft.id}/publish`, {}),
        `Published: ${draft.name}`,
      ),
    );
    const discard = el("button", {
      type: "button",
      class: "secondary",
      "data-action": "discard",
      text: "Discard",
      "aria-label": `Discard ${draft.name}`,
    });
    discard.addEventListener("click", () =>
      act(
        discard,
        () => api.delete(`/api/v1/status/incidents/${draft.id}`),
        `Discarded: ${draft.name}`,
      ),
    );
    return el(
      "li",
      { "data-incident-id": draft.id },
      el("div", { "data-role": "summary" }),
      el("div", { class: "toolbar" }, publish, discard),
    );
  }

  function updateDraftItem(li, draft) {
    const latest = draft.updates[0];
    li.querySelector("[data-role=summary]").replaceChildren(
      el("strong", { text: draft.name }),
      " ",
      statusBadge(draft.status),
      " ",
      el("span", { class: "muted small", text: `impact ${draft.impact}` }),
      el("div", { class: "small" }, "Affects: ", affects(draft)),
      latest ? el("div", { class: "small", text: latest.body }) : null,
      el(
        "div",
        { class: "muted small" },
        draft.source ? `proposed by ${draft.source}, ` : "saved unpublished, ",
        when(fmt, draft.created_at),
      ),
    );
  }

  // ---------------------------------------------------------------- open incidents

  const openList = el("div", { class: "statuspage-open" });
  const openEmpty = el("p", {
    class: "muted",
    text: "No open incident or maintenance.",
    hidden: true,
  });
  const openSection = el(
    "section",
    { "aria-labelledby": "sp-open-title" },
    el("h2", { id: "sp-open-title", text: "Open incidents and maintenance" }),
    openList,
    openEmpty,
  );

  function openItem(incident) {
    const prefix = `update-${incident.id}`;
    const statuses = incident.kind === "maintenance" ? MAINTENANCE_STATUSES : INCIDENT_STATUSES;
    const form = el("form", {
      class: "console-form update-form",
      novalidate: true,
      "aria-label": `Post an update to ${incident.name}`,
    });
    form.append(
      el("p", { class: "form-error", "data-form-error": "", role: "alert" }),
      field(
        `${prefix}-status`,
        "Status",
        el("select", { name: "status" }, ...statusOptions(statuses, incident.status)),
      ),
      field(
        `${prefix}-body`,
        "Update",
        el("textarea", { name: "body", rows: 3, maxLength: 10000 }),
      ),
      el("button", {
        type: "submit",
        "data-action": "post-update",
        text: "Post update",
        "aria-label": `Post update to ${incident.name}`,
      }),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const values = formValues(form);
      const body = { status: values.status, body: values.body || "" };
      act(
        form.querySelector("button[type=submit]"),
        () => api.post(`/api/v1/status/incidents/${incident.id}/updates`, body),
        `Update posted: ${incident.name} is ${label(body.status)}`,
        form,
      ).then((ok) => {
        if (ok) form.elements.namedItem("body").value = "";
      });
    });
    return el(
      "article",
      {
        class: "card statuspage-incident",
        "data-incident-id": incident.id,
        "aria-labelledby": `${prefix}-title`,
      },
      el("h3", { id: `${prefix}-title`, text: incident.name }),
      el("div", { "data-role": "summary" }),
      el(
        "p",
        {},
        el("a", {
          href: `/status/incidents/${incident.id}`,
          text: `Public page of ${incident.name}`,
        }),
      ),
      form,
    );
  }

  function updateOpenItem(article, incident) {
    article.dataset.status = incident.status;
    article.querySelector("h3").textContent = incident.name;
    const latest = incident.updates[0];
    article.querySelector("[data-role=summary]").replaceChildren(
      el(
        "div",
        {},
        el("span", { class: "muted small", text: `${incident.kind} ` }),
        statusBadge(incident.status),
        " ",
        el("span", { class: "muted small", text: `impact ${incident.impact}` }),
      ),
      el("div", { class: "small" }, "Affects: ", affects(incident)),
      incident.scheduled_for
        ? el(
            "div",
            { class: "small" },
            `Window: ${fmt.time(incident.scheduled_for)} to ${fmt.time(incident.scheduled_until)}`,
          )
        : null,
      latest
        ? el(
            "div",
            { class: "small" },
            el("strong", { text: `${label(latest.status)}: ` }),
            latest.body,
            " ",
            when(fmt, latest.created_at),
          )
        : null,
    );
  }

  // ---------------------------------------------------------------- new incident

  const incidentForm = formShell("sp-incident-title", "New incident");
  const maintenanceForm = formShell("sp-maintenance-title", "Schedule maintenance");

  function buildIncidentForm() {
    const form = incidentForm;
    form.append(
      field(
        "sp-incident-name",
        "Name",
        el("input", { name: "name", type: "text", maxLength: 200 }),
      ),
      field(
        "sp-incident-body",
        "First update",
        el("textarea", { name: "body", rows: 3, maxLength: 10000 }),
      ),
      field(
        "sp-incident-status",
        "Status",
        el("select", { name: "status" }, ...statusOptions(INCIDENT_STATUSES, "investigating")),
      ),
      field(
        "sp-incident-impact",
        "Impact",
        el("select", { name: "impact" }, ...statusOptions(IMPACTS, "", { any: "From the components" })),
      ),
      el(
        "fieldset",
        { class: "statuspage-components-choice" },
        el("legend", { text: "Affected components" }),
        ...components.map((c) =>
          field(
            `sp-incident-component-${c.key}`,
            c.name,
            el(
              "select",
              { name: `components.${c.key}` },
              ...statusOptions(DECLARABLE, "", { any: "Not affected" }),
            ),
          ),
        ),
      ),
      checkbox("sp-incident-publish", "publish", "Publish now (unchecked: saved as a draft)", {
        checked: true,
      }),
      el("button", { type: "submit", "data-action": "create-incident", text: "Open incident" }),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const values = formValues(form);
      const body = {
        name: values.name || "",
        body: values.body || "",
        status: values.status,
        components: values.components || {},
        publish: Boolean(values.publish),
      };
      if (values.impact) body.impact = values.impact;
      act(
        form.querySelector("button[type=submit]"),
        () => api.post("/api/v1/status/incidents", body),
        body.publish ? `Incident opened: ${body.name}` : `Draft saved: ${body.name}`,
        form,
      ).then((ok) => {
        if (ok) {
          form.reset();
        }
      });
    });
  }

  function buildMaintenanceForm() {
    const form = maintenanceForm;
    const start = new Date(Date.now() + 24 * 3600 * 1000);
    start.setMinutes(0, 0, 0);
    const end = new Date(start.getTime() + 2 * 3600 * 1000);
    form.append(
      field(
        "sp-maintenance-name",
        "Name",
        el("input", { name: "name", type: "text", maxLength: 200 }),
      ),
      field(
        "sp-maintenance-body",
        "Description",
        el("textarea", { name: "body", rows: 3, maxLength: 10000 }),
      ),
      el(
        "fieldset",
        { class: "statuspage-components-choice", name: "components" },
        el("legend", { text: "Components" }),
        ...components.map((c) =>
          checkbox(`sp-maintenance-component-${c.key}`, "component", c.name, { value: c.key }),
        ),
      ),
      field(
        "sp-maintenance-start",
        "Starts",
        el("input", { name: "scheduled_for", type: "datetime-local", value: localInput(start) }),
        "In your time zone.",
      ),
      field(
        "sp-maintenance-end",
        "Ends",
        el("input", { name: "scheduled_until", type: "datetime-local", value: localInput(end) }),
        "In your time zone.",
      ),
      checkbox(
        "sp-maintenance-auto",
        "auto_transition",
        "Start and complete by itself on its window",
        { checked: true },
      ),
      el("button", {
        type: "submit",
        "data-action": "schedule-maintenance",
        text: "Schedule maintenance",
      }),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = (name) => form.elements.namedItem(name).value;
      const body = {
        name: value("name"),
        body: value("body"),
        components: [...form.querySelectorAll("input[name=component]:checked")].map((i) => i.value),
        auto_transition: form.elements.namedItem("auto_transition").checked,
      };
      if (value("scheduled_for")) body.scheduled_for = isoOf(value("scheduled_for"));
      if (value("scheduled_until")) body.scheduled_until = isoOf(value("scheduled_until"));
      act(
        form.querySelector("button[type=submit]"),
        () => api.post("/api/v1/status/maintenances", body),
        `Maintenance scheduled: ${body.name}`,
        form,
      ).then((ok) => {
        if (ok) {
          form.elements.namedItem("name").value = "";
          form.elements.namedItem("body").value = "";
          for (const box of form.querySelectorAll("input[name=component]")) box.checked = false;
        }
      });
    });
  }

  const createSection = el(
    "section",
    { "aria-labelledby": "sp-create-title" },
    el("h2", { id: "sp-create-title", text: "Announce" }),
    el("div", { class: "statuspage-forms" }, incidentForm, maintenanceForm),
  );

  root.append(
    el("h1", { text: "Status page" }),
    notice,
    componentSection,
    draftSection,
    openSection,
    createSection,
  );

  // ---------------------------------------------------------------- reading

  async function refresh() {
    const mine = ++generation;
    const [componentBody, draftBody, summary] = await Promise.all([
      api.get("/api/v1/status/components"),
      api.get("/api/v1/status/drafts?limit=100"),
      api.get("/api/v1/status"),
    ]);
    if (mine !== generation || stopped) return;
    components = componentBody.data;
    reconcile(componentRows, components, (c) => c.key, componentRow, updateComponentRow);
    const drafts = draftBody.data;
    reconcile(draftList, drafts, (d) => d.id, draftItem, updateDraftItem);
    draftsEmpty.hidden = drafts.length > 0;
    const open = [...summary.data.incidents, ...summary.data.scheduled_maintenances];
    reconcile(openList, open, (i) => i.id, openItem, updateOpenItem);
    openEmpty.hidden = open.length > 0;
  }

  await refresh();
  buildIncidentForm();
  buildMaintenanceForm();

  function schedule() {
    timer = window.setTimeout(async () => {
      try {
        await refresh();
        notice.hidden = true;
      } catch (error) {
        fail(error);
      }
      if (!stopped) schedule();
    }, POLL_MS);
  }
  schedule();

  return () => {
    stopped = true;
    generation += 1;
    window.clearTimeout(timer);
  };
}
