// The console's kiosks of one store (#/stores/<id>/kiosks): the kiosks with their status and
// presence, and each kiosk's API keys (console-kiosks-keys.js). Store managers and up also
// register a kiosk, rename it, disable and enable it, and delete it (two clicks); a viewer reads.
// Live: OpsChannel's kiosk.presence of this store re-reads the kiosks (debounced).

import { choices, kioskKeys } from "./console-kiosks-keys.js";
import { el } from "./dom.js";
import { deleteButton, field, formCard, submitting } from "./forms.js";
import { badge, messageOf, section, when } from "./ui.js";

const PAGE = 100;
const DEBOUNCE_MS = 500;

export async function render(root, ctx) {
  const { api, fmt, can } = ctx;
  const storeId = ctx.params.store_id;
  const store = (await api.get(`/api/v1/stores/${storeId}`)).data;
  const canManage = can("store_manager");
  let kiosks = [];
  let shown = PAGE; // kiosks the operator asked for ("Load more" adds a page)
  let nextCursor = null;
  let generation = 0;
  let debounce = null;
  let alive = true;

  const keys = kioskKeys({ api, ctx, isAlive: () => alive, onChosen: () => drawKiosks() });

  // ---------------------------------------------------------------- kiosks

  const notice = el("p", { class: "notice bad", role: "alert", hidden: true });
  const result = el("p", { class: "step-result", role: "status", "data-result": "kiosks" });
  const tbody = el("tbody");
  const headings = ["Name", "Status", "Presence", "Last seen", "App version", "Keys"];
  if (canManage) headings.push("Actions");
  const table = el(
    "table",
    { id: "kiosks-table" },
    el("caption", { class: "visually-hidden", text: `Kiosks of ${store.name}` }),
    el("thead", {}, el("tr", {}, ...headings.map((text) => el("th", { scope: "col", text })))),
    tbody,
  );
  const empty = el("p", { class: "muted", text: "No kiosk in this store.", hidden: true });
  const more = el("button", {
    type: "button",
    class: "secondary",
    text: "Load more",
    hidden: true,
  });
  const editHolder = el("div");
  const kioskSection = section(
    "kiosks-list",
    "Kiosks",
    notice,
    el("div", { class: "table-wrap" }, table),
    empty,
    more,
    result,
    editHolder,
  );

  function fail(error) {
    notice.textContent = messageOf(error);
    notice.hidden = false;
  }

  function done(text) {
    result.textContent = text;
    result.className = "step-result ok";
    ctx.announce(text);
  }

  async function setStatus(kiosk, status, button) {
    button.disabled = true;
    try {
      await api.patch(`/api/v1/kiosks/${kiosk.id}`, { status });
      const what = status === "disabled" ? "disabled: its keys stop working" : "enabled";
      done(`${kiosk.name} ${what}.`);
      await refreshKiosks();
    } catch (error) {
      fail(error);
      button.disabled = false;
    }
  }

  function kioskRow(kiosk) {
    const showKeys = el("button", {
      type: "button",
      class: "secondary",
      "data-show": "keys",
      text: "Keys",
      "aria-label": `Keys of ${kiosk.name}`,
      "aria-controls": "kiosk-keys",
      "aria-pressed": keys.chosen() && keys.chosen().id === kiosk.id ? "true" : "false",
    });
    showKeys.addEventListener("click", () => keys.choose(kiosk).catch(fail));
    const row = el(
      "tr",
      { "data-kiosk-id": kiosk.id, "data-status": kiosk.status },
      el("td", { text: kiosk.name }),
      el("td", {}, badge(kiosk.status === "active" ? "ready" : "paused", kiosk.status)),
      el(
        "td",
        { "data-presence": kiosk.connected ? "connected" : "offline" },
        badge(kiosk.connected ? "connected" : "offline"),
      ),
      el("td", {}, when(fmt, kiosk.last_seen_at)),
      el("td", { text: kiosk.app_version || "unknown" }),
      el("td", {}, showKeys),
    );
    if (canManage) {
      const edit = el("button", {
        type: "button",
        class: "secondary",
        "data-action": "edit-kiosk",
        text: "Rename",
        "aria-label": `Rename ${kiosk.name}`,
      });
      edit.addEventListener("click", () => openEditForm(kiosk));
      const disable = kiosk.status === "active";
      const toggle = el("button", {
        type: "button",
        class: "secondary",
        "data-action": disable ? "disable-kiosk" : "enable-kiosk",
        text: disable ? "Disable" : "Enable",
        "aria-label": `${disable ? "Disable" : "Enable"} ${kiosk.name}`,
      });
      toggle.addEventListener("click", () =>
        setStatus(kiosk, disable ? "disabled" : "active", toggle),
      );
      const remove = deleteButton("delete-kiosk", kiosk.name, fail, async () => {
        await api.delete(`/api/v1/kiosks/${kiosk.id}`);
        if (keys.chosen() && keys.chosen().id === kiosk.id) keys.chooseNone();
        if (editHolder.dataset.kioskId === kiosk.id) closeEditForm();
        done(`${kiosk.name} deleted, with its keys.`);
        await refreshKiosks();
      });
      row.append(el("td", { class: "alert-actions" }, edit, toggle, remove));
    }
    return row;
  }

  function drawKiosks() {
    tbody.replaceChildren(...kiosks.map(kioskRow));
    empty.hidden = kiosks.length > 0;
    more.hidden = !nextCursor;
  }

  function kiosksPath(cursor) {
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (cursor) params.set("cursor", cursor);
    return `/api/v1/stores/${storeId}/kiosks?${params}`;
  }

  // Re-reads as many kiosks as are on screen; an older re-read's answer is dropped.
  async function refreshKiosks() {
    const mine = ++generation;
    let loaded = [];
    let cursor = null;
    do {
      const body = await api.get(kiosksPath(cursor));
      if (mine !== generation || !alive) return;
      loaded = loaded.concat(body.data);
      cursor = body.meta.next_cursor;
    } while (cursor && loaded.length < shown);
    kiosks = loaded;
    nextCursor = cursor;
    notice.hidden = true;
    keys.refreshChosen(kiosks);
    drawKiosks();
  }

  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      shown = kiosks.length + PAGE;
      const mine = ++generation;
      const body = await api.get(kiosksPath(nextCursor));
      if (mine !== generation) return;
      kiosks = kiosks.concat(body.data);
      nextCursor = body.meta.next_cursor;
      drawKiosks();
    } catch (error) {
      fail(error);
    } finally {
      more.disabled = false;
    }
  });

  // Every field PATCH /kiosks/{id} takes: the name and the status. Only changes are sent.
  function openEditForm(kiosk) {
    const form = formCard("kiosk-edit", `Edit ${kiosk.name}`);
    const name = el("input", { name: "name", type: "text", maxlength: "200", value: kiosk.name });
    const status = el(
      "select",
      { name: "status" },
      ...choices(
        [
          ["active", "Active"],
          ["disabled", "Disabled (its keys stop working)"],
        ],
        kiosk.status,
      ),
    );
    const cancel = el("button", { type: "button", class: "secondary", text: "Cancel" });
    cancel.addEventListener("click", closeEditForm);
    form.append(
      field("kiosk-edit-name", "Name", name),
      field("kiosk-edit-status", "Status", status),
      el(
        "div",
        { class: "toolbar" },
        el("button", { type: "submit", "data-action": "save-kiosk", text: "Save kiosk" }),
        cancel,
      ),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submitting(form, async () => {
        const body = {};
        if (name.value !== kiosk.name) body.name = name.value;
        if (status.value !== kiosk.status) body.status = status.value;
        if (!Object.keys(body).length) {
          closeEditForm();
          return;
        }
        const saved = (await api.patch(`/api/v1/kiosks/${kiosk.id}`, body)).data;
        closeEditForm();
        done(`${saved.name} saved.`);
        await refreshKiosks();
      });
    });
    editHolder.dataset.kioskId = kiosk.id;
    editHolder.replaceChildren(form);
    name.focus();
  }

  function closeEditForm() {
    delete editHolder.dataset.kioskId;
    editHolder.replaceChildren();
  }

  function newKioskForm() {
    const form = formCard("kiosk-new", "Register a kiosk");
    form.append(
      field(
        "kiosk-new-name",
        "Name",
        el("input", { name: "name", type: "text", maxlength: "200" }),
        "Then issue it a key below: the kiosk page opens with it.",
      ),
      el("button", { type: "submit", "data-action": "create-kiosk", text: "Register kiosk" }),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submitting(form, async () => {
        const name = form.elements.namedItem("name").value;
        const created = (await api.post("/api/v1/kiosks", { store_id: storeId, name })).data;
        form.reset();
        done(`${created.name} registered: issue it a key.`);
        await refreshKiosks();
        await keys.choose(created);
      });
    });
    return form;
  }

  // ---------------------------------------------------------------- page and live updates

  root.append(
    el("p", {}, el("a", { href: `#/stores/${storeId}`, text: `\u2190 ${store.name}` })),
    el("h1", { id: "kiosks-title", text: `Kiosks of ${store.name}` }),
    el("p", {
      class: "lead",
      text:
        "A kiosk authenticates with an API key; disabling it or revoking a key stops it at once.",
    }),
    kioskSection,
    keys.section,
  );
  if (canManage) kioskSection.append(newKioskForm());
  await refreshKiosks();

  let unsubscribe = () => {};
  // Operators limited to some stores cannot follow OpsChannel (organization-wide access only).
  if (!(ctx.me.store_ids && ctx.me.store_ids.length) && ctx.cable) {
    unsubscribe = ctx.cable.subscribe(
      "OpsChannel",
      { organization_id: store.organization_id },
      (message) => {
        if (!message || message.type !== "kiosk.presence") return;
        if (!message.data || message.data.store_id !== storeId || debounce) return;
        debounce = window.setTimeout(() => {
          debounce = null;
          refreshKiosks().catch(fail);
        }, DEBOUNCE_MS);
      },
    );
  }

  return () => {
    alive = false;
    generation += 1;
    keys.forgetSecret();
    window.clearTimeout(debounce);
    unsubscribe();
  };
}
