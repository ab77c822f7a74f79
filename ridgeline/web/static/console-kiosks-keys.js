// The kiosks view's API keys of the kiosk chosen: prefix, purpose, valid, expired or revoked,
// issued, expiry and last use; never the key. Store managers and up issue a key (a lifetime,
// optionally rolling the current ones) and revoke one. A new key is shown once, in a marked box
// with Copy and a link to the kiosk page: it lives in that box only and goes with it (another
// kiosk chosen, the box hidden, or the view left).

import { el } from "./dom.js";
import { field, formCard, submitting } from "./forms.js";
import { badge, dataTable, messageOf, when } from "./ui.js";

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

// [value, text] pairs as <option>s.
export function choices(pairs, selected = "") {
  return pairs.map(([value, text]) => el("option", { value, text, selected: value === selected }));
}

function keyState(key) {
  if (key.revoked_at) return ["failed", "revoked"];
  if (key.expires_at && new Date(key.expires_at) <= new Date()) return ["paused", "expired"];
  return ["ready", "valid"];
}

// The section; `chosen()` is the kiosk whose keys are shown, `choose(kiosk)` shows them,
// `chooseNone()` none, `forgetSecret()` drops a new key's box; `onChosen()` after the choice
// changed (the kiosks list marks it).
export function kioskKeys({ api, ctx, isAlive, onChosen }) {
  const { fmt } = ctx;
  const canManage = ctx.can("store_manager");
  let chosen = null;

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
    onChosen();
  }

  async function chooseKiosk(kiosk) {
    if (!chosen || chosen.id !== kiosk.id) {
      forgetSecret();
      keysResult.textContent = "";
    }
    chosen = kiosk;
    keysTitle.textContent = `API keys of ${kiosk.name}`;
    keysHint.hidden = true;
    onChosen();
    issueHome.replaceChildren(canManage ? issueForm(kiosk) : "");
    await loadKeys();
    keySection.focus();
  }

  async function loadKeys() {
    const kiosk = chosen;
    if (!kiosk) return;
    const keys = (await api.get(`/api/v1/kiosks/${kiosk.id}/keys`)).data;
    if (!chosen || chosen.id !== kiosk.id || !isAlive()) return;
    keysNotice.hidden = true;
    if (!keys.length) {
      keysBody.replaceChildren(el("p", { class: "muted", text: "No key: issue one below." }));
      return;
    }
    const headings = ["Key", "Purpose", "State", "Issued", "Expires", "Last used"];
    if (canManage) headings.push("Actions");
    keysBody.replaceChildren(
      dataTable(
        `API keys of ${kiosk.name}`,
        headings,
        keys.map((key) => keyRow(kiosk, key)),
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
      el("td", {}, when(fmt, key.created_at)),
      el("td", { text: key.expires_at ? fmt.time(key.expires_at) : "never" }),
      el("td", {}, when(fmt, key.last_used_at)),
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
    const form = formCard("key-issue", `Issue ${kiosk.name} a key`);
    form.append(
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
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submitting(form, async () => {
        const body = {};
        for (const name of ["expires_in_s", "expire_existing_in_s"]) {
          const value = form.elements.namedItem(name).value;
          if (value !== "") body[name] = Number(value);
        }
        const created = (await api.post(`/api/v1/kiosks/${kiosk.id}/keys`, body)).data;
        if (chosen && chosen.id === kiosk.id) showSecret(kiosk, created);
        ctx.announce(`New key issued to ${kiosk.name}: copy it now, it is shown once`);
        await loadKeys();
      });
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

  return {
    section: keySection,
    chosen: () => chosen,
    refreshChosen(kiosks) {
      if (chosen) chosen = kiosks.find((k) => k.id === chosen.id) || chosen;
    },
    choose: chooseKiosk,
    chooseNone,
    forgetSecret,
  };
}
