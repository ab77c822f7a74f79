// The store view's settings (organization admins): the store itself (name, time zone,
// currency; Delete, two clicks, then back to the fleet), the sync intervals and the health
// thresholds. Only changed fields and thresholds are sent; an emptied threshold restores its
// default (null).

import { storeFields } from "./console-store-fields.js";
import { el } from "./dom.js";
import { deleteButton, formCard, formValues, showError, submitting, succeeded } from "./forms.js";
import { messageOf, section } from "./ui.js";

const SYNC_FIELDS = [
  ["catalog_interval_s", "Catalog sync interval (s)", 15, 86400],
  ["inventory_interval_s", "Inventory sync interval (s)", 15, 86400],
  ["stale_after_s", "Catalog stale after (s)", 60, 7 * 86400],
];
const THRESHOLD_FIELDS = [
  ["window_calls", "Calls judged (newest first)", "1", "500", "1"],
  ["window_s", "Window (s)", "0", "86400", "any"],
  ["minimum_calls", "Minimum calls before a rate is judged", "1", "500", "1"],
  ["degraded_failure_rate", "Failure rate for degraded (0 to 1)", "0", "1", "any"],
  ["degraded_rate_limited_calls", "Rate-limited calls for degraded", "1", "500", "1"],
  ["slow_call_ms", "Slow call (ms)", "0", "600000", "any"],
  ["degraded_slow_call_rate", "Slow call rate for degraded (0 to 1)", "0", "1", "any"],
  ["degraded_sync_failures", "Sync failures in a row for degraded", "1", "1000", "1"],
  ["offline_after_s", "Offline after (s)", "0", "86400", "any"],
  ["recovery_ratio", "Recovery ratio (0 to 1)", "0", "1", "any"],
];
const idOf = (prefix, name) => `${prefix}-${name.replace(/_/g, "-")}`;

const STORE_FIELDS = ["name", "timezone", "currency"];

