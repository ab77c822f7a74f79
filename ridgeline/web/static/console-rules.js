// The console's alert rules (#/alerts/rules): every built-in rule with its defaults, the
// organization's override and, for the store chosen, the store's, and the settings in effect
// (store over organization over default, one field at a time). Org admins set or remove the
// organization's override; store managers (and up) the chosen store's. A PUT replaces the
// whole override, so each form holds the override as set: an empty field is inherited, and a
// form with nothing set removes the override. Forms show the API's own errors beside the field.

import { clearErrors, field, showError } from "./forms.js";
import { el } from "./dom.js";
import { badge, messageOf } from "./ui.js";

const SEVERITIES = ["critical", "warning", "info"];
const STORE_PAGES = 10; // stores offered in the picker: 10 pages of 200
// The platform organization's slug (alerts/platform.py): rules about Ridgeline itself live there.
const PLATFORM_SLUG = "ridgeline.platform";
// Every setting a rule has; `organization`: only an organization may set it (a group of
// alerts spans stores).
const SETTINGS = [
  { name: "enabled", label: "Enabled" },
  { name: "severity", label: "Severity" },
  { name: "threshold", label: "Threshold", step: "any" },
  {
    name: "for_s",
    label: "For (s)",
    step: "1",
    hint: "How long the condition must hold before the alert fires (pending until then).",
  },
  {
    name: "group_wait_s",
    short: "wait",
    label: "Group wait (s)",
    step: "1",
    organization: true,
    hint: "A new group's first notification waits this long for more alerts.",
  },
  {
    name: "group_interval_s",
    short: "interval",
    label: "Group interval (s)",
    step: "1",
    organization: true,
    hint: "A change of the group is told at most this often.",
  },
  {
    name: "repeat_interval_s",
    short: "repeat",
    label: "Repeat interval (s)",
    step: "1",
    organization: true,
    hint: "A group still firing, unchanged, is told again this often.",
  },
];
const GROUPING = SETTINGS.filter((spec) => spec.organization);

