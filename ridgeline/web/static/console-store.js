// The console's store view (#/stores/<id>): the store's state with its evidence, the recovery
// procedure for its current cause with a button for each step the console can perform,
// recovery runs, sync runs and their issues, reconciliation, kiosks with presence and
// commands, and orders with their timelines. Live over OpsChannel: a `store.status` of this
// store refreshes its health and procedure, a `kiosk.presence` its kiosks.
// Never shows a secret: credentials are entered, never displayed.

import { ApiError } from "./api.js";
import { clearErrors, formValues, showError } from "./forms.js";
import { credentialsForm } from "./console-store-pos.js";
import { el as node } from "./dom.js";

const RUN_POLL_MS = 2000;

function words(value) {
  return value === null || value === undefined ? "" : String(value).replace(/_/g, " ");
}

function badge(state, text) {
  const safe = String(state || "unknown").replace(/[^a-z_]/g, "");
  return node("span", {
    className: `badge ${safe}`,
    "data-state": safe,
    text: words(text || state || "unknown"),
  });
}

function messageOf(error) {
  if (error instanceof ApiError) return `${error.message} (${error.code})`;
  return "Something went wrong.";
}

function table(caption, headings, rows, emptyText) {
  if (!rows.length) return node("p", { className: "muted", text: emptyText });
  return node(
    "div",
    { className: "table-wrap" },
    node(
      "table",
      {},
      node("caption", { className: "visually-hidden", text: caption }),
      node(
        "thead",
        {},
        node(
          "tr",
          {},
          headings.map((h) => node("th", { scope: "col", text: h })),
        ),
      ),
      node("tbody", {}, rows),
    ),
  );
}

function facts(pairs) {
  return node(
    "dl",
    { className: "facts" },
    pairs
      .filter(Boolean)
      .flatMap(([term, value]) => [
        node("dt", { text: term }),
        node("dd", {}, value instanceof Node ? value : String(value ?? "")),
      ]),
  );
}

function money(cents, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(cents / 100);
  } catch {
    return `${(cents / 100).toFixed(2)} ${currency}`;
  }
}

