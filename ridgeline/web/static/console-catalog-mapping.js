// The catalog view's sync state and field mapping: everything `GET .../sync-state` holds (fresh
// or stale, intervals, next syncs, the catalog cursor, failures in a row) and, for org admins,
// the schedule form and the field-mapping editor (a POS category to a canonical category, a
// brand from the POS to the brand shown), whose rows are checked before sending and where the
// API's errors land on the row they name. Viewers and store managers read the overrides.

import { el } from "./dom.js";
import { field, formCard, showError, submitting, succeeded } from "./forms.js";
import { dataTable, facts, messageOf, options, section, stateBadge, when, words } from "./ui.js";

export const CATEGORIES = [
  "flower",
  "pre_roll",
  "vape",
  "concentrate",
  "edible",
  "beverage",
  "tincture",
  "topical",
  "capsule",
  "accessory",
  "other",
];
const SCHEDULE_FIELDS = [
  ["catalog_interval_s", "Catalog sync interval (s)", 15, 86400],
  ["inventory_interval_s", "Inventory sync interval (s)", 15, 86400],
  ["stale_after_s", "Catalog stale after (s)", 60, 7 * 86400],
];
const MAPPINGS = {
  category: { title: "Category overrides", from: "POS category", to: "Canonical category" },
  brand: { title: "Brand overrides", from: "Brand from the POS", to: "Brand shown" },
};

