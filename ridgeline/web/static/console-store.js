// The console's store view (#/stores/<id>): the store's state with its evidence, the recovery
// procedure for its current cause with a button for each step the console can perform, the
// connection's actions and credentials (console-store-pos.js), recovery runs, sync runs and
// their issues, and reconciliation; its kiosks (console-store-kiosks.js), orders
// (console-store-orders.js), POS webhooks and events (console-store-webhooks.js) and settings
// (console-store-settings.js: the store itself, its sync and health settings) and its
// compliance profile and taxes (console-store-compliance.js) are sections of their own.
// Live over OpsChannel: a `store.status` of this store refreshes its health and procedure, a
// `kiosk.presence` its kiosks.
// Never shows a secret: credentials are entered, never displayed.

import { storeCompliance } from "./console-store-compliance.js";
import { storeKiosks } from "./console-store-kiosks.js";
import { storeOrders } from "./console-store-orders.js";
import { credentialsForm } from "./console-store-pos.js";
import { storeSettings } from "./console-store-settings.js";
import { storeWebhooks } from "./console-store-webhooks.js";
import { el } from "./dom.js";
import { formValues, submitting } from "./forms.js";
import { dataTable, facts, messageOf, percent, section, stateBadge, words } from "./ui.js";

const RUN_POLL_MS = 2000;

