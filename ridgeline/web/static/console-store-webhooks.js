// The store view's POS webhooks: for organization admins, the URL the store's POS pushes its
// events to (its token included, so it is shown on request, with Copy), the event types this POS
// pushes, how the URL gets to the POS, and Register with the POS where it has an API for it
// (BLAZE); for everyone, the events the POS pushed, newest first, each with its type, when it
// arrived, what processing did (or its error, or that it still waits) and its payload.

import { ApiError } from "./api.js";
import { el } from "./dom.js";
import { dataTable, facts, messageOf, section, stateBadge, when, words } from "./ui.js";

const PAGE = 20;
// Conflicts that say how the store is, not that something failed (the API's own message
// otherwise).
const NOT_APPLICABLE = {
  POS_NOT_CONFIGURED: "No POS is configured: connect one (Update credentials) to see its webhooks.",
  POS_WEBHOOKS_UNSUPPORTED: null,
};
const HOW = {
  api: "Ridgeline registers it with the POS (Register with the POS below).",
  vendor_portal: "Someone enters it in the POS vendor's portal.",
  per_order: "It travels with each order the POS is sent.",
};

// An event's outcome as a badge: processed, failed (its error), or waiting.
function outcomeBadge(event) {
  if (event.error) return stateBadge("failed", "failed");
  if (event.processed_at) return stateBadge("succeeded", "processed");
  return stateBadge("queued", "waiting");
}

function payloadDetails(event) {
  const pre = el("pre", { class: "small", text: JSON.stringify(event.payload, null, 2) });
  pre.style.whiteSpace = "pre-wrap";
  pre.style.overflowWrap = "anywhere";
  return el("details", {}, el("summary", { text: "Payload" }), pre);
}