// The section; `load()` (re-)reads the sync state, `showForms()` adds the forms (or a note)
// once it is read, `showCategories(values)` offers the POS categories seen to the editor.
export function syncSection({ api, ctx, base, isAlive }) {
  const { fmt } = ctx;
  const canAdmin = ctx.can("org_admin");
  let syncState = null;
  const syncFacts = el("div", { id: "sync-facts" });
  const syncForms = el("div");
  const categoriesSeen = el("datalist", { id: "pos-categories" });
  const at = (iso) => when(fmt, iso, { exact: true });

  function renderSyncFacts() {
    const state = syncState;
    const mapping = state.field_mapping || {};
    const overrides = (kind) => Object.entries(mapping[kind] || {});
    const known = new Set(Object.keys(MAPPINGS));
    const other = Object.keys(mapping).filter((key) => !known.has(key));
    const parts = [
      facts([
        ["Catalog", state.stale ? stateBadge("degraded", "stale") : stateBadge("ready", "fresh")],
        ["Catalog sync every", `${state.catalog_interval_s} s`],
        ["Next catalog sync", at(state.next_catalog_sync_at)],
        ["Inventory sync every", `${state.inventory_interval_s} s`],
        ["Next inventory sync", at(state.next_inventory_sync_at)],
        ["Stale after", `${state.stale_after_s} s without a successful sync`],
        ["Catalog cursor (POS changes read up to)", at(state.catalog_cursor)],
        ["Last full sync", at(state.last_full_sync_at)],
        ["Last successful sync", at(state.last_success_at)],
        ["Failed syncs in a row", state.consecutive_failures],
      ]),
      canAdmin
        ? null
        : el(
            "div",
            {},
            Object.entries(MAPPINGS).map(([kind, spec]) => [
              el("h3", { text: spec.title }),
              overrides(kind).length
                ? dataTable(
                    spec.title,
                    [spec.from, spec.to],
                    overrides(kind).map(([from, to]) =>
                      el("tr", {}, el("td", { text: from }), el("td", { text: words(to) })),
                    ),
                  )
                : el("p", { class: "muted", text: "None: the POS adapter's own mapping applies." }),
            ]),
          ),
      other.length
        ? el("p", {
            class: "notice warn",
            text:
              `The stored mapping also holds ${other.join(", ")}, which syncs refuse; saving ` +
              "the mapping below replaces it with the category and brand overrides only.",
          })
        : null,
    ];
    syncFacts.replaceChildren(...parts.filter(Boolean));
  }

  async function load() {
    const state = (await api.get(`${base}/sync-state`)).data;
    if (!isAlive()) return;
    syncState = state;
    renderSyncFacts();
  }

  function scheduleForm() {
    const form = formCard("sync-schedule", "Sync schedule");
    for (const [name, label, min, max] of SCHEDULE_FIELDS) {
      const input = el("input", { name, type: "number", min, max, step: "1" });
      input.value = String(syncState[name]);
      form.append(field(`schedule-${name.replaceAll("_", "-")}`, label, input));
    }
    form.append(
      el("button", { type: "submit", "data-action": "save-schedule", text: "Save schedule" }),
      form.result,
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      form.result.textContent = "";
      submitting(form, async () => {
        const body = {};
        const problems = [];
        for (const [name] of SCHEDULE_FIELDS) {
          const input = form.elements.namedItem(name);
          if (input.value === "") {
            problems.push({ loc: [name], message: "Enter a number of seconds." });
          } else if (input.value !== String(syncState[name])) {
            body[name] = Number(input.value);
          }
        }
        if (problems.length) {
          showError(form, { message: "The schedule was not saved.", fields: problems });
          return;
        }
        if (!Object.keys(body).length) {
          succeeded(form, "Nothing changed.");
          return;
        }
        syncState = (await api.put(`${base}/sync-state`, body)).data;
        renderSyncFacts();
        for (const [name] of SCHEDULE_FIELDS) {
          form.elements.namedItem(name).value = String(syncState[name]);
        }
        succeeded(form, "Sync schedule saved.");
        ctx.announce("Sync schedule saved");
      });
    });
    return form;
  }

  // One table per override kind: rows of POS value -> what it becomes. The API names a bad
  // override by its POS value (field_mapping.category.<value>): its error goes to that row.
  function mappingForm() {
    const form = formCard("field-mapping", "Field mapping");
    form.append(
      el("p", {
        class: "muted",
        text:
          "Overrides by the POS's own value, applied by the next catalog sync. A POS category " +
          "becomes a canonical category; a brand is renamed. Remove a row to drop its override.",
      }),
    );
    const bodies = {};
    let rowCount = 0;

    function addRow(kind, from = "", to = "") {
      const spec = MAPPINGS[kind];
      rowCount += 1;
      const number = rowCount;
      const source = el("input", {
        type: "text",
        name: `${kind}-from-${number}`,
        "aria-label": `${spec.from} (row ${number})`,
        "data-mapping": "from",
        list: kind === "category" ? "pos-categories" : null,
        value: from,
      });
      const target =
        kind === "category"
          ? el(
              "select",
              { "data-mapping": "to" },
              options(CATEGORIES, to, { any: "Choose a category" }),
            )
          : el("input", { type: "text", "data-mapping": "to", maxlength: 200, value: to });
      target.name = `${kind}-to-${number}`;
      target.setAttribute("aria-label", `${spec.to} (row ${number})`);
      const remove = el("button", {
        type: "button",
        class: "secondary",
        text: "Remove",
        "aria-label": `Remove ${spec.title.toLowerCase()} row ${number}`,
      });
      const row = el(
        "tr",
        { "data-mapping-row": kind },
        el("td", {}, source),
        el("td", {}, target),
        el("td", {}, remove),
      );
      remove.addEventListener("click", () => {
        row.remove();
        form.querySelector(`[data-add="${kind}"]`).focus();
      });
      bodies[kind].append(row);
      return source;
    }

    for (const [kind, spec] of Object.entries(MAPPINGS)) {
      const table = dataTable(spec.title, [spec.from, spec.to, "Action"], []);
      bodies[kind] = table.querySelector("tbody");
      const add = el("button", {
        type: "button",
        class: "secondary",
        "data-add": kind,
        text: `Add a ${kind} override`,
      });
      add.addEventListener("click", () => addRow(kind).focus());
      form.append(
        el(
          "fieldset",
          { name: `field_mapping.${kind}`, "data-mapping-kind": kind },
          el("legend", { text: spec.title }),
          table,
          add,
        ),
      );
      for (const [from, to] of Object.entries((syncState.field_mapping || {})[kind] || {})) {
        addRow(kind, from, String(to));
      }
    }
    form.append(
      el("button", { type: "submit", "data-action": "save-mapping", text: "Save field mapping" }),
      form.result,
    );

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      form.result.textContent = "";
      const rowOf = {}; // "kind\nPOS value" -> the name of its row's target
      // The API's errors on an override go beside the row of its POS value.
      const onError = (error) => {
        const fields = (error.fields || []).map((entry) => {
          const loc = (entry.loc || []).map(String);
          const at = loc.indexOf("field_mapping");
          const name = at < 0 ? null : rowOf[`${loc[at + 1]}\n${loc[at + 2]}`];
          return name ? { loc: [name], message: entry.message } : entry;
        });
        showError(form, { message: error.message || messageOf(error), fields });
      };
      submitting(
        form,
        async () => {
          const mapping = {};
          const problems = [];
          for (const kind of Object.keys(MAPPINGS)) {
            mapping[kind] = {};
            for (const row of bodies[kind].querySelectorAll("tr")) {
              const source = row.querySelector('[data-mapping="from"]');
              const target = row.querySelector('[data-mapping="to"]');
              const from = source.value.trim();
              const to = target.value.trim();
              if (from === "" && to === "") continue; // an empty row is no override
              if (from === "") {
                problems.push({ loc: [source.name], message: "Enter the POS's value." });
              } else if (Object.hasOwn(mapping[kind], from)) {
                problems.push({ loc: [source.name], message: `${from} is overridden twice.` });
              } else if (to === "") {
                problems.push({ loc: [target.name], message: `Say what ${from} becomes.` });
              } else {
                mapping[kind][from] = to;
                rowOf[`${kind}\n${from}`] = target.name;
              }
            }
          }
          if (problems.length) {
            showError(form, { message: "The field mapping was not saved.", fields: problems });
            return;
          }
          syncState = (await api.put(`${base}/sync-state`, { field_mapping: mapping })).data;
          renderSyncFacts();
          succeeded(form, "Field mapping saved. The next catalog sync applies it.");
          ctx.announce("Field mapping saved");
        },
        { onError },
      );
    });
    return form;
  }

  function showForms() {
    if (canAdmin) {
      syncForms.append(scheduleForm(), mappingForm());
    } else {
      syncForms.append(
        el("p", {
          class: "muted",
          text: "Organization admins change the sync schedule and the field mapping.",
        }),
      );
    }
  }

  function showCategories(values) {
    categoriesSeen.replaceChildren(...values.map((value) => el("option", { value })));
  }

  return {
    section: section(
      "catalog-sync",
      "Sync state and field mapping",
      syncFacts,
      syncForms,
      categoriesSeen,
    ),
    load,
    showForms,
    showCategories,
  };
}