export async function render(root, ctx) {
  const { api, fmt } = ctx;
  const storeId = ctx.params.store_id;
  const base = `/api/v1/stores/${storeId}`;
  const store = (await api.get(base)).data;
  const canManage = ctx.can("store_manager");
  const canAdmin = ctx.can("org_admin");
  let alive = true;
  let lastState = null;
  let procedureKey = null;
  let runTimer = null;
  const timers = new Set();

  function later(fn, ms) {
    const id = window.setTimeout(() => {
      timers.delete(id);
      if (alive) fn();
    }, ms);
    timers.add(id);
  }

  // --- skeleton ---------------------------------------------------------------------------
  const stateHolder = el("span", { id: "store-state" });
  const storeName = document.createTextNode(store.name);
  const heading = el("h1", { id: "store-title" }, storeName, " ", stateHolder);
  const summary = el("p", { id: "store-summary", class: "lead" });
  const healthBody = el("div");
  const callsBody = el("div");
  const diagnosis = el("p", { id: "recovery-diagnosis", class: "notice" });
  const steps = el("ol", { class: "steps", id: "recovery-steps" });
  const actionsResult = el("p", {
    class: "step-result",
    role: "status",
    "data-result": "actions",
  });
  const actions = el("div", { class: "toolbar", id: "store-actions" });
  const posBody = el("div", { id: "pos-settings" });
  const credentialsHome = el("details", { id: "credentials-details" });
  const runsBody = el("div");
  const syncBody = el("div");
  const issuesBody = el("div");
  const reconcileBody = el("div");
  const breakerResult = el("p", {
    class: "step-result",
    role: "status",
    "data-result": "breaker",
  });
  const breakerActions = el("div", { class: "toolbar", id: "breaker-actions" });
  const isAlive = () => alive;
  const kiosks = storeKiosks({ api, ctx, base, isAlive, later });
  const orders = storeOrders({ api, ctx, base, isAlive, later });
  const compliance = storeCompliance({ api, ctx, base, isAlive });
  const webhooks = storeWebhooks({ api, ctx, base, isAlive });
  const settings = storeSettings({
    api,
    ctx,
    base,
    store,
    isAlive,
    onThresholdsSaved: () => refreshHealth(),
    onStoreSaved: (saved) => {
      storeName.textContent = saved.name;
    },
  });

  root.replaceChildren(
    el("p", {}, el("a", { href: "#/", text: "\u2190 Fleet" })),
    heading,
    summary,
    el(
      "nav",
      { "aria-label": "Store pages", class: "toolbar", id: "store-pages" },
      el("a", { href: `#/stores/${storeId}/catalog`, text: "Catalog, RFID tags and field mapping" }),
      el("a", { href: `#/stores/${storeId}/kiosks`, text: "Kiosks and keys" }),
    ),
    el(
      "div",
      { class: "grid-2" },
      section("store-health", "Health", healthBody),
      section("store-recovery", "Recovery procedure", diagnosis, steps),
    ),
    section(
      "store-connection",
      "Connection",
      actions,
      actionsResult,
      breakerActions,
      breakerResult,
      posBody,
      credentialsHome,
    ),
    section("store-calls", "Recent POS calls", callsBody),
    section("store-recovery-runs", "Recovery runs", runsBody),
    section(
      "store-syncs",
      "Sync runs",
      syncBody,
      el("h3", { text: "Quarantined records" }),
      issuesBody,
    ),
    section("store-reconciliation", "Reconciliation", reconcileBody),
    kiosks.section,
    orders.section,
    compliance.section,
    webhooks.section,
    settings.section,
  );

  // --- actions: each performs a step, shows its result and is disabled while it runs ------
  async function perform(button, output, action) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    output.className = "step-result";
    output.textContent = `${button.textContent}: running\u2026`;
    try {
      const text = await action();
      output.textContent = text;
      output.className = `step-result ${text.startsWith("Failed") ? "bad" : "ok"}`;
    } catch (error) {
      output.textContent = `${button.textContent}: ${messageOf(error)}`;
      output.className = "step-result bad";
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
    refreshHealth();
  }

  const ACTIONS = {
    test_connection: {
      label: "Test connection",
      role: "store_manager",
      async run() {
        const result = (await api.post(`${base}/pos/test`)).data;
        const where = result.location_name ? ` (${result.location_name})` : "";
        return result.ok
          ? `Connection OK${where}: ${result.message} in ${Math.round(result.duration_ms)} ms.`
          : `Failed: ${words(result.diagnosis)}. ${result.message}`;
      },
    },
    reset_connection: {
      label: "Reset connection",
      role: "store_manager",
      async run() {
        const result = (await api.post(`${base}/pos/reset`)).data;
        return `Connection reset at ${fmt.time(result.reset_at)}: ${result.adapters_dropped} cached adapter(s) dropped.`;
      },
    },
    sync: {
      label: "Sync now",
      role: "store_manager",
      async run() {
        const kind = document.getElementById("sync-kind").value;
        await api.post(`${base}/sync`, { kind });
        later(refreshSyncs, 1500);
        later(refreshSyncs, 5000);
        return `Sync queued (${kind}).`;
      },
    },
    run_recovery: {
      label: "Run recovery",
      role: "store_manager",
      async run() {
        const run = (await api.post(`${base}/recovery`)).data;
        refreshRuns();
        return `Recovery run started at ${fmt.time(run.started_at)}; its steps are below.`;
      },
    },
    verify_credentials: {
      label: "Verify credentials",
      role: "viewer",
      async run() {
        const pos = (await api.get(`${base}/pos`)).data;
        drawPos(pos);
        if (!pos.provider) return "Failed: no POS configured.";
        if (pos.config === null) return "Failed: the stored credentials cannot be read.";
        return pos.credentials_refused_at
          ? `Failed: the POS refused these credentials at ${fmt.time(pos.credentials_refused_at)}.`
          : "The stored credentials can be read and are not refused.";
      },
    },
    force_open_breaker: {
      label: "Force breaker open",
      role: "org_admin",
      async run() {
        const breaker = (await api.post(`${base}/pos/breaker`, { action: "force_open" })).data;
        return `Breaker ${words(breaker.state)}: no call reaches the POS until it is reset.`;
      },
    },
    disable_breaker: {
      label: "Disable breaker",
      role: "org_admin",
      async run() {
        const breaker = (await api.post(`${base}/pos/breaker`, { action: "disable" })).data;
        return `Breaker ${words(breaker.state)}: every call goes through until it is reset.`;
      },
    },
    reset_breaker: {
      label: "Reset breaker",
      role: "org_admin",
      async run() {
        const breaker = (await api.post(`${base}/pos/breaker`, { action: "reset" })).data;
        return `Breaker ${words(breaker.state)}.`;
      },
    },
    resume: {
      label: "Resume store",
      role: "store_manager",
      async run() {
        const status = (await api.post(`${base}/resume`)).data;
        return `Resumed: ${words(status.state)}.`;
      },
    },
  };
  ACTIONS.drain_orders = ACTIONS.run_recovery;
  // Steps done with the credentials form.
  const FORM_STEPS = new Set(["update_credentials", "configure", "timeouts"]);

  function actionButton(name, output, label) {
    const action = ACTIONS[name];
    if (!action || !ctx.can(action.role)) return null;
    const button = el("button", {
      type: "button",
      "data-action": name,
      text: label || action.label,
    });
    button.addEventListener("click", () => perform(button, output, () => action.run()));
    return button;
  }

  // The connection toolbar (whatever the state).
  if (canManage) {
    actions.append(
      actionButton("test_connection", actionsResult),
      actionButton("reset_connection", actionsResult),
      el(
        "div",
        { class: "row" },
        el("label", { for: "sync-kind", text: "Sync kind" }),
        el(
          "select",
          { id: "sync-kind" },
          el("option", { value: "inventory", text: "Inventory" }),
          el("option", { value: "incremental", text: "Catalog changes" }),
          el("option", { value: "full", text: "Full catalog" }),
        ),
      ),
      actionButton("sync", actionsResult),
      actionButton("run_recovery", actionsResult),
    );
    const pause = el("form", { id: "pause-form", class: "toolbar", novalidate: true });
    pause.append(
      el("p", { class: "form-error", "data-form-error": true, role: "alert" }),
      el(
        "div",
        { class: "row" },
        el("label", { for: "pause-reason", text: "Pause reason" }),
        el("input", { id: "pause-reason", name: "reason", type: "text", maxlength: "500" }),
      ),
      el("button", { type: "submit", class: "secondary", text: "Pause store" }),
    );
    pause.addEventListener("submit", (event) => {
      event.preventDefault();
      submitting(pause, async () => {
        await api.post(`${base}/pause`, { reason: formValues(pause).reason || "" });
        pause.reset();
        actionsResult.textContent = "Store paused.";
        actionsResult.className = "step-result ok";
        refreshHealth();
      });
    });
    actions.after(pause);
  } else {
    actions.append(el("p", { class: "muted", text: "Your role can look, not act." }));
  }

  // The breaker's own toolbar (organization admins): force it open, disable it, or reset it.
  if (canAdmin) {
    breakerActions.append(
      el("span", { class: "muted", text: "Circuit breaker:" }),
      actionButton("force_open_breaker", breakerResult),
      actionButton("disable_breaker", breakerResult),
      actionButton("reset_breaker", breakerResult),
    );
  } else {
    breakerActions.hidden = true;
    breakerResult.hidden = true;
  }

  // --- POS settings and the credentials form ---------------------------------------------
  let credentials = null;

  function drawCalls(calls) {
    callsBody.replaceChildren(
      dataTable(
        "Recent POS calls",
        ["When", "Endpoint", "Status", "Outcome", "Error", "Duration"],
        calls
          .slice(0, 10)
          .map((call) =>
            el(
              "tr",
              {},
              el("td", { text: fmt.time(call.at) }),
              el("td", { text: call.endpoint }),
              el("td", { text: call.status ?? "none" }),
              el(
                "td",
                {},
                stateBadge(
                  call.outcome === "success" ? "succeeded" : "failed",
                  call.outcome.toLowerCase(),
                ),
              ),
              el("td", { text: call.error || "" }),
              el("td", { text: `${Math.round(call.duration_ms)} ms` }),
            ),
          ),
        "No calls yet.",
      ),
    );
  }

  function drawPos(pos, { refill = false } = {}) {
    drawCalls(pos.recent_calls || []);
    if (!pos.provider) {
      posBody.replaceChildren(
        el("p", { class: "notice warn", text: "No POS is configured." }),
      );
    } else {
      // Settings that are not secret; a secret is only said to be set.
      const settings = Object.entries(pos.config || {}).map(([key, value]) => [
        words(key),
        value === "********" ? "set (hidden)" : value === null ? "not set" : String(value),
      ]);
      posBody.replaceChildren(
        facts([
          ["Provider", pos.provider],
          ["Saved", fmt.time(pos.configured_at)],
          [
            "Refused by the POS",
            pos.credentials_refused_at ? fmt.time(pos.credentials_refused_at) : "no",
          ],
          ...settings,
        ]),
      );
    }
    if (credentials && refill) credentials.refill(pos);
  }

  async function loadPos() {
    const pos = (await api.get(`${base}/pos`)).data;
    if (canAdmin && !credentials) {
      credentials = credentialsForm({
        api,
        storeId,
        pos,
        onSaved: () => {
          refreshHealth();
          refreshRuns();
        },
      });
      credentialsHome.append(el("summary", { text: "Update credentials" }), credentials.form);
    }
    drawPos(pos);
  }

  // --- health ------------------------------------------------------------------------------
  function drawHealth(health, pos) {
    const failedCall = ((pos && pos.recent_calls) || []).find((call) => call.error);
    const ev = health.evidence;
    stateHolder.replaceChildren(stateBadge(health.state));
    summary.textContent = `${words(health.state)} since ${fmt.time(health.since)} (${fmt.ago(
      health.since,
    )}): ${words(health.cause)}. Orders: ${health.ordering}. Catalog ${
      health.catalog.stale ? "stale" : "fresh"
    }, last synced ${fmt.ago(health.catalog.last_synced_at)}.`;
    const breaker = ev.breaker || {};
    const window_ = ev.window || {};
    healthBody.replaceChildren(
      facts([
        ["State", stateBadge(health.state)],
        ["Cause", words(health.cause)],
        ["Since", fmt.time(health.since)],
        ["Breaker", words(breaker.state || "closed")],
        breaker.last_reason && ["Breaker opened on", words(breaker.last_reason)],
        breaker.open_until && ["Breaker open until", fmt.time(breaker.open_until)],
        ["Calls in the window", window_.calls ?? "n/a"],
        ["Failed calls", window_.failed ?? "n/a"],
        ["Failure rate", percent(window_.failure_rate)],
        ["Slow calls", `${window_.slow ?? "n/a"} (${percent(window_.slow_call_rate)})`],
        ["Rate limited calls", window_.rate_limited ?? "n/a"],
        ["Last answer from the POS", fmt.time(ev.last_reached_at)],
        ev.unreachable_since && ["Unreachable since", fmt.time(ev.unreachable_since)],
        ev.credentials_refused_at && ["Credentials refused", fmt.time(ev.credentials_refused_at)],
        [
          "Last error",
          window_.last_error ||
            (failedCall
              ? `${failedCall.endpoint}: ${failedCall.error} (${fmt.ago(failedCall.at)})`
              : "none"),
        ],
        ["Sync failures in a row", ev.consecutive_sync_failures],
        ["Kiosks online", `${ev.kiosks.online} of ${ev.kiosks.total}`],
        ["Queued orders", ev.queued_orders.count],
        [
          "Open alerts",
          ev.open_alerts.length ? ev.open_alerts.map((a) => a.title).join("; ") : "none",
        ],
        health.paused && [
          "Paused",
          `by ${health.paused.actor || "?"}: ${health.paused.reason || ""}`,
        ],
        health.next_recovery_at && ["Next automatic recovery", fmt.time(health.next_recovery_at)],
      ]),
    );
    drawSyncs(ev.last_syncs || []);
    settings.offerThresholds(health.thresholds);
    if (lastState !== null && lastState !== health.state) {
      ctx.announce(`${store.name} is now ${words(health.state)}: ${words(health.cause)}.`);
    }
    lastState = health.state;
  }

  function drawProcedure(procedure) {
    const key = `${procedure.state}/${procedure.cause}`;
    if (key === procedureKey) return;
    procedureKey = key;
    diagnosis.textContent = procedure.diagnosis;
    diagnosis.className = `notice ${procedure.state === "connected" ? "" : procedure.state === "error" ? "bad" : "warn"}`;
    steps.dataset.cause = procedure.cause;
    // The credentials form moves into the step that asks for it, and back out after.
    if (credentials && credentials.form.parentElement !== credentialsHome) {
      credentialsHome.append(credentials.form);
    }
    const items = procedure.steps.map((step) => {
      const output = el("p", {
        class: "step-result",
        role: "status",
        "data-result": step.name,
      });
      const item = el(
        "li",
        { "data-step": step.name },
        el(
          "p",
          { class: "step-title" },
          el("strong", { text: step.title }),
          step.automatic ? " (a recovery run does this)" : "",
        ),
        el("p", { class: "muted step-how" }, el("code", { text: step.how })),
      );
      if (FORM_STEPS.has(step.name)) {
        if (credentials) {
          item.append(credentials.form);
        } else {
          item.append(
            el("p", {
              class: "muted",
              text: "An organization admin updates the credentials.",
            }),
          );
        }
      } else {
        const button = actionButton(step.name, output);
        if (button) item.append(el("div", { class: "toolbar" }, button), output);
        else if (!ACTIONS[step.name])
          item.append(el("p", { class: "muted", text: "Done outside the console." }));
      }
      return item;
    });
    steps.replaceChildren(...items);
    credentialsHome.hidden = Boolean(
      credentials && credentials.form.parentElement !== credentialsHome,
    );
  }

  let healthPending = null;
  async function refreshHealth() {
    if (healthPending) return healthPending;
    healthPending = (async () => {
      try {
        const [health, procedure, pos] = await Promise.all([
          api.get(`${base}/health`),
          api.get(`${base}/recovery`),
          api.get(`${base}/pos`),
        ]);
        if (!alive) return;
        drawHealth(health.data, pos.data);
        drawProcedure(procedure.data);
        drawPos(pos.data);
      } catch (error) {
        if (alive) summary.textContent = `Health could not be read: ${messageOf(error)}`;
      } finally {
        healthPending = null;
      }
    })();
    return healthPending;
  }

  // --- recovery runs --------------------------------------------------------------------
  async function refreshRuns() {
    window.clearTimeout(runTimer);
    let runs;
    try {
      runs = (await api.get(`/api/v1/stores/${storeId}/recovery-runs?limit=5`)).data;
    } catch (error) {
      runsBody.replaceChildren(el("p", { class: "notice bad", text: messageOf(error) }));
      return;
    }
    if (!alive) return;
    runsBody.replaceChildren(
      ...(runs.length
        ? runs.map((run) =>
            el(
              "article",
              { class: "card run", "data-run": run.id, "data-status": run.status },
              el(
                "h3",
                {},
                `${words(run.trigger)} run, ${fmt.time(run.started_at)} `,
                stateBadge(run.status),
              ),
              el("p", {
                class: "muted",
                text: `From ${words(run.state_before)} (${words(run.cause)})${run.actor ? `, by ${run.actor}` : ""}${run.error ? `. ${run.error}` : ""}`,
              }),
              dataTable(
                "Steps",
                ["Step", "Outcome", "Detail"],
                run.steps.map((step) =>
                  el(
                    "tr",
                    { "data-step": step.name },
                    el("td", { text: words(step.name) }),
                    el("td", {}, stateBadge(step.outcome === "passed" ? "succeeded" : step.outcome)),
                    el("td", { text: step.detail }),
                  ),
                ),
                "No step yet.",
              ),
            ),
          )
        : [el("p", { class: "muted", text: "No recovery run yet." })]),
    );
    if (runs.some((run) => run.status === "running")) {
      runTimer = window.setTimeout(() => {
        if (alive) refreshRuns();
      }, RUN_POLL_MS);
    }
  }

  // --- sync runs and issues ---------------------------------------------------------------
  function drawSyncs(last) {
    syncBody.replaceChildren(
      dataTable(
        "Latest sync runs",
        ["Started", "Kind", "Trigger", "Status", "Error", "Issues"],
        last.map((run) => {
          const details = el("details", {}, el("summary", { text: "Show" }));
          details.addEventListener("toggle", async () => {
            if (!details.open || details.dataset.loaded) return;
            details.dataset.loaded = "1";
            try {
              const detail = (await api.get(`/api/v1/sync-runs/${run.id}`)).data;
              details.append(
                el("p", {
                  text: `Fetched ${detail.fetched}, created ${detail.created}, updated ${detail.updated}, deactivated ${detail.deactivated}, invalid ${detail.invalid}.`,
                }),
                detail.issues.length
                  ? el(
                      "ul",
                      {},
                      detail.issues.map((issue) =>
                        el("li", { text: `${issue.external_id || "?"}: ${issue.reason}` }),
                      ),
                    )
                  : el("p", { class: "muted", text: "No quarantined record." }),
              );
            } catch (error) {
              details.append(el("p", { class: "notice bad", text: messageOf(error) }));
            }
          });
          return el(
            "tr",
            { "data-sync": run.id },
            el("td", { text: fmt.time(run.started_at) }),
            el("td", { text: words(run.kind) }),
            el("td", { text: words(run.trigger) }),
            el("td", {}, stateBadge(run.status)),
            el("td", { text: run.error || "" }),
            el("td", {}, details),
          );
        }),
        "No sync run yet.",
      ),
    );
  }

  async function refreshSyncs() {
    try {
      const [health, issues] = await Promise.all([
        api.get(`${base}/health`),
        api.get(`${base}/sync-issues?limit=20`),
      ]);
      if (!alive) return;
      drawSyncs(health.data.evidence.last_syncs || []);
      issuesBody.replaceChildren(
        dataTable(
          "Quarantined records",
          ["When", "Record", "Why"],
          issues.data.map((issue) =>
            el(
              "tr",
              {},
              el("td", { text: fmt.time(issue.created_at) }),
              el("td", { text: issue.external_id || "?" }),
              el("td", { text: issue.reason }),
            ),
          ),
          "No quarantined record.",
        ),
      );
    } catch (error) {
      issuesBody.replaceChildren(el("p", { class: "notice bad", text: messageOf(error) }));
    }
  }

  // --- reconciliation -------------------------------------------------------------------
  if (canManage) {
    const output = el("div", { role: "status" });
    const button = el("button", {
      type: "button",
      class: "secondary",
      text: "Compare with the POS",
    });
    button.addEventListener("click", async () => {
      button.disabled = true;
      output.textContent = "Reading the POS\u2026";
      try {
        const r = (await api.get(`${base}/reconciliation`)).data;
        output.replaceChildren(
          facts([
            ["Checked", fmt.time(r.checked_at)],
            ["Products at the POS", r.pos_products],
            ["Products in the catalog", r.catalog_products],
            ["Invalid records", r.invalid_records],
            [
              "Missing in the catalog",
              r.missing_in_catalog.map((p) => p.name).join(", ") || "none",
            ],
            ["Missing at the POS", r.missing_in_pos.map((p) => p.name).join(", ") || "none"],
            ["Price differences", r.price_differences.length],
            ["Stock differences", r.stock_differences.length],
          ]),
        );
      } catch (error) {
        output.replaceChildren(el("p", { class: "notice bad", text: messageOf(error) }));
      } finally {
        button.disabled = false;
      }
    });
    reconcileBody.append(
      el("p", {
        class: "muted",
        text: "A fresh read of the POS compared with the catalog; it changes nothing.",
      }),
      button,
      output,
    );
  } else {
    reconcileBody.append(
      el("p", {
        class: "muted",
        text: "Store managers can compare the catalog with the POS.",
      }),
    );
  }

  // --- live -------------------------------------------------------------------------------
  // OpsChannel carries what happens from the moment the subscription is confirmed: each time
  // it is (first, and again after a reconnection) the view reads the store afresh, so nothing
  // that happened while it was not subscribed is missed.
  const live = el("p", { id: "store-live", class: "live", role: "status" });
  summary.after(live);
  const ops = { channel: "OpsChannel", organization_id: store.organization_id };
  const identifier = JSON.stringify(ops);
  let subscribed = false;
  let unsubscribe = () => {};
  let watch = null;
  if (ctx.me.store_ids && ctx.me.store_ids.length) {
    live.textContent = "Refreshed every 10 s (live updates need organization-wide access).";
  } else if (ctx.cable) {
    live.textContent = "Live updates: subscribing\u2026";
    unsubscribe = ctx.cable.subscribe(
      "OpsChannel",
      { organization_id: store.organization_id },
      (message) => {
        if (!alive || !message || !message.data) return;
        if (message.type === "store.status" && message.data.store_id === storeId) {
          refreshHealth();
          refreshRuns();
          // The sync that changed the state finishes just after: its outcome, a moment later.
          later(refreshSyncs, 2000);
        } else if (message.type === "kiosk.presence" && message.data.store_id === storeId) {
          kiosks.refresh();
        }
      },
    );
    watch = window.setInterval(() => {
      const entry = ctx.cable.subscriptions.get(identifier);
      const now = Boolean(entry && entry.confirmed);
      if (now === subscribed) return;
      subscribed = now;
      live.dataset.live = now ? "subscribed" : "waiting";
      live.textContent = now
        ? "Live updates: following this store."
        : "Live updates: reconnecting\u2026";
      if (now) {
        refreshHealth();
        refreshRuns();
        kiosks.refresh();
      }
    }, 250);
  }

  // Operators limited to some stores get no OpsChannel (organization-wide access only): they
  // see the store's state by polling instead.
  let poll = null;
  if (ctx.me.store_ids && ctx.me.store_ids.length) {
    poll = window.setInterval(() => {
      if (alive) refreshHealth();
    }, 10000);
  }

  await loadPos();
  await refreshHealth();
  await Promise.all([
    refreshRuns(),
    refreshSyncs(),
    kiosks.refresh(),
    orders.refresh(),
    compliance.refresh(),
    webhooks.refresh(),
    settings.load(),
  ]);

  return () => {
    alive = false;
    unsubscribe();
    window.clearTimeout(runTimer);
    window.clearInterval(poll);
    window.clearInterval(watch);
    for (const id of timers) window.clearTimeout(id);
  };
}