// The section; `load()` reads the sync intervals, `offerThresholds(thresholds)` fills the
// thresholds form from the store's health the first time it is read; `onThresholdsSaved()`
// after a save (the health is judged with them), `onStoreSaved(store)` after the store's own
// fields are.
export function storeSettings({ api, ctx, base, store, isAlive, onThresholdsSaved, onStoreSaved }) {
  const canAdmin = ctx.can("org_admin");
  const settingsBody = el("div");
  let syncForm = null;
  let thresholdsForm = null;

  function fillThresholds(thresholds) {
    if (!thresholdsForm || !thresholds) return;
    for (const [name] of THRESHOLD_FIELDS) {
      const input = thresholdsForm.elements.namedItem(`thresholds.${name}`);
      const value = thresholds[name];
      input.value = value === null || value === undefined ? "" : String(value);
      input.dataset.loaded = input.value;
    }
    thresholdsForm.dataset.filled = "1";
  }

  function numberRow(prefix, name, label, min, max, step) {
    return el(
      "div",
      { class: "row" },
      el("label", { for: idOf(prefix, name), text: label }),
      el("input", {
        id: idOf(prefix, name),
        name: prefix === "threshold" ? `thresholds.${name}` : name,
        type: "number",
        min: String(min),
        max: String(max),
        step: step || "1",
      }),
    );
  }

  function settingsForm(id, title, rows, submitLabel, action) {
    const result = el("p", { class: "step-result", role: "status" });
    const form = el(
      "form",
      { id, novalidate: true, "aria-labelledby": `${id}-title` },
      el("h3", { id: `${id}-title`, text: title }),
      el("p", { class: "form-error", "data-form-error": true, role: "alert" }),
      rows,
      el("button", { type: "submit", "data-action": action, text: submitLabel }),
      result,
    );
    form.result = result;
    return form;
  }

  async function loadSyncState() {
    try {
      const state = (await api.get(`${base}/sync-state`)).data;
      if (!isAlive() || !syncForm) return;
      for (const [name] of SYNC_FIELDS) {
        syncForm.elements.namedItem(name).value = String(state[name] ?? "");
      }
    } catch (error) {
      if (syncForm) syncForm.querySelector("[data-form-error]").textContent = messageOf(error);
    }
  }

  // PATCH /stores/{id}: what changed of its name, time zone and currency. DELETE: refused
  // while the store has kiosks.
  function storeForm() {
    let current = store;
    const form = formCard("store-edit", "Store");
    // Made again after a rename: its accessible name says which store it deletes.
    const removeButton = () =>
      deleteButton(
        "delete-store",
        current.name,
        (error) => showError(form, error),
        async () => {
          await api.delete(base);
          ctx.announce(`${current.name} deleted.`);
          ctx.navigate("#/");
        },
      );
    let remove = removeButton();
    form.append(
      ...storeFields("store-edit", store),
      el(
        "div",
        { class: "toolbar" },
        el("button", { type: "submit", "data-action": "save-store", text: "Save store" }),
        remove,
      ),
      el("p", {
        class: "muted small",
        text: "A store with kiosks cannot be deleted: delete its kiosks first.",
      }),
      form.result,
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      form.result.textContent = "";
      submitting(form, async () => {
        const values = formValues(form, { keepEmpty: true });
        const body = {};
        for (const name of STORE_FIELDS) {
          if (values[name] !== current[name]) body[name] = values[name];
        }
        if (!Object.keys(body).length) {
          succeeded(form, "Nothing changed.");
          return;
        }
        current = (await api.patch(base, body)).data;
        const renamed = removeButton();
        remove.replaceWith(renamed);
        remove = renamed;
        succeeded(form, `${current.name} saved.`);
        onStoreSaved(current);
      });
    });
    return form;
  }

  if (canAdmin) {
    syncForm = settingsForm(
      "sync-settings",
      "Sync intervals",
      SYNC_FIELDS.map(([name, label, min, max]) => numberRow("sync", name, label, min, max)),
      "Save sync intervals",
      "save_sync_intervals",
    );
    syncForm.addEventListener("submit", (event) => {
      event.preventDefault();
      syncForm.result.textContent = "";
      submitting(syncForm, async () => {
        const values = formValues(syncForm);
        const body = {};
        for (const [name] of SYNC_FIELDS) if (values[name] !== undefined) body[name] = values[name];
        const state = (await api.put(`${base}/sync-state`, body)).data;
        for (const [name] of SYNC_FIELDS) {
          syncForm.elements.namedItem(name).value = String(state[name]);
        }
        succeeded(syncForm, "Sync intervals saved.");
      });
    });

    thresholdsForm = settingsForm(
      "health-thresholds",
      "Health thresholds",
      [
        el("p", {
          class: "muted",
          text: "An empty field restores the default.",
        }),
        THRESHOLD_FIELDS.map(([name, label, min, max, step]) =>
          numberRow("threshold", name, label, min, max, step),
        ),
      ],
      "Save thresholds",
      "save_health_thresholds",
    );
    thresholdsForm.addEventListener("submit", (event) => {
      event.preventDefault();
      thresholdsForm.result.textContent = "";
      submitting(thresholdsForm, async () => {
        // Only what changed: a number, or null (the default) for a field emptied.
        const thresholds = {};
        for (const [name] of THRESHOLD_FIELDS) {
          const input = thresholdsForm.elements.namedItem(`thresholds.${name}`);
          if (input.value === (input.dataset.loaded ?? "")) continue;
          thresholds[name] = input.value === "" ? null : Number(input.value);
        }
        const saved = (await api.put(`${base}/health/thresholds`, { thresholds })).data;
        fillThresholds(saved);
        succeeded(thresholdsForm, "Health thresholds saved.");
        onThresholdsSaved();
      });
    });
    settingsBody.append(storeForm(), syncForm, thresholdsForm);
  } else {
    settingsBody.append(
      el("p", {
        class: "muted",
        text: "Organization admins edit the store, its sync intervals and health thresholds.",
      }),
    );
  }

  function offerThresholds(thresholds) {
    if (thresholdsForm && !thresholdsForm.dataset.filled) fillThresholds(thresholds);
  }

  return {
    section: section("store-settings", "Settings", settingsBody),
    load: loadSyncState,
    offerThresholds,
  };
}
