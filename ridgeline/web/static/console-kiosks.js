// The console's kiosks of one store (#/stores/<id>/kiosks): the kiosks with their status and
// presence, and each kiosk's API keys (prefix, purpose, expiry, last use; never the key).
// Store managers and up also register a kiosk, rename it, disable and enable it, delete it
// (two clicks), issue keys and revoke them; a viewer reads. A new key is shown once, in a
// marked box with Copy and a link to the kiosk page: it lives in that box only and goes with
// it (another kiosk chosen, the box hidden, or the view left).
// Live: OpsChannel's kiosk.presence of this store re-reads the kiosks (debounced).

import { ApiError } from "./api.js";
import { clearErrors, deleteButton, field, showError } from "./forms.js";
import { el } from "./dom.js";

const PAGE = 100;
const DEBOUNCE_MS = 500;
const DAY_S = 86400;
// expires_in_s and expire_existing_in_s as choices (the API's bounds: 60 s to 10 years, 0 to 30
// days), so no value the operator picks can be refused.
const LIFETIMES = [
  ["", "Until revoked"],
  [String(DAY_S), "1 day"],
  [String(30 * DAY_S), "30 days"],
  [String(365 * DAY_S), "1 year"],
];
const ROLLS = [
  ["", "Keep working"],
  ["0", "Stop at once"],
  ["3600", "Stop in 1 hour"],
  [String(DAY_S), "Stop in 1 day"],
];

function badge(state, text) {
  return el("span", { class: `badge ${state}`, text: text || state.replaceAll("_", " ") });
}

function messageOf(error) {
  return error instanceof ApiError ? `${error.message} (${error.code})` : String(error);
}

function choices(pairs, selected = "") {
  return pairs.map(([value, text]) => el("option", { value, text, selected: value === selected }));
}

function keyState(key) {
  if (key.revoked_at) return ["failed", "revoked"];
  if (key.expires_at && new Date(key.expires_at) <= new Date()) return ["paused", "expired"];
  return ["ready", "valid"];
}

