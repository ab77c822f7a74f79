// The store's tax schedules as a form (docs/compliance.md, "Taxes"): each schedule a day it
// takes effect and its taxes, each tax a row of inputs (kind, basis, rate, unit, the categories
// it falls on, who pays it). Inputs are named by their place in the API's body
// ("schedules.0.taxes.1.rate"), so a refusal is shown beside the input it names. Rates stay
// text: the API takes decimal strings, never numbers.

import { el } from "./dom.js";
import { CATEGORIES } from "./console-catalog-mapping.js";
import { checkboxField, field, formCard, showError, submitting, succeeded } from "./forms.js";
import { options, words } from "./ui.js";

const CUSTOMERS = ["adult_use", "medical"];
const KINDS = { sales: "Sales (on the price, after excise)", excise: "Excise (computed first)" };
const BASES = { price: "Price: a percent", weight: "Weight: cents per unit" };
const UNITS = { "": "None (price basis)", g: "g", oz: "oz" };

function blankTax(index) {
  return {
    key: `tax_${index + 1}`,
    name: "",
    kind: "sales",
    basis: "price",
    rate: "",
    unit: null,
    categories: null,
    customers: [...CUSTOMERS],
    in_sales_tax_base: false,
  };
}

function today() {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

function select(name, choices, value) {
  return el(
    "select",
    { name },
    options(Object.keys(choices), value ?? "", { label: (key) => choices[key] }),
  );
}

// A group of checkboxes (one per value) under a legend; the group carries `name` so that a
// refusal naming the list is shown beside it.
function checkGroup(id, name, legend, values, chosen, { every } = {}) {
  const group = el("fieldset", { class: "tax-choices", name }, el("legend", { text: legend }));
  const boxes = values.map((value) => {
    const box = el("input", { type: "checkbox", value, "data-choice": value });
    box.checked = chosen === null ? Boolean(every) : chosen.includes(value);
    group.append(checkboxField(`${id}-${value}`, words(value), box));
    return box;
  });
  let all = null;
  if (every) {
    all = el("input", { type: "checkbox", "data-every": "" });
    all.checked = chosen === null;
    const sync = () => {
      for (const box of boxes) box.disabled = all.checked;
    };
    // Every category shows every box checked; leaving it starts from none, to pick from.
    all.addEventListener("change", () => {
      for (const box of boxes) box.checked = all.checked;
      sync();
    });
    sync();
    group.insertBefore(checkboxField(`${id}-every`, every, all), group.children[1]);
  }
  return {
    node: group,
    value: () =>
      all && all.checked ? null : boxes.filter((box) => box.checked).map((box) => box.value),
  };
}

export function taxesForm({ api, base, taxes, refresh }) {
  const form = formCard("taxes-form", "Tax schedules");
  // Starts from what the store is taxed by: its own schedules, or the profile's to copy.
  let model = structuredClone(taxes.schedules ?? (taxes.in_effect ? [taxes.in_effect] : []));
  let readers = [];
  const useProfile = el("input", { type: "checkbox", name: "use_profile" });
  useProfile.checked = taxes.schedules === null;
  const schedules = el("div", { "data-schedules": "" });
  const addSchedule = el("button", { type: "button", text: "Add a schedule" });

  // The inputs' values into `model` (before it is re-drawn or sent).
  function read() {
    model = readers.map((reader) => reader());
  }

  function taxRow(scheduleIndex, taxIndex, tax, when) {
    const at = `schedules.${scheduleIndex}.taxes.${taxIndex}`;
    const id = `tax-${scheduleIndex}-${taxIndex}`;
    const input = (name, value, attrs = {}) => {
      const made = el("input", { type: "text", name: `${at}.${name}`, ...attrs });
      made.value = value ?? "";
      return made;
    };
    const name = input("name", tax.name, { maxlength: "80" });
    const key = input("key", tax.key, { maxlength: "40", spellcheck: "false" });
    const kind = select(`${at}.kind`, KINDS, tax.kind);
    const basis = select(`${at}.basis`, BASES, tax.basis);
    const rate = input("rate", tax.rate, { inputmode: "decimal", spellcheck: "false" });
    const unit = select(`${at}.unit`, UNITS, tax.unit);
    const inBase = el("input", { type: "checkbox", name: `${at}.in_sales_tax_base` });
    inBase.checked = Boolean(tax.in_sales_tax_base);
    const categories = checkGroup(
      `${id}-category`,
      `${at}.categories`,
      "Falls on",
      CATEGORIES,
      tax.categories,
      { every: "Every category" },
    );
    const customers = checkGroup(`${id}-customer`, `${at}.customers`, "Paid by", CUSTOMERS, [
      ...(tax.customers || []),
    ]);
    const label = tax.name || `tax ${taxIndex + 1}`;
    const remove = el("button", {
      type: "button",
      class: "danger",
      text: "Remove",
      "aria-label": `Remove ${label} from the schedule of ${when || "no day"}`,
    });
    remove.addEventListener("click", () => {
      read();
      model[scheduleIndex].taxes.splice(taxIndex, 1);
      draw();
      document.getElementById(`schedule-${scheduleIndex}-add`)?.focus();
    });
    const row = el(
      "fieldset",
      // Named as the tax's place: a refusal of the tax as a whole (a unit missing) lands here.
      { class: "tax", name: at, "data-tax-row": `${scheduleIndex}.${taxIndex}` },
      el("legend", { text: `Tax ${taxIndex + 1}` }),
      field(`${id}-name`, "Name (as shoppers read it)", name),
      field(`${id}-key`, "Key", key, "Lower case, digits and _; unique in the schedule."),
      field(`${id}-kind`, "Kind", kind),
      field(`${id}-basis`, "Basis", basis),
      field(`${id}-rate`, "Rate", rate, 'A percent ("7.25") or cents per unit ("35.5").'),
      field(`${id}-unit`, "Unit (weight basis)", unit),
      categories.node,
      customers.node,
      checkboxField(`${id}-base`, "Excise in the sales-tax base", inBase),
      remove,
    );
    const value = () => ({
      key: key.value.trim(),
      name: name.value.trim(),
      kind: kind.value,
      basis: basis.value,
      rate: rate.value.trim(),
      unit: unit.value || null,
      categories: categories.value(),
      customers: customers.value(),
      in_sales_tax_base: kind.value === "excise" && inBase.checked,
    });
    return { row, value };
  }

  function scheduleBlock(index, schedule) {
    const at = `schedules.${index}`;
    const day = el("input", { type: "date", name: `${at}.effective_from` });
    day.value = schedule.effective_from || "";
    const rows = schedule.taxes.map((tax, taxIndex) =>
      taxRow(index, taxIndex, tax, schedule.effective_from),
    );
    const add = el("button", {
      type: "button",
      id: `schedule-${index}-add`,
      text: "Add a tax",
      "aria-label": `Add a tax to the schedule of ${schedule.effective_from || "no day"}`,
    });
    add.addEventListener("click", () => {
      read();
      model[index].taxes.push(blankTax(model[index].taxes.length));
      draw();
      document.getElementById(`tax-${index}-${model[index].taxes.length - 1}-name`)?.focus();
    });
    const drop = el("button", {
      type: "button",
      class: "danger",
      text: "Remove schedule",
      "aria-label": `Remove the schedule of ${schedule.effective_from || "no day"}`,
    });
    drop.addEventListener("click", () => {
      read();
      model.splice(index, 1);
      draw();
      addSchedule.focus();
    });
    const block = el(
      "fieldset",
      { class: "tax-schedule", name: at, "data-schedule": String(index) },
      el("legend", { text: `Schedule ${index + 1}` }),
      field(`schedule-${index}-from`, "Takes effect on (the store's day)", day),
      rows.map((r) => r.row),
      rows.length ? null : el("p", { class: "muted", text: "No tax: nothing is taxed." }),
      el("div", { class: "actions" }, add, drop),
    );
    const value = () => ({
      effective_from: day.value,
      taxes: rows.map((r) => r.value()),
    });
    return { block, value };
  }

  function draw() {
    const blocks = model.map((schedule, index) => scheduleBlock(index, schedule));
    readers = blocks.map((b) => b.value);
    schedules.replaceChildren(...blocks.map((b) => b.block));
    schedules.hidden = useProfile.checked;
    addSchedule.hidden = useProfile.checked;
  }

  addSchedule.addEventListener("click", () => {
    read();
    model.push({ effective_from: today(), taxes: [blankTax(0)] });
    draw();
    document.getElementById(`schedule-${model.length - 1}-from`)?.focus();
  });
  useProfile.addEventListener("change", () => {
    read();
    draw();
  });

  form.append(
    checkboxField("taxes-use-profile", "Use the profile's state taxes (no schedules of its own)", useProfile),
    schedules,
    addSchedule,
    el("button", { type: "submit", text: "Save taxes" }),
    form.result,
  );
  draw();

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    read();
    const value = useProfile.checked ? null : model;
    submitting(form, async () => {
      await api.put(`${base}/taxes`, { schedules: value });
      await refresh();
      succeeded(document.getElementById("taxes-form"), "Taxes saved.");
    }, { onError: (error) => showError(form, error) });
  });
  return form;
}
