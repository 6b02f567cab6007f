// One deployment (§3.4.5): progress and batches updated live by the `deployment` messages of /ws (the same
// document as GET), its jobs reloaded after each, and the cancel and rollback buttons. While the socket is
// down the page polls every 2 s instead, and reloads once when it is back (it may have missed messages).
import { get, post } from "../api.js";
import { clear, h } from "../dom.js";
import { badge, busy, errorBox, field, fill, heading, number, pager, select, table, time } from "../ui.js";

const POLL_MS = 2000;
const SOURCES = {
  live: " live over the WebSocket",
  loaded: "; further updates arrive live over the WebSocket",
  poll: `; polled every ${POLL_MS / 1000} s while the WebSocket is down`,
};
const JOBS_AFTER_PUSH_MS = 1000; // a burst of pushes reloads the jobs table once
const TERMINAL = new Set(["completed", "halted", "cancelled", "rolled_back"]);

function progressBar(p) {
  const total = p.total || 1;
  const part = (name, value) => h("span", { class: `seg seg-${name}`, style: { width: `${(value / total) * 100}%` }, title: `${name}: ${value}` });
  return h(
    "div",
    {},
    h("div", { class: "progress", role: "img", "aria-label": `${p.succeeded} of ${p.total} succeeded` }, part("succeeded", p.succeeded), part("failed", p.failed), part("inProgress", p.inProgress)),
    h(
      "ul",
      { class: "legend-list", id: "deployment-progress" },
      ["succeeded", "failed", "inProgress", "pending", "total"].map((k) => h("li", { "data-key": k }, h("i", { class: `seg-${k}` }), `${k === "inProgress" ? "in progress" : k}: `, h("strong", {}, String(p[k] || 0)))),
    ),
  );
}

