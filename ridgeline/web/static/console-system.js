// The console's System page (#/system, platform admins only: jobs, processes and organizations
// span every tenant): the job queue (how many jobs are in each status, the latest jobs by
// status and kind, a job's payload, attempts and last error, and Retry for a dead one), every
// process's performance figures and this process's /cable (console-system-processes.js), and
// the organizations (console-system-organizations.js). The queue and the figures are read
// again every 10 s while the page is open; a table is redrawn only when what it says changed,
// so the operator's focus stays where it is.

import { systemOrganizations } from "./console-system-organizations.js";
import { systemProcesses } from "./console-system-processes.js";
import { el } from "./dom.js";
import { field } from "./forms.js";
import { badge, dataTable, facts, messageOf, options, section, when, words } from "./ui.js";

// JobStatus, in the order a job goes through them.
const STATUSES = ["queued", "running", "succeeded", "failed", "dead"];
const PAGE = 50;
const MAX_LIMIT = 500; // GET /jobs's largest `limit` (beyond it, its cursor pages on)
const REFRESH_MS = 10000;
const ERROR_PREVIEW = 120;

// A job's status as a badge (web.css colours no `dead`: it is shown as a failure), with the
// status itself in `data-state`.
export function jobBadge(status) {
  const shown = badge(status === "dead" ? "failed" : status, words(status));
  shown.dataset.state = status;
  return shown;
}

// Text that keeps its line breaks and wraps (payloads, stack-like errors).
function block(text) {
  const pre = el("pre", { class: "small", text });
  pre.style.whiteSpace = "pre-wrap";
  pre.style.overflowWrap = "anywhere";
  return pre;
}

