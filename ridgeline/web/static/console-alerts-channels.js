// The alerts view's channel form: create or edit a notification channel with the settings of
// its kind (ridgeline/alerts/channels.py's config models, kept in step by
// tests/web/test_console_alerts_channels.py). Fields are named after the API's body
// ("config.url") so its errors land beside them. Secrets are never shown: the API answers them
// as ********, the form leaves them empty, and an empty secret on edit sends ******** back,
// which keeps the stored one.

import { el } from "./dom.js";
import { checkboxField, clearErrors, formValues, submitting } from "./forms.js";

const SECRET_MARK = "********";

// name, label, and: secret, optional, number, list (comma separated), choices, hint.
export const KINDS = {
  webhook: {
    label: "Signed webhook",
    fields: [
      { name: "url", label: "URL", hint: "Receives a signed JSON POST." },
      { name: "secret", label: "Signing secret", secret: true, hint: "At least 16 characters." },
      { name: "timeout_s", label: "Timeout (s)", number: true, optional: true },
    ],
  },
  slack: {
    label: "Slack",
    fields: [
      { name: "url", label: "Incoming webhook URL", secret: true },
      { name: "timeout_s", label: "Timeout (s)", number: true, optional: true },
    ],
  },
  pagerduty: {
    label: "PagerDuty",
    fields: [
      { name: "routing_key", label: "Routing key", secret: true },
      { name: "url", label: "Events API URL", optional: true },
      { name: "source", label: "Source", optional: true },
      { name: "timeout_s", label: "Timeout (s)", number: true, optional: true },
    ],
  },
  email: {
    label: "Email",
    fields: [
      { name: "host", label: "SMTP host" },
      { name: "port", label: "Port", number: true, optional: true },
      { name: "security", label: "Security", choices: ["starttls", "tls", "none"], optional: true },
      { name: "username", label: "Username", optional: true },
      { name: "password", label: "Password", secret: true, optional: true },
      { name: "from_address", label: "From" },
      { name: "to_addresses", label: "To", list: true, hint: "Addresses, comma separated." },
      { name: "timeout_s", label: "Timeout (s)", number: true, optional: true },
    ],
  },
  ops: { label: "Ops stream (the console)", fields: [] },
};

function field(spec, current, prefix) {
  const id = `${prefix}-${spec.name.replace(/_/g, "-")}`;
  const value = current === undefined || current === null || current === SECRET_MARK ? "" : current;
  let input;
  if (spec.choices) {
    input = el(
      "select",
      { id, name: `config.${spec.name}` },
      spec.choices.map((choice) =>
        el("option", { value: choice, text: choice, selected: choice === value }),
      ),
    );
  } else {
    input = el("input", {
      id,
      name: `config.${spec.name}`,
      type: spec.secret ? "password" : spec.number ? "number" : "text",
      step: spec.number ? "any" : null,
      autocomplete: spec.secret ? "new-password" : "off",
      value: spec.secret ? null : Array.isArray(value) ? value.join(", ") : String(value),
      placeholder: spec.secret && current === SECRET_MARK ? "set (leave empty to keep)" : null,
      "data-list": spec.list ? "" : null,
    });
  }
  const hints = [spec.optional ? "Optional." : "", spec.hint || ""].filter(Boolean).join(" ");
  const row = el("div", { class: "row" }, el("label", { for: id, text: spec.label }), input);
  if (hints) {
    row.append(el("p", { class: "muted small", id: `${id}-hint`, text: hints }));
    input.setAttribute("aria-describedby", `${id}-hint`);
  }
  return row;
}

// The body for POST (create) or PUT (edit) from the form's values.
function bodyOf(form, kind, editing, organizationId) {
  const values = formValues(form);
  const config = {};
  for (const spec of KINDS[kind].fields) {
    const raw = values.config ? values.config[spec.name] : undefined;
    if (raw === undefined || raw === "") {
      if (spec.secret && editing && editing.config[spec.name] === SECRET_MARK) {
        config[spec.name] = SECRET_MARK;
      }
      continue;
    }
    config[spec.name] = spec.list
      ? String(raw)
          .split(",")
          .map((item) => item.trim())
          .filter(Boolean)
      : raw;
  }
  const body = { name: values.name || "", config, enabled: Boolean(values.enabled) };
  if (!editing) {
    body.kind = kind;
    if (organizationId) body.organization_id = organizationId;
  }
  return body;
}

// A form for a new channel (`channel` null) or for editing one; `organizationId()` names the
// new channel's organization (platform admins) or is null; `onSaved(channel)` after the API
// accepted it, `onCancel()` when the operator gives up.
export function channelForm({ api, channel, organizationId, onSaved, onCancel }) {
  const prefix = channel ? `channel-${channel.id}` : "channel-new";
  let kind = channel ? channel.kind : "webhook";
  const settings = el("fieldset", {}, el("legend", { text: "Settings" }));
  const kindSelect = el(
    "select",
    { id: `${prefix}-kind`, name: "kind", disabled: Boolean(channel) },
    Object.entries(KINDS).map(([value, spec]) =>
      el("option", { value, text: spec.label, selected: value === kind }),
    ),
  );
  const form = el(
    "form",
    { class: "card", novalidate: true, "data-channel-form": channel ? channel.id : "new" },
    el("h3", { text: channel ? `Edit ${channel.name}` : "New channel" }),
    el("p", { class: "form-error", "data-form-error": "", role: "alert" }),
    el(
      "div",
      { class: "row" },
      el("label", { for: `${prefix}-name`, text: "Name" }),
      el("input", {
        id: `${prefix}-name`,
        name: "name",
        type: "text",
        value: channel ? channel.name : "",
        required: true,
        maxlength: "100",
      }),
    ),
    el(
      "div",
      { class: "row" },
      el("label", { for: `${prefix}-kind`, text: "Kind" }),
      kindSelect,
    ),
    settings,
    checkboxField(
      `${prefix}-enabled`,
      "Enabled",
      el("input", { name: "enabled", type: "checkbox", checked: channel ? channel.enabled : true }),
    ),
    el(
      "div",
      { class: "toolbar" },
      el("button", { type: "submit", "data-action": "save-channel", text: "Save channel" }),
      el("button", { type: "button", class: "secondary", "data-cancel": "", text: "Cancel" }),
    ),
  );

  function showSettings() {
    const current = channel ? channel.config : {};
    settings.replaceChildren(
      el("legend", { text: `${KINDS[kind].label} settings` }),
      ...KINDS[kind].fields.map((spec) => field(spec, current[spec.name], prefix)),
    );
    if (!KINDS[kind].fields.length) {
      settings.append(el("p", { class: "muted", text: "Nothing to set: it shows in the console." }));
    }
  }

  kindSelect.addEventListener("change", () => {
    kind = kindSelect.value;
    clearErrors(form);
    showSettings();
  });
  form.querySelector("[data-cancel]").addEventListener("click", () => onCancel());
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitting(form, async () => {
      const body = bodyOf(form, kind, channel, organizationId ? organizationId() : null);
      const saved = channel
        ? await api.put(`/api/v1/alert-channels/${channel.id}`, body)
        : await api.post("/api/v1/alert-channels", body);
      onSaved(saved.data);
    });
  });
  showSettings();
  return form;
}
