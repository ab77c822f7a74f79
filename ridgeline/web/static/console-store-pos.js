// The store view's POS credentials form: the fields of each provider's config model
// (ridgeline/pos/adapters/*.py, kept in step by tests/web/test_console_store_page.py), named
// after the body of `PUT /api/v1/stores/{id}/pos` ("config.api_key") so the API's errors land
// beside their field. Secrets are never pre-filled: `GET .../pos` shows them as ********, and
// only the settings that are not secret fill the form.

import { el } from "./dom.js";
import { clearErrors, formValues, showError } from "./forms.js";

const SECRET_MARK = "********";

// name, label, and: secret (a password input, never filled), optional, multiline, hint.
export const PROVIDERS = {
  dutchie: {
    label: "Dutchie",
    fields: [
      { name: "base_url", label: "Base URL", hint: "https://api.pos.dutchie.com" },
      { name: "api_key", label: "Location API key", secret: true },
      {
        name: "integrator_key",
        label: "Integrator key",
        secret: true,
        optional: true,
        hint: "Sent as the Basic password when set.",
      },
      {
        name: "consumer_key",
        label: "Consumer key",
        secret: true,
        hint: "Sent on preorder calls.",
      },
    ],
  },
  treez: {
    label: "Treez",
    fields: [
      { name: "base_url", label: "Base URL", hint: "https://api-prod.treez.io" },
      { name: "dispensary", label: "Dispensary", hint: "The store's Treez subdomain." },
      { name: "certificate_id", label: "Certificate id", hint: "The JWT iss." },
      { name: "organization_id", label: "Organization id", hint: "The JWT oid." },
      {
        name: "private_key_pem",
        label: "Private key (PEM)",
        secret: true,
        multiline: true,
        hint: "An RSA key of at least 2048 bits.",
      },
    ],
  },
  blaze: {
    label: "BLAZE",
    fields: [
      { name: "base_url", label: "Base URL", hint: "https://api.partners.blaze.me/api/v1/partner" },
      { name: "partner_key", label: "Partner key", secret: true, hint: "The integrator's key." },
      { name: "api_key", label: "Dispensary API key", secret: true },
      {
        name: "shop_id",
        label: "Shop id",
        optional: true,
        hint: "Filled in when webhooks are registered.",
      },
    ],
  },
  flowhub: {
    label: "Flowhub",
    fields: [
      { name: "base_url", label: "Base URL", hint: "https://api.flowhub.co" },
      { name: "client_id", label: "Client id", hint: "The clientId header." },
      { name: "api_key", label: "API key", secret: true, hint: "The key header." },
      { name: "location_id", label: "Location id" },
      { name: "oauth_client_id", label: "OAuth client id" },
      { name: "oauth_client_secret", label: "OAuth client secret", secret: true },
      { name: "audience", label: "OAuth audience" },
    ],
  },
};

// Every provider's settings (PosConfig): kept as they are unless changed.
const COMMON = [
  { name: "connect_timeout_s", label: "Connect timeout (s)", number: true, optional: true },
  { name: "timeout_s", label: "Call timeout (s)", number: true, optional: true },
];

function fieldRow(field, current) {
  const id = `pos-${field.name.replace(/_/g, "-")}`;
  const hintId = `${id}-hint`;
  const hint = [field.optional ? "Optional." : "", field.hint || ""].filter(Boolean).join(" ");
  const attrs = {
    id,
    name: `config.${field.name}`,
    "aria-describedby": hint ? hintId : null,
    required: !field.optional,
    autocomplete: field.secret ? "new-password" : "off",
    spellcheck: "false",
  };
  let input;
  if (field.multiline) {
    input = el("textarea", { ...attrs, rows: "4" });
  } else if (field.secret) {
    input = el("input", { ...attrs, type: "password" });
  } else if (field.number) {
    input = el("input", { ...attrs, type: "number", step: "any", min: "0" });
  } else {
    input = el("input", {
      ...attrs,
      type: "text",
      inputmode: field.name === "base_url" ? "url" : null,
    });
  }
  // Settings that are not secret are shown as they stand; a secret never is.
  if (
    !field.secret &&
    current &&
    current[field.name] !== undefined &&
    current[field.name] !== null
  ) {
    if (current[field.name] !== SECRET_MARK) input.value = String(current[field.name]);
  }
  const label = el("label", { for: id, text: field.label + (field.secret ? " (secret)" : "") });
  return el(
    "div",
    { class: "row", "data-field": field.name },
    label,
    input,
    hint ? el("p", { class: "muted hint", id: hintId, text: hint }) : null,
  );
}

// The form, and a function that refills it from a fresh `GET .../pos` answer.
// onSaved(answer data) is called after a successful PUT.
export function credentialsForm({ api, storeId, pos, onSaved }) {
  const form = el("form", {
    id: "pos-credentials",
    novalidate: true,
    "aria-labelledby": "pos-credentials-title",
  });
  const title = el("h3", { id: "pos-credentials-title", text: "Update the POS credentials" });
  const note = el("p", {
    class: "muted",
    text: "Enter every secret again: stored secrets are never shown. Saving starts a recovery run at once.",
  });
  const region = el("p", { class: "form-error", "data-form-error": true, role: "alert" });
  const providerId = "pos-provider";
  const select = el("select", { id: providerId, name: "provider" });
  for (const [name, spec] of Object.entries(PROVIDERS)) {
    select.append(el("option", { value: name, text: spec.label }));
  }
  const fields = el("div", { class: "pos-fields" });
  const status = el("p", {
    class: "step-result",
    role: "status",
    "data-result": "credentials",
  });
  const submit = el("button", { type: "submit", text: "Save credentials" });
  form.append(
    title,
    note,
    region,
    el(
      "div",
      { class: "row" },
      el("label", { for: providerId, text: "POS provider" }),
      select,
    ),
    fields,
    submit,
    status,
  );
  let current = pos;

  function draw(provider) {
    const spec = PROVIDERS[provider];
    const config = current && current.provider === provider ? current.config : null;
    fields.replaceChildren(
      ...(spec ? [...spec.fields, ...COMMON] : []).map((field) => fieldRow(field, config)),
    );
  }

  function refill(answer) {
    current = answer;
    const provider =
      answer && answer.provider && PROVIDERS[answer.provider] ? answer.provider : "dutchie";
    select.value = provider;
    draw(provider);
  }

  select.addEventListener("change", () => {
    clearErrors(form);
    draw(select.value);
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    status.textContent = "";
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      const values = formValues(form);
      const body = { provider: values.provider, config: values.config || {} };
      const answer = (await api.put(`/api/v1/stores/${storeId}/pos`, body)).data;
      form.reset();
      refill(answer);
      status.textContent = answer.recovery_run_id
        ? "Credentials saved. A recovery run started."
        : "Credentials saved.";
      status.className = "step-result ok";
      if (onSaved) onSaved(answer);
    } catch (error) {
      showError(form, error);
      status.textContent = "The credentials were not saved.";
      status.className = "step-result bad";
    } finally {
      submit.disabled = false;
      form.setAttribute("aria-busy", "false");
    }
  });

  refill(pos);
  return { form, refill };
}