// 90 -> "90 s", 300 -> "5 min", 14400 -> "4 h", 172800 -> "2 d".
function duration(seconds) {
  for (const [size, unit] of [
    [86400, "d"],
    [3600, "h"],
    [60, "min"],
  ]) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size} ${unit}`;
  }
  return `${seconds} s`;
}

function hasThreshold(rule) {
  return rule.threshold_unit !== null || rule.defaults.threshold !== null;
}

// A setting's value in words ("5 consecutive failed runs", "at once", "off").
function shown(rule, name, value) {
  if (value === null || value === undefined) return "none";
  if (name === "enabled") return value ? "on" : "off";
  if (name === "severity") return value;
  if (name === "threshold") {
    return rule.threshold_unit ? `${value} ${rule.threshold_unit}` : String(value);
  }
  if (name === "for_s") return value === 0 ? "at once" : duration(value);
  return duration(value);
}

// Where the effective value of a setting comes from: "store", "organization" or "default".
function sourceOf(rule, name) {
  if (rule.store_override && name in rule.store_override) return "store";
  if (rule.organization_override && name in rule.organization_override) return "organization";
  return "default";
}

function settingsOf(rule) {
  return SETTINGS.filter((spec) => spec.name !== "threshold" || hasThreshold(rule));
}

export async function render(root, ctx) {
  const { api, can } = ctx;
  const platform = ctx.me.role === "platform_admin";
  let organizations = [];
  let organizationId = ctx.me.organization_id || null;
  let stores = [];
  let storeId = "";
  let rules = [];
  let editing = null; // the name of the rule whose editor is open
  let generation = 0;

  const storeName = () => (stores.find((store) => store.id === storeId) || {}).name || storeId;
  const canEditOrganization = () => can("org_admin");
  const canEditStore = () => can("store_manager") && storeId !== "";

  // ---------------------------------------------------------------- skeleton

  const heading = el("h1", { text: "Alert rules" });
  const lead = el(
    "p",
    { class: "lead" },
    "The built-in rules that raise ",
    el("a", { href: "#/alerts", text: "alerts" }),
    ". Each setting is the store's if it set one, else the organization's, else the rule's default.",
  );
  const who = el("p", {
    class: "muted",
    text: can("org_admin")
      ? "You change the organization's settings, and a store's once you choose it."
      : can("store_manager")
        ? "Choose a store to change its settings; organization admins change the organization's."
        : "Organization admins change the organization's settings; store managers their stores'.",
  });
  const organizationSelect = el("select", { name: "organization_id" });
  const storeSelect = el("select", { name: "store_id" });
  const picker = el(
    "form",
    { class: "toolbar", "aria-label": "Choose whose settings to show" },
    platform ? field("rules-organization", "Organization", organizationSelect) : null,
    field(
      "rules-store",
      "Store",
      storeSelect,
      "Its overrides show next to the organization's.",
    ),
  );
  const storesNote = el("p", { class: "muted small", hidden: true });
  const notice = el("p", { class: "notice bad", role: "alert", hidden: true });
  const caption = el("caption", { class: "visually-hidden" });
  const headRow = el("tr");
  const tbody = el("tbody");
  const table = el("table", { class: "alerts rules" }, caption, el("thead", {}, headRow), tbody);
  // The open rule's editor, in a row under the rule's: kept (not redrawn) while it is open, so
  // saving neither loses what is typed in the other form nor the focus.
  const editor = el("section", {
    id: "rule-editor",
    "aria-labelledby": "rule-editor-title",
    class: "card",
  });
  const editorCell = el("td", {}, editor);
  const editorRow = el("tr", { "data-rule-editor": "" }, editorCell);
  root.append(
    heading,
    lead,
    who,
    picker,
    storesNote,
    notice,
    el(
      "section",
      { "aria-labelledby": "rules-title" },
      el("h2", { id: "rules-title", text: "Rules" }),
      el("div", { class: "table-wrap", "aria-live": "off" }, table),
    ),
  );

  function fail(error) {
    notice.textContent = messageOf(error);
    notice.hidden = false;
  }

  // ---------------------------------------------------------------- the rules table

  // One setting's effective value, with where it comes from when that is not the default.
  function settingNode(tag, rule, spec, prefix = "") {
    const source = sourceOf(rule, spec.name);
    const value = rule.effective[spec.name];
    const node = el(tag, { "data-field": spec.name, "data-source": source });
    if (spec.name === "severity") node.append(badge(value));
    else {
      const text = el("span", { text: `${prefix}${shown(rule, spec.name, value)}` });
      text.style.whiteSpace = "nowrap"; // a short value on one line (a style CSP allows)
      node.append(text);
    }
    if (source !== "default") {
      node.append(
        el(
          "div",
          { class: "muted small" },
          el("strong", { text: `${source} override` }),
          `, default ${shown(rule, spec.name, rule.defaults[spec.name])}`,
        ),
      );
    }
    return node;
  }

  function ruleRow(rule) {
    const overridden = [
      rule.organization_override ? "organization" : null,
      rule.store_override ? "store" : null,
    ].filter(Boolean);
    const spec = (name) => SETTINGS.find((s) => s.name === name);
    const tr = el(
      "tr",
      { "data-rule-name": rule.name, "data-overridden": overridden.join(" ") },
      el(
        "td",
        {},
        el("code", { text: rule.name }),
        el("div", { class: "muted small", text: rule.summary }),
        el("div", {
          class: "muted small",
          text:
            `${rule.source === "event" ? "Raised when it happens" : "Judged every 30 s"}; ` +
            `runbook: docs/operations.md#${rule.runbook}`,
        }),
      ),
      settingNode("td", rule, spec("enabled")),
      settingNode("td", rule, spec("severity")),
      hasThreshold(rule)
        ? settingNode("td", rule, spec("threshold"))
        : el("td", { class: "muted", "data-field": "threshold", text: "none" }),
      settingNode("td", rule, spec("for_s")),
      el(
        "td",
        {},
        ...GROUPING.map((grouping) => settingNode("div", rule, grouping, `${grouping.short} `)),
      ),
    );
    if (canEditOrganization() || canEditStore()) {
      const edit = el("button", {
        type: "button",
        class: "secondary",
        "data-action": "edit-rule",
        text: "Edit",
        "aria-label": `Edit ${rule.name}`,
        "aria-controls": "rule-editor",
        "aria-expanded": editing === rule.name ? "true" : "false",
      });
      edit.addEventListener("click", () => openEditor(rule.name));
      tr.append(el("td", {}, edit));
    }
    return tr;
  }

  // Redraws the rules' rows in place (the editor's row stays where it is while its rule's
  // row is there).
  function renderTable() {
    const headings = ["Rule", "Enabled", "Severity", "Threshold", "For", "Grouping"];
    if (canEditOrganization() || canEditStore()) headings.push("Actions");
    caption.textContent = storeId
      ? `Alert rules in effect for ${storeName()}`
      : "Alert rules in effect for the organization";
    headRow.replaceChildren(...headings.map((text) => el("th", { scope: "col", text })));
    editorCell.colSpan = headings.length;
    const rows = new Map(
      [...tbody.querySelectorAll("tr[data-rule-name]")].map((tr) => [tr.dataset.ruleName, tr]),
    );
    const same =
      rows.size === rules.length && rules.every((rule) => rows.has(rule.name));
    if (!same) tbody.replaceChildren(...rules.map(ruleRow));
    else {
      for (const rule of rules) rows.get(rule.name).replaceWith(ruleRow(rule));
    }
    const editingRow = editing && tbody.querySelector(`tr[data-rule-name="${editing}"]`);
    if (!editingRow) editorRow.remove();
    else if (editingRow.nextElementSibling !== editorRow) editingRow.after(editorRow);
  }

  async function loadRules() {
    const mine = ++generation;
    const params = new URLSearchParams();
    if (platform && organizationId) params.set("organization_id", organizationId);
    if (storeId) params.set("store_id", storeId);
    const query = params.toString();
    const body = await api.get(`/api/v1/alert-rules${query ? `?${query}` : ""}`);
    if (mine !== generation) return false;
    // Rules about Ridgeline itself (`scope: platform`) are raised in the platform organization
    // only: elsewhere an override of them would change nothing, so they are not offered.
    const chosen = organizations.find((org) => org.id === organizationId);
    const platformOrganization = platform && chosen !== undefined && chosen.slug === PLATFORM_SLUG;
    rules = body.data.filter((rule) => rule.scope !== "platform" || platformOrganization);
    notice.hidden = true;
    renderTable();
    return true;
  }

  // ---------------------------------------------------------------- the editor

  const editorTitle = el("h3", { id: "rule-editor-title", tabindex: "-1" });
  const comparison = el("div", { class: "table-wrap" });
  const editorResult = el("p", { class: "step-result", role: "status" });
  const forms = el("div", { class: "grid-2" });
  const close = el("button", { type: "button", class: "secondary", text: "Close" });
  close.addEventListener("click", () => closeEditor());
  editor.append(
    editorTitle,
    comparison,
    editorResult,
    forms,
    el("div", { class: "toolbar" }, close),
  );
  let organizationForm = null;
  let storeForm = null;

  function ruleNamed(name) {
    return rules.find((rule) => rule.name === name);
  }

  function renderComparison(rule) {
    const columns = ["Setting", "Default", "Organization"];
    if (storeId) columns.push(`Store: ${storeName()}`);
    columns.push("In effect");
    const set = (override, name) =>
      override && name in override
        ? el("td", { text: shown(rule, name, override[name]) })
        : el("td", { class: "muted", text: "inherited" });
    comparison.replaceChildren(
      el(
        "table",
        { class: "rule-comparison" },
        el("caption", {
          class: "visually-hidden",
          text: `${rule.name}: defaults, overrides and the settings in effect`,
        }),
        el("thead", {}, el("tr", {}, ...columns.map((text) => el("th", { scope: "col", text })))),
        el(
          "tbody",
          {},
          ...settingsOf(rule).map((spec) =>
            el(
              "tr",
              { "data-setting": spec.name },
              el("th", { scope: "row", text: spec.label.replace(" (s)", "") }),
              el("td", { text: shown(rule, spec.name, rule.defaults[spec.name]) }),
              set(rule.organization_override, spec.name),
              storeId
                ? spec.organization
                  ? el("td", { class: "muted", text: "organization only" })
                  : set(rule.store_override, spec.name)
                : null,
              settingNode("td", rule, spec),
            ),
          ),
        ),
      ),
    );
  }

  // The inputs of an override form: empty is inherited (from the default for the
  // organization's, from the organization's or the default for a store's).
  function overrideInput(rule, spec, prefix) {
    const id = `${prefix}-${spec.name.replaceAll("_", "-")}`;
    let input;
    if (spec.name === "enabled") {
      input = el(
        "select",
        { name: "enabled" },
        el("option", { value: "", text: "Inherit" }),
        el("option", { value: "true", text: "On" }),
        el("option", { value: "false", text: "Off" }),
      );
    } else if (spec.name === "severity") {
      input = el(
        "select",
        { name: "severity" },
        el("option", { value: "", text: "Inherit" }),
        ...SEVERITIES.map((value) => el("option", { value, text: value })),
      );
    } else {
      input = el("input", {
        name: spec.name,
        type: "number",
        step: spec.step,
        inputmode: "decimal",
      });
    }
    const label =
      spec.name === "threshold" && rule.threshold_unit
        ? `Threshold (${rule.threshold_unit})`
        : spec.label;
    return field(id, label, input, "Empty: inherited.");
  }

  // Puts the override as set in the form, and what an empty field inherits in its hint.
  function fillForm(form, rule) {
    const store = form.dataset.level === "store";
    const override = (store ? rule.store_override : rule.organization_override) || {};
    for (const spec of settingsOf(rule)) {
      const input = form.elements.namedItem(spec.name);
      if (!input) continue;
      const value = override[spec.name];
      input.value = value === undefined || value === null ? "" : String(value);
      const fromOrganization =
        store && rule.organization_override && spec.name in rule.organization_override;
      const inherited = fromOrganization
        ? rule.organization_override[spec.name]
        : rule.defaults[spec.name];
      const hint = form.querySelector(`#${input.id}-hint`);
      const whose = fromOrganization ? "the organization's" : "default";
      hint.textContent = [`Empty: ${shown(rule, spec.name, inherited)} (${whose}).`, spec.hint || ""]
        .filter(Boolean)
        .join(" ");
    }
    form.querySelector("[data-remove]").hidden = !Object.keys(override).length;
  }

  // The body of a PUT from the form: the fields set; null when one is not a number.
  function bodyOf(form, rule) {
    const body = {};
    const errors = [];
    for (const spec of settingsOf(rule)) {
      const input = form.elements.namedItem(spec.name);
      if (!input) continue;
      if (input.validity && input.validity.badInput) {
        errors.push({ loc: ["body", spec.name], message: "Enter a number." });
        continue;
      }
      if (input.value === "") continue;
      if (spec.name === "enabled") body.enabled = input.value === "true";
      else if (spec.name === "severity") body.severity = input.value;
      else body[spec.name] = Number(input.value);
    }
    return { body, errors };
  }

  function overrideForm(rule, level) {
    const store = level === "store";
    const prefix = `${level}-rule`;
    const what = store ? `${storeName()}'s override` : "Organization override";
    const form = el("form", {
      class: "console-form",
      novalidate: true,
      "aria-labelledby": `${prefix}-title`,
      "data-level": level,
    });
    const remove = el("button", {
      type: "button",
      class: "secondary",
      "data-action": store ? "remove-store-rule" : "remove-organization-rule",
      "data-remove": "",
      text: store ? "Remove store override" : "Remove organization override",
    });
    form.append(
      el("h4", { id: `${prefix}-title`, text: what }),
      el("p", {
        class: "muted small",
        text: store
          ? "The store's own settings of this rule, over the organization's. Grouping is the organization's only."
          : "The organization's settings of this rule, for every store that sets none.",
      }),
      el("p", { class: "form-error", "data-form-error": "", role: "alert" }),
      ...settingsOf(rule)
        .filter((spec) => !(store && spec.organization))
        .map((spec) => overrideInput(rule, spec, prefix)),
      el(
        "div",
        { class: "toolbar" },
        el("button", {
          type: "submit",
          "data-action": store ? "save-store-rule" : "save-organization-rule",
          text: store ? "Save store override" : "Save organization override",
        }),
        remove,
      ),
    );
    const path = () =>
      store
        ? `/api/v1/stores/${storeId}/alert-rules/${rule.name}`
        : `/api/v1/alert-rules/${rule.name}`;
    const deletePath = () =>
      !store && platform && organizationId
        ? `${path()}?organization_id=${encodeURIComponent(organizationId)}`
        : path();

    async function send(button, work, done) {
      clearErrors(form);
      editorResult.textContent = "";
      button.disabled = true;
      try {
        await work();
        await loadRules();
        showRule();
        editorResult.textContent = done;
        editorResult.className = "step-result ok";
        ctx.announce(done);
      } catch (error) {
        showError(form, error);
      } finally {
        button.disabled = false;
        // A removed override hides its Remove button: the focus goes to the form's Save.
        if (button.hidden) form.querySelector("button[type=submit]").focus();
      }
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      const { body, errors } = bodyOf(form, ruleNamed(rule.name) || rule);
      if (errors.length) {
        showError(form, { message: "", fields: errors });
        return;
      }
      if (!Object.keys(body).length) {
        // Nothing set: every setting inherited, which is no override at all.
        send(button, () => api.delete(deletePath()), `${what} of ${rule.name} removed.`);
        return;
      }
      if (!store && platform && organizationId) body.organization_id = organizationId;
      send(button, () => api.put(path(), body), `${what} of ${rule.name} saved.`);
    });
    remove.addEventListener("click", () =>
      send(remove, () => api.delete(deletePath()), `${what} of ${rule.name} removed.`),
    );
    fillForm(form, rule);
    return form;
  }

  // Draws the open rule's comparison, and refills its forms with what is set now.
  function showRule() {
    const rule = editing && ruleNamed(editing);
    if (!rule) return;
    renderComparison(rule);
    if (organizationForm) fillForm(organizationForm, rule);
    if (storeForm) fillForm(storeForm, rule);
  }

  function buildEditor() {
    const rule = ruleNamed(editing);
    if (!rule) {
      closeEditor();
      return;
    }
    editorTitle.textContent = `Settings of ${rule.name}`;
    editorResult.textContent = "";
    organizationForm = canEditOrganization() ? overrideForm(rule, "organization") : null;
    storeForm = canEditStore() ? overrideForm(rule, "store") : null;
    const parts = [organizationForm, storeForm].filter(Boolean);
    if (!storeForm && can("store_manager")) {
      parts.push(el("p", { class: "muted", text: "Choose a store above to set its override." }));
    }
    forms.replaceChildren(...parts);
    showRule();
  }

  function openEditor(name) {
    editing = name;
    renderTable();
    buildEditor();
    editorTitle.focus();
  }

  function closeEditor() {
    const name = editing;
    editing = null;
    forms.replaceChildren();
    organizationForm = null;
    storeForm = null;
    renderTable();
    const button = name && tbody.querySelector(`tr[data-rule-name="${name}"] button`);
    if (button) button.focus();
  }

  // ---------------------------------------------------------------- stores and organizations

  async function loadStores() {
    const found = [];
    let cursor = null;
    let pages = 0;
    do {
      const params = new URLSearchParams({ limit: "200" });
      if (platform && organizationId) params.set("organization_id", organizationId);
      if (cursor) params.set("cursor", cursor);
      const body = await api.get(`/api/v1/stores?${params}`);
      found.push(...body.data);
      cursor = body.meta.next_cursor;
      pages += 1;
    } while (cursor && pages < STORE_PAGES);
    stores = found.sort((a, b) => a.name.localeCompare(b.name));
    storesNote.hidden = !cursor;
    storesNote.textContent = cursor ? `The first ${stores.length} stores are offered.` : "";
    storeSelect.replaceChildren(
      el("option", { value: "", text: "None: the organization's settings only" }),
      ...stores.map((store) => el("option", { value: store.id, text: store.name })),
    );
    storeId = "";
  }

  async function reload() {
    if (await loadRules()) {
      if (editing) buildEditor();
    }
  }

  storeSelect.addEventListener("change", () => {
    storeId = storeSelect.value;
    reload().catch(fail);
  });
  organizationSelect.addEventListener("change", async () => {
    organizationId = organizationSelect.value;
    try {
      await loadStores();
      await reload();
    } catch (error) {
      fail(error);
    }
  });
  picker.addEventListener("submit", (event) => event.preventDefault());

  if (platform) {
    organizations = (await api.get("/api/v1/organizations?limit=200")).data;
    organizationId = organizations.length ? organizations[0].id : null;
    organizationSelect.replaceChildren(
      ...organizations.map((org) => el("option", { value: org.id, text: org.name })),
    );
  }
  await loadStores();
  await loadRules();
  return () => {
    generation += 1;
  };
}