function percent(rate) {
  return rate === null || rate === undefined ? "n/a" : `${Math.round(rate * 1000) / 10} %`;
}

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
  const stateBadge = node("span", { id: "store-state" });
  const heading = node("h1", { id: "store-title" }, store.name, " ", stateBadge);
  const summary = node("p", { id: "store-summary", className: "lead" });
  const section = (id, title, ...rest) =>
    node(
      "section",
      { id, "aria-labelledby": `${id}-title` },
      node("h2", { id: `${id}-title`, text: title }),
      ...rest,
    );
  const healthBody = node("div");
  const callsBody = node("div");
  const diagnosis = node("p", { id: "recovery-diagnosis", className: "notice" });
  const steps = node("ol", { className: "steps", id: "recovery-steps" });
  const actionsResult = node("p", {
    className: "step-result",
    role: "status",
    "data-result": "actions",
  });
  const actions = node("div", { className: "toolbar", id: "store-actions" });
  const posBody = node("div", { id: "pos-settings" });
  const credentialsHome = node("details", { id: "credentials-details" });
  const runsBody = node("div");
  const syncBody = node("div");
  const issuesBody = node("div");
  const reconcileBody = node("div");
  const kiosksBody = node("div");
  const commandHome = node("div");
  const ordersBody = node("div");
  const breakerResult = node("p", {
    className: "step-result",
    role: "status",
    "data-result": "breaker",
  });
  const breakerActions = node("div", { className: "toolbar", id: "breaker-actions" });
  const kioskResult = node("p", {
    className: "step-result",
    role: "status",
    "data-result": "kiosks",
  });
  const settingsBody = node("div");

  root.replaceChildren(
    node("p", {}, node("a", { href: "#/", text: "\u2190 Fleet" })),
    heading,
    summary,
    node(
      "nav",
      { "aria-label": "Store pages", className: "toolbar", id: "store-pages" },
      node("a", { href: `#/stores/${storeId}/catalog`, text: "Catalog, RFID tags and field mapping" }),
      node("a", { href: `#/stores/${storeId}/kiosks`, text: "Kiosks and keys" }),
    ),
    node(
      "div",
      { className: "grid-2" },
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
      node("h3", { text: "Quarantined records" }),
      issuesBody,
    ),
    section("store-reconciliation", "Reconciliation", reconcileBody),
    section("store-kiosks", "Kiosks", kiosksBody, kioskResult, commandHome),
    section("store-orders", "Orders", ordersBody),
    section("store-settings", "Settings", settingsBody),
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
    const button = node("button", {
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
      node(
        "div",
        { className: "row" },
        node("label", { for: "sync-kind", text: "Sync kind" }),
        node(
          "select",
          { id: "sync-kind" },
          node("option", { value: "inventory", text: "Inventory" }),
          node("option", { value: "incremental", text: "Catalog changes" }),
          node("option", { value: "full", text: "Full catalog" }),
        ),
      ),
      actionButton("sync", actionsResult),
      actionButton("run_recovery", actionsResult),
    );
    const pause = node("form", { id: "pause-form", className: "toolbar", novalidate: true });
    pause.append(
      node("p", { className: "form-error", "data-form-error": true, role: "alert" }),
      node(
        "div",
        { className: "row" },
        node("label", { for: "pause-reason", text: "Pause reason" }),
        node("input", { id: "pause-reason", name: "reason", type: "text", maxlength: "500" }),
      ),
      node("button", { type: "submit", className: "secondary", text: "Pause store" }),
    );
    pause.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(pause);
      const button = pause.querySelector("button");
      button.disabled = true;
      try {
        await api.post(`${base}/pause`, { reason: formValues(pause).reason || "" });
        pause.reset();
        actionsResult.textContent = "Store paused.";
        actionsResult.className = "step-result ok";
        refreshHealth();
      } catch (error) {
        showError(pause, error);
      } finally {
        button.disabled = false;
      }
    });
    actions.after(pause);
  } else {
    actions.append(node("p", { className: "muted", text: "Your role can look, not act." }));
  }

  // The breaker's own toolbar (organization admins): force it open, disable it, or reset it.
  if (canAdmin) {
    breakerActions.append(
      node("span", { className: "muted", text: "Circuit breaker:" }),
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
      table(
        "Recent POS calls",
        ["When", "Endpoint", "Status", "Outcome", "Error", "Duration"],
        calls
          .slice(0, 10)
          .map((call) =>
            node(
              "tr",
              {},
              node("td", { text: fmt.time(call.at) }),
              node("td", { text: call.endpoint }),
              node("td", { text: call.status ?? "none" }),
              node(
                "td",
                {},
                badge(
                  call.outcome === "success" ? "succeeded" : "failed",
                  call.outcome.toLowerCase(),
                ),
              ),
              node("td", { text: call.error || "" }),
              node("td", { text: `${Math.round(call.duration_ms)} ms` }),
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
        node("p", { className: "notice warn", text: "No POS is configured." }),
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
      credentialsHome.append(node("summary", { text: "Update credentials" }), credentials.form);
    }
    drawPos(pos);
  }

  // --- health ------------------------------------------------------------------------------
  function drawHealth(health, pos) {
    const failedCall = ((pos && pos.recent_calls) || []).find((call) => call.error);
    const ev = health.evidence;
    stateBadge.replaceChildren(badge(health.state));
    summary.textContent = `${words(health.state)} since ${fmt.time(health.since)} (${fmt.ago(
      health.since,
    )}): ${words(health.cause)}. Orders: ${health.ordering}. Catalog ${
      health.catalog.stale ? "stale" : "fresh"
    }, last synced ${fmt.ago(health.catalog.last_synced_at)}.`;
    const breaker = ev.breaker || {};
    const window_ = ev.window || {};
    healthBody.replaceChildren(
      facts([
        ["State", badge(health.state)],
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
    if (thresholdsForm && !thresholdsForm.dataset.filled) fillThresholds(health.thresholds);
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
      const output = node("p", {
        className: "step-result",
        role: "status",
        "data-result": step.name,
      });
      const item = node(
        "li",
        { "data-step": step.name },
        node(
          "p",
          { className: "step-title" },
          node("strong", { text: step.title }),
          step.automatic ? " (a recovery run does this)" : "",
        ),
        node("p", { className: "muted step-how" }, node("code", { text: step.how })),
      );
      if (FORM_STEPS.has(step.name)) {
        if (credentials) {
          item.append(credentials.form);
        } else {
          item.append(
            node("p", {
              className: "muted",
              text: "An organization admin updates the credentials.",
            }),
          );
        }
      } else {
        const button = actionButton(step.name, output);
        if (button) item.append(node("div", { className: "toolbar" }, button), output);
        else if (!ACTIONS[step.name])
          item.append(node("p", { className: "muted", text: "Done outside the console." }));
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
      runsBody.replaceChildren(node("p", { className: "notice bad", text: messageOf(error) }));
      return;
    }
    if (!alive) return;
    runsBody.replaceChildren(
      ...(runs.length
        ? runs.map((run) =>
            node(
              "article",
              { className: "card run", "data-run": run.id, "data-status": run.status },
              node(
                "h3",
                {},
                `${words(run.trigger)} run, ${fmt.time(run.started_at)} `,
                badge(run.status),
              ),
              node("p", {
                className: "muted",
                text: `From ${words(run.state_before)} (${words(run.cause)})${run.actor ? `, by ${run.actor}` : ""}${run.error ? `. ${run.error}` : ""}`,
              }),
              table(
                "Steps",
                ["Step", "Outcome", "Detail"],
                run.steps.map((step) =>
                  node(
                    "tr",
                    { "data-step": step.name },
                    node("td", { text: words(step.name) }),
                    node("td", {}, badge(step.outcome === "passed" ? "succeeded" : step.outcome)),
                    node("td", { text: step.detail }),
                  ),
                ),
                "No step yet.",
              ),
            ),
          )
        : [node("p", { className: "muted", text: "No recovery run yet." })]),
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
      table(
        "Latest sync runs",
        ["Started", "Kind", "Trigger", "Status", "Error", "Issues"],
        last.map((run) => {
          const details = node("details", {}, node("summary", { text: "Show" }));
          details.addEventListener("toggle", async () => {
            if (!details.open || details.dataset.loaded) return;
            details.dataset.loaded = "1";
            try {
              const detail = (await api.get(`/api/v1/sync-runs/${run.id}`)).data;
              details.append(
                node("p", {
                  text: `Fetched ${detail.fetched}, created ${detail.created}, updated ${detail.updated}, deactivated ${detail.deactivated}, invalid ${detail.invalid}.`,
                }),
                detail.issues.length
                  ? node(
                      "ul",
                      {},
                      detail.issues.map((issue) =>
                        node("li", { text: `${issue.external_id || "?"}: ${issue.reason}` }),
                      ),
                    )
                  : node("p", { className: "muted", text: "No quarantined record." }),
              );
            } catch (error) {
              details.append(node("p", { className: "notice bad", text: messageOf(error) }));
            }
          });
          return node(
            "tr",
            { "data-sync": run.id },
            node("td", { text: fmt.time(run.started_at) }),
            node("td", { text: words(run.kind) }),
            node("td", { text: words(run.trigger) }),
            node("td", {}, badge(run.status)),
            node("td", { text: run.error || "" }),
            node("td", {}, details),
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
        table(
          "Quarantined records",
          ["When", "Record", "Why"],
          issues.data.map((issue) =>
            node(
              "tr",
              {},
              node("td", { text: fmt.time(issue.created_at) }),
              node("td", { text: issue.external_id || "?" }),
              node("td", { text: issue.reason }),
            ),
          ),
          "No quarantined record.",
        ),
      );
    } catch (error) {
      issuesBody.replaceChildren(node("p", { className: "notice bad", text: messageOf(error) }));
    }
  }

  // --- reconciliation -------------------------------------------------------------------
  if (canManage) {
    const output = node("div", { role: "status" });
    const button = node("button", {
      type: "button",
      className: "secondary",
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
        output.replaceChildren(node("p", { className: "notice bad", text: messageOf(error) }));
      } finally {
        button.disabled = false;
      }
    });
    reconcileBody.append(
      node("p", {
        className: "muted",
        text: "A fresh read of the POS compared with the catalog; it changes nothing.",
      }),
      button,
      output,
    );
  } else {
    reconcileBody.append(
      node("p", {
        className: "muted",
        text: "Store managers can compare the catalog with the POS.",
      }),
    );
  }

  // --- kiosks -----------------------------------------------------------------------------
  let kioskSelect = null;
  // A connected kiosk's /cable connections closed (it reconnects): store managers.
  function disconnectButton(kiosk) {
    if (!canManage || !kiosk.connected) return null;
    const button = node("button", {
      type: "button",
      className: "secondary",
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
      kiosksBody.replaceChildren(node("p", { className: "notice bad", text: messageOf(error) }));
      return;
    }
    if (!alive) return;
    kiosksBody.replaceChildren(
      table(
        "Kiosks",
        ["Kiosk", "Presence", "Last heartbeat", "App version", "Status", ""],
        kiosks.map((kiosk) =>
          node(
            "tr",
            { "data-kiosk": kiosk.id, "data-connected": kiosk.connected ? "true" : "false" },
            node("td", { text: kiosk.name }),
            node(
              "td",
              {},
              badge(kiosk.connected ? "connected" : "offline"),
              kiosk.connected && kiosk.connected_since
                ? ` since ${fmt.time(kiosk.connected_since)}`
                : "",
            ),
            node("td", { text: fmt.ago(kiosk.last_seen_at) }),
            node("td", { text: kiosk.app_version || "unknown" }),
            node("td", { text: kiosk.status }),
            node("td", {}, disconnectButton(kiosk)),
          ),
        ),
        "No kiosk in this store.",
      ),
    );
    if (kioskSelect) {
      const chosen = kioskSelect.value;
      kioskSelect.replaceChildren(
        ...kiosks.map((k) => node("option", { value: k.id, text: k.name })),
      );
      if (chosen) kioskSelect.value = chosen;
    }
  }

  if (canManage) {
    const form = node("form", {
      id: "kiosk-command",
      novalidate: true,
      "aria-labelledby": "kiosk-command-title",
    });
    kioskSelect = node("select", { id: "command-kiosk", name: "kiosk" });
    const type = node(
      "select",
      { id: "command-type", name: "type" },
      node("option", { value: "reload", text: "Reload the app" }),
      node("option", { value: "show_message", text: "Show a message" }),
    );
    const result = node("p", { className: "step-result", role: "status" });
    form.append(
      node("h3", { id: "kiosk-command-title", text: "Send a command" }),
      node("p", { className: "form-error", "data-form-error": true, role: "alert" }),
      node(
        "div",
        { className: "row" },
        node("label", { for: "command-kiosk", text: "Kiosk" }),
        kioskSelect,
      ),
      node(
        "div",
        { className: "row" },
        node("label", { for: "command-type", text: "Command" }),
        type,
      ),
      node(
        "div",
        { className: "row" },
        node("label", { for: "command-message", text: "Message (for Show a message)" }),
        node("input", { id: "command-message", name: "message", type: "text", maxlength: "500" }),
      ),
      node(
        "div",
        { className: "row" },
        node("label", { for: "command-duration", text: "Show for (seconds, optional)" }),
        node("input", {
          id: "command-duration",
          name: "duration_s",
          type: "number",
          min: "1",
          max: "86400",
        }),
      ),
      node("button", { type: "submit", text: "Send command" }),
      result,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      const values = formValues(form);
      const button = form.querySelector("button[type=submit]");
      if (!values.kiosk) {
        form.querySelector("[data-form-error]").textContent = "Choose a kiosk.";
        return;
      }
      const body = { type: values.type };
      if (values.type === "show_message") {
        body.message = values.message ?? "";
        if (values.duration_s !== undefined) body.duration_s = values.duration_s;
      }
      button.disabled = true;
      try {
        const sent = (await api.post(`/api/v1/kiosks/${values.kiosk}/commands`, body)).data;
        result.textContent = sent.connected
          ? `Sent: ${words(sent.type)} delivered now.`
          : `Queued: ${words(sent.type)} is delivered when the kiosk reconnects.`;
        result.className = "step-result ok";
      } catch (error) {
        showError(form, error);
        result.textContent = "";
      } finally {
        button.disabled = false;
      }
    });
    commandHome.append(form);
  }

  // --- settings: sync intervals and health thresholds (organization admins) -------------
  const SYNC_FIELDS = [
    ["catalog_interval_s", "Catalog sync interval (s)", 60, 86400],
    ["inventory_interval_s", "Inventory sync interval (s)", 30, 86400],
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
    return node(
      "div",
      { className: "row" },
      node("label", { for: idOf(prefix, name), text: label }),
      node("input", {
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
    const result = node("p", { className: "step-result", role: "status" });
    const form = node(
      "form",
      { id, novalidate: true, "aria-labelledby": `${id}-title` },
      node("h3", { id: `${id}-title`, text: title }),
      node("p", { className: "form-error", "data-form-error": true, role: "alert" }),
      rows,
      node("button", { type: "submit", "data-action": action, text: submitLabel }),
      result,
    );
    form.result = result;
    return form;
  }

  async function loadSyncState() {
    try {
      const state = (await api.get(`${base}/sync-state`)).data;
      if (!alive || !syncForm) return;
      for (const [name] of SYNC_FIELDS) {
        syncForm.elements.namedItem(name).value = String(state[name] ?? "");
      }
    } catch (error) {
      if (syncForm) syncForm.querySelector("[data-form-error]").textContent = messageOf(error);
    }
  }

  if (canAdmin) {
    syncForm = settingsForm(
      "sync-settings",
      "Sync intervals",
      SYNC_FIELDS.map(([name, label, min, max]) => numberRow("sync", name, label, min, max)),
      "Save sync intervals",
      "save_sync_intervals",
    );
    syncForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(syncForm);
      syncForm.result.textContent = "";
      const values = formValues(syncForm);
      const body = {};
      for (const [name] of SYNC_FIELDS) if (values[name] !== undefined) body[name] = values[name];
      const button = syncForm.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const state = (await api.put(`${base}/sync-state`, body)).data;
        for (const [name] of SYNC_FIELDS) {
          syncForm.elements.namedItem(name).value = String(state[name]);
        }
        syncForm.result.textContent = "Sync intervals saved.";
        syncForm.result.className = "step-result ok";
      } catch (error) {
        showError(syncForm, error);
      } finally {
        button.disabled = false;
      }
    });

    thresholdsForm = settingsForm(
      "health-thresholds",
      "Health thresholds",
      [
        node("p", {
          className: "muted",
          text: "An empty field restores the default.",
        }),
        THRESHOLD_FIELDS.map(([name, label, min, max, step]) =>
          numberRow("threshold", name, label, min, max, step),
        ),
      ],
      "Save thresholds",
      "save_health_thresholds",
    );
    thresholdsForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(thresholdsForm);
      thresholdsForm.result.textContent = "";
      // Only what changed: a number, or null (the default) for a field emptied.
      const thresholds = {};
      for (const [name] of THRESHOLD_FIELDS) {
        const input = thresholdsForm.elements.namedItem(`thresholds.${name}`);
        if (input.value === (input.dataset.loaded ?? "")) continue;
        thresholds[name] = input.value === "" ? null : Number(input.value);
      }
      const button = thresholdsForm.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const saved = (await api.put(`${base}/health/thresholds`, { thresholds })).data;
        fillThresholds(saved);
        thresholdsForm.result.textContent = "Health thresholds saved.";
        thresholdsForm.result.className = "step-result ok";
        refreshHealth();
      } catch (error) {
        showError(thresholdsForm, error);
      } finally {
        button.disabled = false;
      }
    });
    settingsBody.append(syncForm, thresholdsForm);
  } else {
    settingsBody.append(
      node("p", {
        className: "muted",
        text: "Organization admins change the sync intervals and health thresholds.",
      }),
    );
  }

  // --- orders -----------------------------------------------------------------------------
  async function refreshOrders() {
    let orders;
    try {
      orders = (await api.get(`${base}/orders?limit=20`)).data;
    } catch (error) {
      ordersBody.replaceChildren(node("p", { className: "notice bad", text: messageOf(error) }));
      return;
    }
    if (!alive) return;
    ordersBody.replaceChildren(
      table(
        "Orders",
        ["Placed", "Reference", "Status", "Total", "Why", "Timeline", ""],
        orders.map((order) => {
          const timeline = node("details", {}, node("summary", { text: "Show" }));
          timeline.addEventListener("toggle", async () => {
            if (!timeline.open || timeline.dataset.loaded) return;
            timeline.dataset.loaded = "1";
            try {
              const detail = (await api.get(`${base}/orders/${order.id}`)).data;
              timeline.append(
                node(
                  "ol",
                  { className: "timeline" },
                  detail.transitions.map((t) =>
                    node("li", {
                      text: `${fmt.time(t.at)}: ${words(t.from_status || "new")} \u2192 ${words(t.to_status)} (${t.source})${t.reason ? `, ${t.reason}` : ""}`,
                    }),
                  ),
                ),
              );
            } catch (error) {
              timeline.append(node("p", { className: "notice bad", text: messageOf(error) }));
            }
          });
          const retryCell = node("td");
          if (order.status === "failed" && canManage) {
            const retry = node("button", {
              type: "button",
              className: "secondary",
              text: "Retry",
              "aria-label": `Retry order ${order.reference}`,
            });
            const out = node("span", { role: "status" });
            retry.addEventListener("click", async () => {
              retry.disabled = true;
              try {
                const detail = (await api.post(`${base}/orders/${order.id}/retry`)).data;
                out.textContent = ` Now ${words(detail.status)}.`;
                later(refreshOrders, 2000);
              } catch (error) {
                out.textContent = ` ${messageOf(error)}`;
                retry.disabled = false;
              }
            });
            retryCell.append(retry, out);
          }
          return node(
            "tr",
            { "data-order": order.id },
            node("td", { text: fmt.time(order.created_at) }),
            node("td", { text: order.reference }),
            node("td", {}, badge(order.status)),
            node("td", { text: money(order.subtotal_cents, order.currency) }),
            node("td", { text: order.failure_reason || "" }),
            node("td", {}, timeline),
            retryCell,
          );
        }),
        "No order yet.",
      ),
    );
  }

  // --- live -------------------------------------------------------------------------------
  // OpsChannel carries what happens from the moment the subscription is confirmed: each time
  // it is (first, and again after a reconnection) the view reads the store afresh, so nothing
  // that happened while it was not subscribed is missed.
  const live = node("p", { id: "store-live", className: "live", role: "status" });
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
          refreshKiosks();
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
        refreshKiosks();
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
    refreshKiosks(),
    refreshOrders(),
    loadSyncState(),
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
