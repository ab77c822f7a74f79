// The store view's kiosks: each with its presence, last heartbeat and app version, a
// Disconnect button for a connected one (its /cable connections closed; it reconnects), and a
// form to send a kiosk a command (reload, show a message). Store managers and up act.

import { el } from "./dom.js";
import { formValues, showError, submitting } from "./forms.js";
import { dataTable, messageOf, section, stateBadge, words } from "./ui.js";

// The section and its `refresh()`; `later(fn, ms)` runs fn after ms unless the view was left.
export function storeKiosks({ api, ctx, base, isAlive, later }) {
  const { fmt } = ctx;
  const canManage = ctx.can("store_manager");
  const kiosksBody = el("div");
  const commandHome = el("div");
  const kioskResult = el("p", {
    class: "step-result",
    role: "status",
    "data-result": "kiosks",
  });
  let kioskSelect = null;
  // A connected kiosk's /cable connections closed (it reconnects): store managers.
  function disconnectButton(kiosk) {
    if (!canManage || !kiosk.connected) return null;
    const button = el("button", {
      type: "button",
      class: "secondary",
      "data-action": "disconnect_kiosk",
      text: "Disconnect",
      "aria-label": `Disconnect ${kiosk.name}`,
    });
    button.addEventListener("click", async () => {
      button.disabled = true;
      kioskResult.className = "step-result";
      kioskResult.textContent = `Disconnecting ${kiosk.name}\u2026`;
      try {
        const out = (
          await api.post(`/api/v1/kiosks/${kiosk.id}/disconnect`, { reconnect: true })
        ).data;
        kioskResult.textContent =
          out.connections === null
            ? `${kiosk.name}: disconnect sent; it reconnects.`
            : `${kiosk.name}: ${out.connections} connection(s) closed; it reconnects.`;
        kioskResult.className = "step-result ok";
        later(refreshKiosks, 1500);
      } catch (error) {
        kioskResult.textContent = `Disconnect ${kiosk.name}: ${messageOf(error)}`;
        kioskResult.className = "step-result bad";
        button.disabled = false;
      }
    });
    return button;
  }
  async function refreshKiosks() {
    let kiosks;
    try {
      kiosks = (await api.get(`${base}/kiosks?limit=100`)).data;
    } catch (error) {
      kiosksBody.replaceChildren(el("p", { class: "notice bad", text: messageOf(error) }));
      return;
    }
    if (!isAlive()) return;
    kiosksBody.replaceChildren(
      dataTable(
        "Kiosks",
        ["Kiosk", "Presence", "Last heartbeat", "App version", "Status", ""],
        kiosks.map((kiosk) =>
          el(
            "tr",
            { "data-kiosk": kiosk.id, "data-connected": kiosk.connected ? "true" : "false" },
            el("td", { text: kiosk.name }),
            el(
              "td",
              {},
              stateBadge(kiosk.connected ? "connected" : "offline"),
              kiosk.connected && kiosk.connected_since
                ? ` since ${fmt.time(kiosk.connected_since)}`
                : "",
            ),
            el("td", { text: fmt.ago(kiosk.last_seen_at) }),
            el("td", { text: kiosk.app_version || "unknown" }),
            el("td", { text: kiosk.status }),
            el("td", {}, disconnectButton(kiosk)),
          ),
        ),
        "No kiosk in this store.",
      ),
    );
    if (kioskSelect) {
      const chosen = kioskSelect.value;
      kioskSelect.replaceChildren(
        ...kiosks.map((k) => el("option", { value: k.id, text: k.name })),
      );
      if (chosen) kioskSelect.value = chosen;
    }
  }

  if (canManage) {
    const form = el("form", {
      id: "kiosk-command",
      novalidate: true,
      "aria-labelledby": "kiosk-command-title",
    });
    kioskSelect = el("select", { id: "command-kiosk", name: "kiosk" });
    const type = el(
      "select",
      { id: "command-type", name: "type" },
      el("option", { value: "reload", text: "Reload the app" }),
      el("option", { value: "show_message", text: "Show a message" }),
    );
    const result = el("p", { class: "step-result", role: "status" });
    form.append(
      el("h3", { id: "kiosk-command-title", text: "Send a command" }),
      el("p", { class: "form-error", "data-form-error": true, role: "alert" }),
      el(
        "div",
        { class: "row" },
        el("label", { for: "command-kiosk", text: "Kiosk" }),
        kioskSelect,
      ),
      el(
        "div",
        { class: "row" },
        el("label", { for: "command-type", text: "Command" }),
        type,
      ),
      el(
        "div",
        { class: "row" },
        el("label", { for: "command-message", text: "Message (for Show a message)" }),
        el("input", { id: "command-message", name: "message", type: "text", maxlength: "500" }),
      ),
      el(
        "div",
        { class: "row" },
        el("label", { for: "command-duration", text: "Show for (seconds, optional)" }),
        el("input", {
          id: "command-duration",
          name: "duration_s",
          type: "number",
          min: "1",
          max: "86400",
        }),
      ),
      el("button", { type: "submit", text: "Send command" }),
      result,
    );
    const onError = (error) => {
      showError(form, error);
      result.textContent = "";
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submitting(
        form,
        async () => {
          const values = formValues(form);
          if (!values.kiosk) {
            form.querySelector("[data-form-error]").textContent = "Choose a kiosk.";
            return;
          }
          const body = { type: values.type };
          if (values.type === "show_message") {
            body.message = values.message ?? "";
            if (values.duration_s !== undefined) body.duration_s = values.duration_s;
          }
          const sent = (await api.post(`/api/v1/kiosks/${values.kiosk}/commands`, body)).data;
          result.textContent = sent.connected
            ? `Sent: ${words(sent.type)} delivered now.`
            : `Queued: ${words(sent.type)} is delivered when the kiosk reconnects.`;
          result.className = "step-result ok";
        },
        { onError },
      );
    });
    commandHome.append(form);
  }

  return {
    section: section("store-kiosks", "Kiosks", kiosksBody, kioskResult, commandHome),
    refresh: refreshKiosks,
  };
}