export async function render(root, ctx) {
  const { api, fmt, can } = ctx;
  const storeId = ctx.params.store_id;
  const store = (await api.get(`/api/v1/stores/${storeId}`)).data;
  const canManage = can("store_manager");
  let kiosks = [];
  let shown = PAGE; // kiosks the operator asked for ("Load more" adds a page)
  let nextCursor = null;
  let generation = 0;
  let chosen = null; // the kiosk whose keys are shown
  let debounce = null;
  let alive = true;

  function when(iso) {
    if (!iso) return el("span", { class: "muted", text: "never" });
    return el("time", { datetime: iso, title: fmt.time(iso), text: fmt.ago(iso) });
  }

  const section = (id, title, ...rest) =>
    el(
      "section",
      { id, "aria-labelledby": `${id}-title` },
      el("h2", { id: `${id}-title`, text: title }),
      ...rest,
    );

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
    const keys = el("button", {
      type: "button",
      class: "secondary",
      "data-show": "keys",
      text: "Keys",
      "aria-label": `Keys of ${kiosk.name}`,
      "aria-controls": "kiosk-keys",
      "aria-pressed": chosen && chosen.id === kiosk.id ? "true" : "false",
    });
    keys.addEventListener("click", () => chooseKiosk(kiosk).catch(fail));
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
      el("td", {}, when(kiosk.last_seen_at)),
      el("td", { text: kiosk.app_version || "unknown" }),
      el("td", {}, keys),
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
        if (chosen && chosen.id === kiosk.id) chooseNone();
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
    if (chosen) chosen = kiosks.find((k) => k.id === chosen.id) || chosen;
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
    const form = el("form", {
      class: "card console-form",
      novalidate: true,
      id: "kiosk-edit",
      "aria-labelledby": "kiosk-edit-title",
    });
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
      el("h3", { id: "kiosk-edit-title", text: `Edit ${kiosk.name}` }),
      el("p", { class: "form-error", "data-form-error": "", role: "alert" }),
      field("kiosk-edit-name", "Name", name),
      field("kiosk-edit-status", "Status", status),
      el(
        "div",
        { class: "toolbar" },
        el("button", { type: "submit", "data-action": "save-kiosk", text: "Save kiosk" }),
        cancel,
      ),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      const body = {};
      if (name.value !== kiosk.name) body.name = name.value;
      if (status.value !== kiosk.status) body.status = status.value;
      if (!Object.keys(body).length) {
        closeEditForm();
        return;
      }
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const saved = (await api.patch(`/api/v1/kiosks/${kiosk.id}`, body)).data;
        closeEditForm();
        done(`${saved.name} saved.`);
        await refreshKiosks();
      } catch (error) {
        showError(form, error);
        button.disabled = false;
      }
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
    const form = el("form", {
      class: "card console-form",
      novalidate: true,
      id: "kiosk-new",
      "aria-labelledby": "kiosk-new-title",
    });
    form.append(
      el("h3", { id: "kiosk-new-title", text: "Register a kiosk" }),
      el("p", { class: "form-error", "data-form-error": "", role: "alert" }),
      field(
        "kiosk-new-name",
        "Name",
        el("input", { name: "name", type: "text", maxlength: "200" }),
        "Then issue it a key below: the kiosk page opens with it.",
      ),
      el("button", { type: "submit", "data-action": "create-kiosk", text: "Register kiosk" }),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const name = form.elements.namedItem("name").value;
        const created = (await api.post("/api/v1/kiosks", { store_id: storeId, name })).data;
        form.reset();
        done(`${created.name} registered: issue it a key.`);
        await refreshKiosks();
        await chooseKiosk(created);
      } catch (error) {
        showError(form, error);
      } finally {
        button.disabled = false;
      }
    });
    return form;
  }

  // ---------------------------------------------------------------- keys

  const keysTitle = el("h2", { id: "kiosk-keys-title", text: "API keys" });
  const keysHint = el("p", { class: "muted", text: "Choose a kiosk's Keys to see its keys." });
  const secretHome = el("div");
  const keysNotice = el("p", { class: "notice bad", role: "alert", hidden: true });
  const keysResult = el("p", { class: "step-result", role: "status", "data-result": "keys" });
  const keysBody = el("div");
  const issueHome = el("div");
  const keySection = el(
    "section",
    { id: "kiosk-keys", "aria-labelledby": "kiosk-keys-title", tabindex: "-1" },
    keysTitle,
    keysHint,
    secretHome,
    keysNotice,
    keysBody,
    keysResult,
    issueHome,
  );

  function keysFail(error) {
    keysNotice.textContent = messageOf(error);
    keysNotice.hidden = false;
  }

  function chooseNone() {
    chosen = null;
    forgetSecret();
    keysTitle.textContent = "API keys";
    keysHint.hidden = false;
    keysBody.replaceChildren();
    issueHome.replaceChildren();
    keysResult.textContent = "";
    drawKiosks();
  }

  async function chooseKiosk(kiosk) {
    if (!chosen || chosen.id !== kiosk.id) {
      forgetSecret();
      keysResult.textContent = "";
    }
    chosen = kiosk;
    keysTitle.textContent = `API keys of ${kiosk.name}`;
    keysHint.hidden = true;
    drawKiosks();
    issueHome.replaceChildren(canManage ? issueForm(kiosk) : "");
    await loadKeys();
    keySection.focus();
  }

  async function loadKeys() {
    const kiosk = chosen;
    if (!kiosk) return;
    const keys = (await api.get(`/api/v1/kiosks/${kiosk.id}/keys`)).data;
    if (!chosen || chosen.id !== kiosk.id || !alive) return;
    keysNotice.hidden = true;
    if (!keys.length) {
      keysBody.replaceChildren(el("p", { class: "muted", text: "No key: issue one below." }));
      return;
    }
    const headings = ["Key", "Purpose", "State", "Issued", "Expires", "Last used"];
    if (canManage) headings.push("Actions");
    keysBody.replaceChildren(
      el(
        "div",
        { class: "table-wrap" },
        el(
          "table",
          {},
          el("caption", { class: "visually-hidden", text: `API keys of ${kiosk.name}` }),
          el(
            "thead",
            {},
            el("tr", {}, ...headings.map((text) => el("th", { scope: "col", text }))),
          ),
          el("tbody", {}, ...keys.map((key) => keyRow(kiosk, key))),
        ),
      ),
    );
  }

  function keyRow(kiosk, key) {
    const [state, text] = keyState(key);
    const row = el(
      "tr",
      { "data-key-id": key.id, "data-state": text },
      el("td", {}, el("code", { text: `${key.key_prefix}\u2026` })),
      el("td", { text: key.purpose }),
      el("td", {}, badge(state, text)),
      el("td", {}, when(key.created_at)),
      el("td", { text: key.expires_at ? fmt.time(key.expires_at) : "never" }),
      el("td", {}, when(key.last_used_at)),
    );
    if (canManage) {
      const cell = el("td");
      if (!key.revoked_at) {
        const revoke = el("button", {
          type: "button",
          class: "danger",
          "data-action": "revoke-key",
          text: "Revoke",
          "aria-label": `Revoke the key ${key.key_prefix}`,
        });
        revoke.addEventListener("click", async () => {
          revoke.disabled = true;
          try {
            await api.delete(`/api/v1/kiosks/${kiosk.id}/keys/${key.id}`);
            keysResult.textContent = `Key ${key.key_prefix}\u2026 revoked: it now answers 401.`;
            keysResult.className = "step-result ok";
            ctx.announce(`Key ${key.key_prefix} revoked`);
            await loadKeys();
          } catch (error) {
            keysFail(error);
            revoke.disabled = false;
          }
        });
        cell.append(revoke);
      }
      row.append(cell);
    }
    return row;
  }

  function issueForm(kiosk) {
    const form = el("form", {
      class: "card console-form",
      novalidate: true,
      id: "key-issue",
      "aria-labelledby": "key-issue-title",
    });
    form.append(
      el("h3", { id: "key-issue-title", text: `Issue ${kiosk.name} a key` }),
      el("p", { class: "form-error", "data-form-error": "", role: "alert" }),
      field(
        "key-lifetime",
        "New key valid",
        el("select", { name: "expires_in_s" }, choices(LIFETIMES)),
      ),
      field(
        "key-roll",
        "The kiosk's current keys",
        el("select", { name: "expire_existing_in_s" }, choices(ROLLS)),
        "To roll keys: the old ones keep working a while, then answer 401.",
      ),
      el("button", { type: "submit", "data-action": "issue-key", text: "Issue key" }),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      const body = {};
      for (const name of ["expires_in_s", "expire_existing_in_s"]) {
        const value = form.elements.namedItem(name).value;
        if (value !== "") body[name] = Number(value);
      }
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const created = (await api.post(`/api/v1/kiosks/${kiosk.id}/keys`, body)).data;
        if (chosen && chosen.id === kiosk.id) showSecret(kiosk, created);
        ctx.announce(`New key issued to ${kiosk.name}: copy it now, it is shown once`);
        await loadKeys();
      } catch (error) {
        showError(form, error);
      } finally {
        button.disabled = false;
      }
    });
    return form;
  }

  // The key itself: in this box only, never stored; hiding it (or leaving) forgets it.
  function showSecret(kiosk, created) {
    const value = el("input", {
      name: "new-key",
      type: "text",
      readonly: true,
      size: "60",
      autocomplete: "off",
      spellcheck: "false",
      value: created.key,
    });
    const copied = el("p", { class: "step-result", role: "status" });
    const copy = el("button", { type: "button", "data-action": "copy-key", text: "Copy key" });
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(value.value);
        copied.textContent = "Copied to the clipboard.";
        copied.className = "step-result ok";
      } catch {
        value.focus();
        value.select();
        copied.textContent = "The browser refused to copy: the key is selected, copy it yourself.";
        copied.className = "step-result bad";
      }
    });
    const hide = el("button", {
      type: "button",
      class: "secondary",
      "data-action": "hide-key",
      text: "I have stored it: hide the key",
    });
    hide.addEventListener("click", () => {
      forgetSecret();
      keySection.focus();
    });
    secretHome.replaceChildren(
      el(
        "div",
        { class: "notice warn", id: "new-key", role: "group", "aria-labelledby": "new-key-title" },
        el("h3", { id: "new-key-title", text: `New key for ${kiosk.name}: shown once` }),
        el("p", {
          text:
            "Copy it now. Ridgeline keeps only its hash and cannot show it again; it is gone " +
            "from this page once you hide it, choose another kiosk or leave.",
        }),
        field("new-key-value", "API key", value),
        el(
          "div",
          { class: "toolbar" },
          copy,
          el("a", {
            href: `/kiosk#key=${encodeURIComponent(created.key)}`,
            target: "_blank",
            rel: "noopener noreferrer",
            "data-link": "kiosk-page",
            text: "Open the kiosk page with this key",
          }),
          hide,
        ),
        copied,
      ),
    );
    value.focus();
    value.select();
  }

  function forgetSecret() {
    secretHome.replaceChildren();
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
    keySection,
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
    forgetSecret();
    window.clearTimeout(debounce);
    unsubscribe();
  };
}