export async function render(root, ctx) {
  const { api, fmt } = ctx;
  const heading = el("h1", { text: "System" });
  if (!ctx.can("platform_admin")) {
    root.append(
      heading,
      el("p", { class: "notice warn", text: "The system page is for platform admins." }),
    );
    return null;
  }
  let alive = true;
  let status = "";
  let kind = "";
  let limit = PAGE;
  let jobs = [];
  let chosen = null; // the job whose detail is shown
  let generation = 0; // a newer read of the jobs makes an older answer stale
  const isAlive = () => alive;

  // ---------------------------------------------------------------- counts and filters

  const counts = el("div", {
    id: "job-counts",
    class: "toolbar fleet-counts",
    role: "group",
    "aria-label": "Jobs by status (choose one to list its jobs)",
  });
  const statusSelect = el("select", { name: "status" }, options(STATUSES, "", { any: "Any" }));
  const kindInput = el("input", {
    name: "kind",
    type: "text",
    maxlength: "100",
    autocomplete: "off",
    list: "job-kinds",
  });
  const kinds = el("datalist", { id: "job-kinds" });
  const filterForm = el(
    "form",
    { id: "job-filter", class: "toolbar", role: "search", "aria-label": "Filter the jobs" },
    field("job-status", "Status", statusSelect),
    field("job-kind", "Kind", kindInput),
    kinds,
    el("button", { type: "submit", class: "secondary", text: "Show jobs" }),
  );
  const backlog = el("p", { id: "job-backlog" });
  const byKind = el("div", { id: "jobs-by-kind" });
  const queueNotice = el("p", { class: "notice bad", role: "alert", hidden: true });
  const jobsBody = el("div", { id: "jobs-list" });
  const more = el("button", {
    type: "button",
    class: "secondary",
    text: "Show more",
    hidden: true,
  });

  function drawCounts(byStatus) {
    const signature = JSON.stringify([byStatus, status]);
    if (counts.dataset.sig === signature) return;
    counts.dataset.sig = signature;
    counts.replaceChildren(
      ...STATUSES.map((name) => {
        const button = el(
          "button",
          {
            type: "button",
            class: "secondary fleet-toggle",
            "data-status": name,
            "aria-pressed": status === name ? "true" : "false",
          },
          jobBadge(name),
          el("span", { class: "fleet-count", text: String(byStatus[name] ?? 0) }),
        );
        button.addEventListener("click", () => {
          status = status === name ? "" : name;
          statusSelect.value = status;
          limit = PAGE;
          counts.dataset.sig = "";
          refreshQueue().catch(queueFail);
        });
        return button;
      }),
    );
  }

  // The due backlog (what no worker has started) and each kind's jobs by status: which work
  // waits or dies.
  function drawQueue(summary) {
    const signature = JSON.stringify([summary.due, summary.oldest_due_at, summary.counts_by_kind]);
    if (byKind.dataset.sig === signature) return;
    byKind.dataset.sig = signature;
    const oldest = fmt.ago(summary.oldest_due_at);
    backlog.textContent = summary.due
      ? `${summary.due} job(s) due and not started; the oldest due ${oldest}.`
      : "No job is waiting for a worker.";
    backlog.className = summary.due ? "notice warn" : "muted";
    const rows = Object.entries(summary.counts_by_kind)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([kind, byStatus]) =>
        el(
          "tr",
          { "data-kind": kind },
          el("th", { scope: "row", text: kind }),
          ...STATUSES.map((name) => el("td", { text: String(byStatus[name] ?? 0) })),
        ),
      );
    byKind.replaceChildren(
      dataTable("Jobs of each kind by status", ["Kind", ...STATUSES.map(words)], rows, "No job."),
    );
  }

  // ---------------------------------------------------------------- the jobs

  function jobRow(job) {
    const show = el("button", {
      type: "button",
      class: "secondary",
      "data-action": "show-job",
      text: "Details",
      "aria-label": `Details of the ${job.kind} job created ${fmt.time(job.created_at)}`,
      "aria-controls": "job-detail",
    });
    show.addEventListener("click", () => choose(job.id).catch(detailFail));
    const error = job.last_error || "";
    return el(
      "tr",
      { "data-job-id": job.id, "data-status": job.status, "data-kind": job.kind },
      el("td", {}, el("code", { text: job.kind })),
      el("td", {}, jobBadge(job.status)),
      el("td", { text: `${job.attempts} / ${job.max_attempts}` }),
      el("td", {}, when(fmt, job.created_at)),
      el("td", {}, when(fmt, job.run_at)),
      el("td", {}, job.finished_at ? when(fmt, job.finished_at) : "not yet"),
      el("td", {
        class: "small",
        text: error.length > ERROR_PREVIEW ? `${error.slice(0, ERROR_PREVIEW)}\u2026` : error,
      }),
      el("td", {}, show),
    );
  }

  function drawJobs() {
    const signature = JSON.stringify(jobs.map((job) => [job.id, job.status, job.updated_at]));
    more.hidden = jobs.length < limit || limit >= MAX_LIMIT;
    if (jobsBody.dataset.sig === signature) return;
    jobsBody.dataset.sig = signature;
    const what = [status && words(status), kind && `of kind ${kind}`].filter(Boolean).join(" ");
    jobsBody.replaceChildren(
      el("p", {
        class: "muted",
        text:
          `The ${jobs.length} latest ${what ? `${what} ` : ""}` +
          `job${jobs.length === 1 ? "" : "s"}, newest first.`,
      }),
      dataTable(
        "Jobs, newest first",
        ["Kind", "Status", "Attempts", "Created", "Runs at", "Finished", "Last error", "Job"],
        jobs.map(jobRow),
        "No job matches.",
      ),
    );
  }

  function jobsPath() {
    const params = new URLSearchParams({ limit: String(limit) });
    if (status) params.set("status", status);
    if (kind) params.set("kind", kind);
    return `/api/v1/jobs?${params}`;
  }

  async function refreshQueue() {
    const mine = ++generation;
    const [summary, listed] = await Promise.all([
      api.get("/api/v1/jobs/summary"),
      api.get(jobsPath()),
    ]);
    if (mine !== generation || !alive) return;
    jobs = listed.data;
    queueNotice.hidden = true;
    drawCounts(summary.data.counts);
    drawQueue(summary.data);
    drawJobs();
    const known = new Set([...kinds.options].map((option) => option.value));
    for (const job of jobs) {
      if (!known.has(job.kind)) {
        known.add(job.kind);
        kinds.append(el("option", { value: job.kind }));
      }
    }
  }

  function queueFail(error) {
    queueNotice.textContent = messageOf(error);
    queueNotice.hidden = false;
  }

  filterForm.addEventListener("submit", (event) => {
    event.preventDefault();
    status = statusSelect.value;
    kind = kindInput.value.trim();
    limit = PAGE;
    refreshQueue().catch(queueFail);
  });
  more.addEventListener("click", async () => {
    more.disabled = true;
    limit = Math.min(limit + PAGE, MAX_LIMIT);
    try {
      await refreshQueue();
    } catch (error) {
      queueFail(error);
    } finally {
      more.disabled = false;
    }
  });

  // ---------------------------------------------------------------- one job

  const detailTitle = el("h2", { id: "job-detail-title", text: "Job" });
  const detailHint = el("p", { class: "muted", text: "Choose a job's Details to see it here." });
  const detailNotice = el("p", { class: "notice bad", role: "alert", hidden: true });
  const detailBody = el("div");
  const retryHome = el("div", { class: "toolbar" });
  const retryResult = el("p", { class: "step-result", role: "status", "data-result": "retry" });
  const detailSection = el(
    "section",
    { id: "job-detail", "aria-labelledby": "job-detail-title", tabindex: "-1" },
    detailTitle,
    detailHint,
    detailNotice,
    detailBody,
    retryHome,
    retryResult,
  );

  function detailFail(error) {
    detailNotice.textContent = messageOf(error);
    detailNotice.hidden = false;
  }

  function drawDetail(job) {
    const signature = JSON.stringify(job);
    if (detailBody.dataset.sig === signature) return;
    detailBody.dataset.sig = signature;
    chosen = job;
    detailTitle.textContent = `Job ${job.kind}`;
    detailHint.hidden = true;
    detailBody.replaceChildren(
      facts([
        ["Id", el("code", { text: job.id })],
        ["Kind", el("code", { text: job.kind })],
        ["Status", jobBadge(job.status)],
        ["Attempts", `${job.attempts} of ${job.max_attempts}`],
        ["Priority", `${job.priority} (lower runs first)`],
        ["Created", when(fmt, job.created_at, { exact: true })],
        ["Runs at", when(fmt, job.run_at, { exact: true })],
        job.locked_by && ["Held by", job.locked_by],
        job.lease_expires_at && ["Lease until", when(fmt, job.lease_expires_at, { exact: true })],
        ["Finished", job.finished_at ? when(fmt, job.finished_at, { exact: true }) : "not yet"],
        ["Updated", when(fmt, job.updated_at, { exact: true })],
        job.dedupe_key && ["Dedupe key", el("code", { text: job.dedupe_key })],
      ]),
      el("h3", { text: "Last error" }),
      job.last_error ? block(job.last_error) : el("p", { class: "muted", text: "None." }),
      el("h3", { text: "Payload" }),
      block(JSON.stringify(job.payload, null, 2)),
    );
    // Only a dead job can be queued again (POST /jobs/{id}/retry answers 409 otherwise); a
    // failed one is retried by the queue itself at its `run_at`.
    if (job.status === "dead") {
      if (!retryHome.querySelector("button")) retryHome.replaceChildren(retryButton());
    } else {
      retryHome.replaceChildren(
        job.status === "failed"
          ? el("p", { class: "muted", text: "The queue retries it at the time above." })
          : "",
      );
    }
  }

  function retryButton() {
    const button = el("button", {
      type: "button",
      "data-action": "retry-job",
      text: "Retry",
      "aria-label": "Retry this job",
    });
    button.addEventListener("click", async () => {
      button.disabled = true;
      retryResult.className = "step-result";
      retryResult.textContent = "Retrying\u2026";
      try {
        const job = (await api.post(`/api/v1/jobs/${chosen.id}/retry`)).data;
        retryResult.textContent =
          `Queued again with all ${job.max_attempts} attempts back; ` +
          "its last error is kept.";
        retryResult.className = "step-result ok";
        ctx.announce(retryResult.textContent);
        drawDetail(job);
        await refreshQueue();
      } catch (error) {
        retryResult.textContent = `Retry: ${messageOf(error)}`;
        retryResult.className = "step-result bad";
        button.disabled = false;
      }
    });
    return button;
  }

  async function choose(jobId) {
    if (!chosen || chosen.id !== jobId) {
      retryResult.textContent = "";
      retryHome.replaceChildren();
    }
    const job = (await api.get(`/api/v1/jobs/${jobId}`)).data;
    if (!alive) return;
    detailNotice.hidden = true;
    drawDetail(job);
    detailSection.focus();
  }

  async function refreshDetail() {
    if (!chosen) return;
    const job = (await api.get(`/api/v1/jobs/${chosen.id}`)).data;
    if (alive && chosen && chosen.id === job.id) drawDetail(job);
  }

  // ---------------------------------------------------------------- page

  const processes = systemProcesses({ api, ctx, isAlive });
  const organizations = systemOrganizations({ api, ctx, isAlive });
  root.append(
    heading,
    el("p", {
      class: "lead",
      text:
        "Every tenant's background work, the processes serving Ridgeline, and the " +
        "organizations.",
    }),
    el("p", { class: "muted", id: "system-refresh", text: "Figures refreshed every 10 s." }),
    section(
      "job-queue",
      "Job queue",
      counts,
      backlog,
      el("details", {}, el("summary", { text: "Jobs by kind" }), byKind),
      filterForm,
      queueNotice,
      el("div", { "aria-live": "off" }, jobsBody),
      more,
    ),
    detailSection,
    ...processes.sections,
    organizations.section,
  );

  async function refreshFigures() {
    await Promise.all([
      refreshQueue().catch(queueFail),
      refreshDetail().catch(detailFail),
      processes.refresh(),
    ]);
  }

  await Promise.all([refreshFigures(), organizations.refresh()]);
  const timer = window.setInterval(() => {
    if (alive) refreshFigures();
  }, REFRESH_MS);
  return () => {
    alive = false;
    generation += 1;
    window.clearInterval(timer);
  };
}
