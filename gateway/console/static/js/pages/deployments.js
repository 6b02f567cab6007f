// Deployments (§3.4.6) and the create form (§3.4.4): a validated firmware, its target devices, the strategy.
import { get, post } from "../api.js";
import { clear, h } from "../dom.js";
import { badge, busy, errorBox, field, fill, heading, pager, select, showFieldErrors, table, time } from "../ui.js";

function progressText(p) {
  if (!p || !p.total) return "—";
  return `${p.succeeded}/${p.total} succeeded, ${p.failed} failed, ${p.inProgress} in progress, ${p.pending} pending`;
}

async function createForm(root, { query, navigate, session }) {
  if (session.role !== "admin") return null;
  const [firmware, devices] = await Promise.all([get("/firmware", { status: "validated", pageSize: 100 }), get("/devices", { pageSize: 100, sortBy: "name" })]);
  if (!firmware.items.length) return h("p", { class: "hint" }, "Upload and validate a firmware image to deploy it.");
  const chosen = select(firmware.items.map((f) => [f.firmwareId, `${f.version} (${f.deviceTypes.join(", ")})`]), query.firmwareId || firmware.items[0].firmwareId);
  const strategy = select([["staged", "staged (batches)"], ["all-at-once", "all at once"]], "staged");
  const batchSize = h("input", { type: "number", min: 1, value: 10 });
  const threshold = h("input", { type: "number", min: 0, max: 100, step: "any", value: 95 });
  const list = h("div", { class: "checks device-checks", role: "group", "aria-label": "Target devices" });
  const targetsSlot = h("p", { class: "field-error", "data-error-for": "targetDevices" });
  const fillDevices = () => {
    const fw = firmware.items.find((f) => f.firmwareId === chosen.value);
    const fitting = devices.items.filter((d) => !fw || fw.deviceTypes.includes(d.type));
    fill(list, 
      fitting.length
        ? fitting.map((d) => h("label", { class: "check" }, h("input", { type: "checkbox", value: d.deviceId, checked: true }), `${d.name} `, h("span", { class: "muted" }, d.status)))
        : h("p", { class: "muted" }, "No device of these types."),
    );
  };
  chosen.addEventListener("change", fillDevices);
  fillDevices();
  const problem = h("div");
  const submit = h("button", { type: "submit" }, "Start deployment");
  const form = h(
    "form",
    { class: "card", novalidate: true, "aria-label": "New deployment" },
    h("h2", {}, "New deployment"),
    h("div", { class: "inline-fields" }, field("Firmware", chosen, "firmwareId"), field("Strategy", strategy, "strategy"), field("Batch size", batchSize, "batchSize"), field("Success threshold (%)", threshold, "successThreshold")),
    h("fieldset", {}, h("legend", {}, "Target devices"), list, targetsSlot),
    problem,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(problem);
    try {
      const deployment = await busy(
        submit,
        post("/firmware/deployments", {
          firmwareId: chosen.value,
          targetDevices: [...list.querySelectorAll("input:checked")].map((i) => i.value),
          strategy: strategy.value,
          batchSize: Number(batchSize.value) || undefined,
          successThreshold: threshold.value === "" ? undefined : Number(threshold.value),
          schedule: { type: "immediate" },
        }),
      );
      navigate(`/deployments/${encodeURIComponent(deployment.deploymentId)}`);
    } catch (error) {
      showFieldErrors(form, error);
      problem.append(errorBox(error));
    }
  });
  return form;
}

export async function render(root, context) {
  const { query, navigate, isCurrent } = context;
  const status = select(["", "scheduled", "in_progress", "completed", "halted", "cancelled", "rolled_back"], query.status || "");
  const filters = h("form", { class: "filters", role: "search", "aria-label": "Filter deployments" }, field("Status", status, "status"), h("div", { class: "filter-actions" }, h("button", { type: "submit" }, "Apply")));
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    navigate("/deployments", { status: status.value });
  });
  const results = h("div", { class: "results", "aria-live": "polite" });
  const creating = h("div");
  root.append(heading("Deployments"), creating, filters, results);
  createForm(root, context)
    .then((form) => form && isCurrent() && creating.append(form))
    .catch((error) => isCurrent() && creating.append(errorBox(error)));

  async function load() {
    try {
      const page = await get("/firmware/deployments", { status: query.status, firmwareId: query.firmwareId, page: query.page || 1 });
      if (!isCurrent()) return;
      fill(results,
        table(
          "Deployments",
          [
            { label: "Deployment", cell: (d) => h("a", { href: `#/deployments/${encodeURIComponent(d.deploymentId)}` }, d.deploymentId) },
            { label: "Firmware", cell: (d) => d.firmwareVersion || d.firmwareId },
            { label: "Status", cell: (d) => badge(d.status) },
            { label: "Progress", cell: (d) => progressText(d.progress) },
            { label: "Created", cell: (d) => time(d.createdAt) },
          ],
          page.items,
          "No deployments yet.",
        ),
        pager(page.pagination, (target) => navigate("/deployments", { status: query.status, page: target })),
      );
    } catch (error) {
      if (isCurrent()) fill(results, errorBox(error));
    }
  }
  await load();
  const timer = setInterval(load, 5000);
  return () => clearInterval(timer);
}