export async function render(root, { params, isCurrent, query, navigate, live }) {
  const [deploymentId] = params;
  const path = `/firmware/deployments/${encodeURIComponent(deploymentId)}`;
  const summary = h("div", { "aria-live": "polite" });
  const jobs = h("div");
  const problem = h("div");
  const reason = h("input", { type: "text", id: "deployment-reason", placeholder: "why" });
  const cancel = h("button", { type: "button", class: "danger", id: "cancel-deployment" }, "Cancel deployment");
  const rollback = h("button", { type: "button", class: "secondary", id: "rollback-deployment" }, "Roll back");
  const jobStatus = select(["", "QUEUED", "IN_PROGRESS", "SUCCEEDED", "FAILED", "TIMED_OUT", "REJECTED", "CANCELED"], query.jobStatus || "", { id: "job-status" });
  jobStatus.addEventListener("change", () => navigate(`/deployments/${encodeURIComponent(deploymentId)}`, { jobStatus: jobStatus.value }));
  let latest = null;

  async function act(button, verb) {
    clear(problem);
    try {
      await busy(button, post(`${path}/${verb}`, reason.value.trim() ? { reason: reason.value.trim() } : {}));
      await refresh();
    } catch (error) {
      problem.append(errorBox(error));
    }
  }
  cancel.addEventListener("click", () => act(cancel, "cancel"));
  rollback.addEventListener("click", () => act(rollback, "rollback"));

  async function refresh() {
    try {
      const [d, page] = await Promise.all([get(path), loadJobs()]);
      if (!isCurrent()) return;
      showDeployment(d, live.isOpen ? "loaded" : "poll");
      showJobs(page);
    } catch (error) {
      if (isCurrent()) fill(summary, errorBox(error));
    }
  }

  function loadJobs() {
    return get(`${path}/jobs`, { status: jobStatus.value, page: query.jobPage || 1, pageSize: 50 });
  }

  function showDeployment(d, source) {
    latest = d;
    cancel.disabled = TERMINAL.has(d.status);
    rollback.disabled = d.status === "rolled_back" || d.status === "scheduled";
    fill(summary,
      h(
        "section",
        { class: "card" },
        h(
          "dl",
          { class: "facts" },
          h("div", {}, h("dt", {}, "Status"), h("dd", { id: "deployment-status" }, badge(d.status))),
          h("div", {}, h("dt", {}, "Firmware"), h("dd", {}, `${d.firmwareVersion || ""} (${d.firmwareId})`)),
          h("div", {}, h("dt", {}, "Strategy"), h("dd", {}, d.strategy)),
          h("div", {}, h("dt", {}, "Success threshold"), h("dd", {}, `${number(d.successThreshold)} %`)),
          h("div", {}, h("dt", {}, "Started"), h("dd", {}, time(d.startedAt))),
          h("div", {}, h("dt", {}, "Completed"), h("dd", {}, time(d.completedAt))),
          d.haltReason ? h("div", {}, h("dt", {}, "Halted because"), h("dd", {}, d.haltReason)) : null,
        ),
        h("h2", {}, "Progress"),
        progressBar(d.progress || {}),
        h("h2", {}, "Batches"),
        table(
          "Batches",
          [
            { label: "Batch", cell: (b) => String(b.batchId) },
            { label: "Devices", class: "num", cell: (b) => String(b.devices) },
            { label: "Status", cell: (b) => badge(b.status) },
            { label: "Success rate", class: "num", cell: (b) => `${number(b.successRate, 1)} %` },
          ],
          d.batches || [],
          "No batches.",
        ),
        h(
          "p",
          { class: "hint", id: "deployment-updated", "data-source": source },
          `Updated ${new Date().toLocaleTimeString()}${SOURCES[source]}.`,
        ),
      ),
    );
  }

  function showJobs(page) {
    fill(jobs,
      table(
        "Jobs",
        [
          { label: "Device", cell: (j) => h("a", { href: `#/devices/${encodeURIComponent(j.deviceId)}` }, j.deviceId) },
          { label: "Batch", class: "num", cell: (j) => String(j.batchId) },
          { label: "Operation", cell: (j) => j.operation || "—" },
          { label: "Status", cell: (j) => badge(j.status) },
          { label: "Attempt", class: "num", cell: (j) => String(j.attempt ?? "—") },
          { label: "Updated", cell: (j) => time(j.updatedAt) },
        ],
        page.items,
        "No jobs match.",
      ),
      pager(page.pagination, (target) => navigate(`/deployments/${encodeURIComponent(deploymentId)}`, { jobStatus: jobStatus.value, jobPage: target })),
    );
  }

  let jobsTimer = null;
  function reloadJobsSoon() {
    if (jobsTimer) return;
    jobsTimer = setTimeout(async () => {
      jobsTimer = null;
      try {
        const page = await loadJobs();
        if (isCurrent()) showJobs(page);
      } catch (error) {
        if (isCurrent()) fill(jobs, errorBox(error));
      }
    }, JOBS_AFTER_PUSH_MS);
  }

  root.append(
    heading(`Deployment ${deploymentId}`),
    summary,
    h("section", { class: "card" }, h("h2", {}, "Control"), h("div", { class: "inline-fields" }, field("Reason (optional)", reason, "reason")), h("div", { class: "actions" }, cancel, rollback), problem),
    h("section", { class: "card" }, h("h2", {}, "Jobs"), h("div", { class: "inline-fields" }, field("Job status", jobStatus, "jobStatus")), jobs),
  );
  const stopListening = live.listen((message) => {
    if (message.type !== "deployment" || !message.deployment || message.deployment.deploymentId !== deploymentId) return;
    if (!isCurrent()) return;
    showDeployment(message.deployment, "live");
    reloadJobsSoon();
  });
  await refresh();
  // The fallback: poll while the socket is down; once it is back, one reload covers what was missed.
  let missed = false;
  const timer = setInterval(() => {
    if (live.isOpen) {
      if (missed) refresh();
      missed = false;
      return;
    }
    missed = true;
    if (!latest || !TERMINAL.has(latest.status) || (latest.progress && latest.progress.inProgress)) refresh();
  }, POLL_MS);
  return () => {
    clearInterval(timer);
    clearTimeout(jobsTimer);
    stopListening();
  };
}
