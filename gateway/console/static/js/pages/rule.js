// The alert rule editor (§3.2.5/§3.2.6). Forms are `novalidate`: the API's validation is the one that
// counts, and each of its field errors is shown next to the field it names.
import { ApiError, del, get, post, put } from "../api.js";
import { clear, h } from "../dom.js";
import { busy, errorBox, field, fill, heading, select, showFieldErrors } from "../ui.js";

const OPERATORS = ["", ">", ">=", "<", "<=", "==", "!="];
const CHANNELS = ["email", "push", "sms"];

function numberOrUndefined(input) {
  const text = input.value.trim();
  return text === "" ? undefined : Number(text);
}

export async function render(root, { params, navigate }) {
  const [ruleId] = params;
  const isNew = ruleId === "new";
  const [types, rule] = await Promise.all([
    get("/device-types").then((a) => a.items).catch(() => []),
    isNew ? Promise.resolve(null) : get(`/alert-rules/${encodeURIComponent(ruleId)}`),
  ]);
  const r = rule || { enabled: true, severity: "warning", cooldownPeriod: 900, condition: { operator: ">", duration: 0 }, actions: { notifications: [] }, schedule: { type: "always" } };
  const condition = r.condition || (r.conditions && r.conditions[0]) || {};
  const metricList = h("datalist", { id: "metric-names" });
  const c = {
    name: h("input", { type: "text", value: r.name || "" }),
    description: h("textarea", { rows: 2, value: r.description || "" }),
    deviceType: select(["", ...types.map((t) => t.name)].map((n) => [n, n || "choose…"]), r.deviceType || ""),
    deviceIds: h("input", { type: "text", value: (r.deviceIds || []).join(", "), placeholder: "empty = every device of the type" }),
    metric: h("input", { type: "text", value: condition.metric || "", list: "metric-names" }),
    operator: select(OPERATORS.map((o) => [o, o || "choose…"]), condition.operator || ""),
    threshold: h("input", { type: "number", step: "any", value: condition.threshold ?? "" }),
    duration: h("input", { type: "number", min: 0, value: condition.duration ?? 0 }),
    severity: select(["", "info", "warning", "critical"].map((s) => [s, s || "choose…"]), r.severity || ""),
    cooldownPeriod: h("input", { type: "number", min: 0, value: r.cooldownPeriod ?? 0 }),
    schedule: select(["always", "business-hours"], (r.schedule && r.schedule.type) || "always"),
    enabled: h("input", { type: "checkbox", checked: r.enabled !== false }),
  };
  const fillMetrics = () => {
    const type = types.find((t) => t.name === c.deviceType.value);
    fill(metricList, (type ? type.metrics : []).map((m) => h("option", { value: m.name }, `${m.name} (${m.unit || m.type})`)));
  };
  c.deviceType.addEventListener("change", fillMetrics);
  fillMetrics();
  const channels = CHANNELS.map((channel) =>
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "channel", value: channel, checked: ((r.actions && r.actions.notifications) || []).includes(channel) }), channel),
  );
  const channelSlot = h("p", { class: "field-error", "data-error-for": "actions.notifications" });

  const problem = h("div");
  const save = h("button", { type: "submit" }, isNew ? "Create rule" : "Save changes");
  const form = h(
    "form",
    { class: "card editor", novalidate: true, "aria-label": "Alert rule" },
    metricList,
    h("fieldset", {}, h("legend", {}, "Rule"), field("Name", c.name, "name"), field("Description", c.description, "description"), field("Severity", c.severity, "severity"), h("div", { class: "field" }, h("label", { class: "check" }, c.enabled, "Enabled"))),
    h("fieldset", {}, h("legend", {}, "Devices"), field("Device type", c.deviceType, "deviceType"), field("Device ids", c.deviceIds, "deviceIds", "Comma-separated; empty applies the rule to every device of the type.")),
    h(
      "fieldset",
      {},
      h("legend", {}, "Condition"),
      h("div", { class: "inline-fields" }, field("Metric", c.metric, "condition.metric"), field("Operator", c.operator, "condition.operator"), field("Threshold", c.threshold, "condition.threshold"), field("Held for (s)", c.duration, "condition.duration")),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Actions"),
      h("div", { class: "checks", role: "group", "aria-label": "Notification channels" }, channels),
      channelSlot,
      field("Cooldown (s)", c.cooldownPeriod, "cooldownPeriod"),
      field("Schedule", c.schedule, "schedule.type"),
    ),
    problem,
    h("div", { class: "actions" }, save, h("a", { class: "button secondary", href: "#/rules" }, "Back to rules")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(problem);
    const body = {
      name: c.name.value.trim(),
      description: c.description.value.trim(),
      deviceType: c.deviceType.value,
      deviceIds: c.deviceIds.value.split(",").map((s) => s.trim()).filter(Boolean),
      condition: { metric: c.metric.value.trim(), operator: c.operator.value, threshold: numberOrUndefined(c.threshold), duration: numberOrUndefined(c.duration) },
      severity: c.severity.value,
      actions: { notifications: channels.map((l) => l.querySelector("input")).filter((i) => i.checked).map((i) => i.value) },
      cooldownPeriod: numberOrUndefined(c.cooldownPeriod),
      schedule: { type: c.schedule.value },
      enabled: c.enabled.checked,
    };
    try {
      const saved = await busy(save, isNew ? post("/alert-rules", body) : put(`/alert-rules/${encodeURIComponent(ruleId)}`, body));
      showFieldErrors(form, null);
      if (isNew) navigate(`/rules/${encodeURIComponent(saved.ruleId)}`, { saved: 1 });
      else problem.append(h("p", { class: "success", role: "status" }, "Saved."));
    } catch (error) {
      const unplaced = showFieldErrors(form, error);
      problem.append(errorBox(error));
      if (unplaced.length) problem.append(h("ul", { class: "field-errors-unplaced" }, unplaced.map((u) => h("li", {}, u))));
      const first = form.querySelector("[aria-invalid]");
      if (first) first.focus();
    }
  });

  const actions = [];
  if (!isNew) {
    const remove = h("button", { type: "button", class: "danger" }, "Delete rule");
    remove.addEventListener("click", async () => {
      if (remove.dataset.confirm !== "1") {
        remove.dataset.confirm = "1";
        remove.textContent = "Click again to delete";
        return;
      }
      try {
        await busy(remove, del(`/alert-rules/${encodeURIComponent(ruleId)}`));
        navigate("/rules");
      } catch (error) {
        fill(problem, errorBox(error instanceof ApiError ? error : new Error(String(error))));
      }
    });
    actions.push(remove);
  }
  root.append(heading(isNew ? "New alert rule" : `Rule: ${r.name}`, actions), form);
  return null;
}