// The section; `refresh()` reads the setup (organization admins) and the first page of events.
export function storeWebhooks({ api, ctx, base, isAlive }) {
  const { fmt } = ctx;
  const canAdmin = ctx.can("org_admin");
  let events = [];
  let nextCursor = null;
  let onlyWaiting = false;
  let generation = 0;

  const setupBody = el("div", { id: "pos-webhook-setup" });
  const setupResult = el("p", {
    class: "step-result",
    role: "status",
    "data-result": "webhooks",
  });
  const eventsNotice = el("p", { class: "notice bad", role: "alert", hidden: true });
  const eventsBody = el("div", { id: "pos-events" });
  const waiting = el("input", { id: "pos-events-waiting", type: "checkbox" });
  const reload = el("button", {
    type: "button",
    class: "secondary",
    "data-action": "refresh-pos-events",
    text: "Refresh events",
  });
  const more = el("button", {
    type: "button",
    class: "secondary",
    text: "Load more events",
    hidden: true,
  });

  // ---------------------------------------------------------------- setup

  function urlBox(url) {
    const input = el("input", {
      id: "pos-webhook-url",
      type: "text",
      readonly: true,
      value: url,
      autocomplete: "off",
      spellcheck: "false",
    });
    const copy = el("button", {
      type: "button",
      class: "secondary",
      "data-action": "copy-webhook-url",
      text: "Copy",
      "aria-label": "Copy the webhook URL",
    });
    const copied = el("span", { class: "muted small", role: "status" });
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(url);
        copied.textContent = "Copied.";
      } catch {
        input.select();
        copied.textContent = "Select the URL and copy it.";
      }
    });
    return el(
      "details",
      { id: "pos-webhook-url-details" },
      el("summary", { text: "Show the webhook URL (it holds the store's token: a secret)" }),
      el(
        "div",
        { class: "row" },
        el("label", { for: "pos-webhook-url", text: "Webhook URL" }),
        input,
      ),
      el("div", { class: "toolbar" }, copy, copied),
    );
  }

  function drawSetup(setup) {
    setupBody.replaceChildren(
      facts([
        ["POS", setup.provider],
        ["Events it pushes", setup.events.map(words).join(", ") || "none"],
        ["How the URL gets there", HOW[setup.registration] || words(setup.registration)],
        setup.shop_id && ["Shop", setup.shop_id],
      ]),
      el("p", { class: "muted", text: setup.instructions }),
      urlBox(setup.url),
      setup.registration === "api" ? registerButton() : "",
    );
  }

  function registerButton() {
    const button = el("button", {
      type: "button",
      "data-action": "register-webhooks",
      text: "Register with the POS",
    });
    button.addEventListener("click", async () => {
      button.disabled = true;
      setupResult.className = "step-result";
      setupResult.textContent = "Registering\u2026";
      try {
        const setup = (await api.post(`${base}/pos/webhooks`)).data;
        drawSetup(setup);
        setupResult.textContent = setup.registered
          ? "Registered: the POS pushes its events to this URL."
          : `Not registered: ${setup.instructions}`;
        setupResult.className = `step-result ${setup.registered ? "ok" : "bad"}`;
        ctx.announce(setupResult.textContent);
      } catch (error) {
        setupResult.textContent = `Register: ${messageOf(error)}`;
        setupResult.className = "step-result bad";
        button.disabled = false;
      }
    });
    return el("div", { class: "toolbar" }, button);
  }

  async function loadSetup() {
    if (!canAdmin) return;
    try {
      const setup = (await api.get(`${base}/pos/webhooks`)).data;
      if (isAlive()) drawSetup(setup);
    } catch (error) {
      if (!isAlive()) return;
      const quiet = error instanceof ApiError && error.code in NOT_APPLICABLE;
      setupBody.replaceChildren(
        quiet
          ? el("p", { class: "muted", text: NOT_APPLICABLE[error.code] || error.message })
          : el("p", { class: "notice bad", text: messageOf(error) }),
      );
    }
  }

  // ---------------------------------------------------------------- events

  function eventRow(event) {
    return el(
      "tr",
      { "data-event-id": event.id, "data-event-type": event.event_type },
      el("td", {}, when(fmt, event.received_at)),
      el("td", {}, el("code", { text: event.event_type })),
      el("td", { text: event.kind ? words(event.kind) : "unknown" }),
      el("td", {}, outcomeBadge(event)),
      el("td", { class: "small", text: event.error || event.outcome || "" }),
      el("td", {}, event.processed_at ? when(fmt, event.processed_at) : "not yet"),
      el("td", {}, payloadDetails(event)),
    );
  }

  function drawEvents() {
    eventsBody.replaceChildren(
      dataTable(
        "Events the POS pushed, newest first",
        ["Received", "Type", "About", "Outcome", "Detail", "Processed", "Payload"],
        events.map(eventRow),
        onlyWaiting ? "No event waits." : "No event received yet.",
      ),
    );
    more.hidden = !nextCursor;
  }

  function eventsPath(cursor) {
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (onlyWaiting) params.set("processed", "false");
    if (cursor) params.set("cursor", cursor);
    return `${base}/pos-events?${params}`;
  }

  async function loadEvents() {
    const mine = ++generation;
    const body = await api.get(eventsPath(null));
    if (mine !== generation || !isAlive()) return;
    events = body.data;
    nextCursor = body.meta.next_cursor;
    eventsNotice.hidden = true;
    drawEvents();
  }

  function eventsFail(error) {
    eventsNotice.textContent = messageOf(error);
    eventsNotice.hidden = false;
  }

  waiting.addEventListener("change", () => {
    onlyWaiting = waiting.checked;
    loadEvents().catch(eventsFail);
  });
  reload.addEventListener("click", async () => {
    reload.disabled = true;
    try {
      await loadEvents();
    } catch (error) {
      eventsFail(error);
    } finally {
      reload.disabled = false;
    }
  });
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      const mine = ++generation;
      const body = await api.get(eventsPath(nextCursor));
      if (mine !== generation) return;
      events = events.concat(body.data);
      nextCursor = body.meta.next_cursor;
      drawEvents();
    } catch (error) {
      eventsFail(error);
    } finally {
      more.disabled = false;
    }
  });

  const setupHome = canAdmin
    ? [el("h3", { text: "Where the POS sends them" }), setupBody, setupResult]
    : [
        el("p", {
          class: "muted",
          text: "Organization admins see the webhook URL and register it with the POS.",
        }),
      ];

  return {
    section: section(
      "store-webhooks",
      "POS webhooks",
      ...setupHome,
      el("h3", { text: "Events received" }),
      el(
        "div",
        { class: "toolbar" },
        el("label", { for: "pos-events-waiting" }, waiting, " Only those not processed yet"),
        reload,
      ),
      eventsNotice,
      eventsBody,
      more,
    ),
    async refresh() {
      await Promise.all([loadSetup(), loadEvents().catch(eventsFail)]);
    },
  };
}
