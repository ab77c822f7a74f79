// The store view's compliance and taxes (docs/compliance.md): the jurisdiction profile with the
// limits its orders are checked by, and the tax schedule in effect with the ones that begin
// later. Organization admins change the profile and its overrides (JSON, as the API takes them;
// a refusal lists each field at fault by its place in the body) and the tax schedules (a form:
// console-store-taxes.js).

import { el } from "./dom.js";
import { field, formCard, showError, submitting, succeeded } from "./forms.js";
import { taxesForm } from "./console-store-taxes.js";
import { dataTable, messageOf, options, section, words } from "./ui.js";

const NO_PROFILE = "";

function figure(value, unit) {
  return value === null || value === undefined ? "none" : `${value} ${unit}`;
}

function rateOf(tax) {
  return tax.basis === "price" ? `${tax.rate} %` : `${tax.rate}\u00a2 per ${tax.unit}`;
}

// A refusal's fields by their place in the body ("overrides.limits.flower.adult_use: ..."): the
// JSON text area has no input per field to show them beside.
function showRefusal(form, error) {
  const fields = Array.isArray(error.fields) ? error.fields : [];
  const listed = fields.map(
    (f) => `${(f.loc || []).filter((part) => part !== "body").join(".")}: ${f.message}`,
  );
  showError(form, { message: [error.message, ...listed].join(" ") });
}

function parsed(form, text, what) {
  try {
    return { value: JSON.parse(text) };
  } catch (error) {
    showError(form, { message: `The ${what} are not valid JSON: ${error.message}` });
    return null;
  }
}

export function storeCompliance({ api, ctx, base, isAlive }) {
  const canAdmin = ctx.can("org_admin");
  const body = el("div");

  function limitsTable(compliance) {
    const effective = compliance.effective;
    if (!effective) return el("p", { class: "muted", text: "No profile: no purchase limit." });
    return dataTable(
      `Purchase limits (${effective.name})`,
      ["Category", "Period", "Adult use", "Medical"],
      effective.limits.map((limit) =>
        el(
          "tr",
          { "data-limit": limit.category },
          el("td", { text: words(limit.category) }),
          el("td", { text: words(limit.period) }),
          el("td", { text: figure(limit.adult_use, limit.unit) }),
          el("td", { text: figure(limit.medical, limit.unit) }),
        ),
      ),
      "No limit category.",
    );
  }

  function taxesTable(taxes) {
    const schedule = taxes.in_effect;
    const source = { store: "the store's own", profile: "the profile's state taxes", none: "none" };
    const parts = [
      el("p", {
        "data-taxes-source": taxes.source,
        text: `Taxes: ${source[taxes.source] || taxes.source}; each tax of each line rounded half up to the cent.`,
      }),
    ];
    if (!schedule) {
      parts.push(el("p", { class: "muted", text: "No tax schedule in effect: nothing is taxed." }));
    } else {
      parts.push(
        dataTable(
          `Taxes in effect since ${schedule.effective_from}`,
          ["Tax", "Kind", "Rate", "Falls on", "Paid by", "In the sales-tax base"],
          schedule.taxes.map((tax) =>
            el(
              "tr",
              { "data-tax": tax.key },
              el("td", { text: tax.name }),
              el("td", { text: words(tax.kind) }),
              el("td", { text: rateOf(tax) }),
              el("td", { text: tax.categories ? tax.categories.map(words).join(", ") : "all" }),
              el("td", { text: tax.customers.map(words).join(", ") }),
              el("td", { text: tax.kind === "excise" && tax.in_sales_tax_base ? "yes" : "" }),
            ),
          ),
          "No tax in this schedule.",
        ),
      );
    }
    for (const later of taxes.upcoming) {
      parts.push(
        el("p", {
          "data-upcoming": later.effective_from,
          text: `From ${later.effective_from}: ${later.taxes.map((t) => `${t.name} ${rateOf(t)}`).join(", ") || "no taxes"}.`,
        }),
      );
    }
    return parts;
  }

  function profileForm(profiles, compliance) {
    const form = formCard("compliance-form", "Profile and overrides");
    const choose = el(
      "select",
      { name: "profile" },
      options([NO_PROFILE, ...profiles.map((p) => p.key)], compliance.profile || NO_PROFILE, {
        label: (key) => (key === NO_PROFILE ? "None: no purchase limits" : words(key)),
      }),
    );
    const overrides = el("textarea", { name: "overrides", rows: "6", spellcheck: "false" });
    overrides.value = JSON.stringify(compliance.overrides, null, 2);
    form.append(
      field("compliance-profile", "Jurisdiction profile", choose),
      field(
        "compliance-overrides",
        "Overrides (JSON)",
        overrides,
        'For example {"limits": {"concentrate": {"unit": "g", "adult_use": 3.5}}}.',
      ),
      el("button", { type: "submit", text: "Save profile" }),
      form.result,
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const given = parsed(form, overrides.value || "{}", "overrides");
      if (!given) return;
      submitting(
        form,
        async () => {
          await api.put(`${base}/compliance`, {
            profile: choose.value === NO_PROFILE ? null : choose.value,
            overrides: given.value,
          });
          await refresh();
          succeeded(document.getElementById("compliance-form"), "Profile saved.");
        },
        { onError: (error) => showRefusal(form, error) },
      );
    });
    return form;
  }

  async function refresh() {
    let profiles;
    let compliance;
    let taxes;
    try {
      [profiles, compliance, taxes] = await Promise.all([
        api.get("/api/v1/compliance/profiles").then((r) => r.data),
        api.get(`${base}/compliance`).then((r) => r.data),
        api.get(`${base}/taxes`).then((r) => r.data),
      ]);
    } catch (error) {
      body.replaceChildren(el("p", { class: "notice bad", text: messageOf(error) }));
      return;
    }
    if (!isAlive()) return;
    body.replaceChildren(
      limitsTable(compliance),
      ...taxesTable(taxes),
      ...(canAdmin
        ? [profileForm(profiles, compliance), taxesForm({ api, base, taxes, refresh })]
        : []),
    );
  }

  return {
    section: section("store-compliance", "Compliance and taxes", body),
    refresh,
  };
}
