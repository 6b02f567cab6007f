// Alert rules (§3.2.8) with filters and pages; each opens in the editor.
import { get } from "../api.js";
import { h } from "../dom.js";
import { badge, errorBox, field, heading, pager, select, table } from "../ui.js";

export function conditionText(rule) {
  const conditions = rule.conditions && rule.conditions.length ? rule.conditions : rule.condition ? [rule.condition] : [];
  const parts = conditions.map((c) => `${c.metric} ${c.operator} ${c.threshold}${c.duration ? ` for ${c.duration} s` : ""}`);
  return parts.join(rule.combine === "any" ? " or " : " and ") || "—";
}

export async function render(root, { query, navigate }) {
  const types = await get("/device-types").then((a) => a.items.map((t) => t.name)).catch(() => []);
  const controls = {
    deviceType: select(["", ...types], query.deviceType || ""),
    severity: select(["", "critical", "warning", "info"], query.severity || ""),
    enabled: select([["", "any"], ["true", "enabled"], ["false", "disabled"]], query.enabled || ""),
  };
  const current = () => Object.fromEntries(Object.entries(controls).map(([n, c]) => [n, c.value]));
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter alert rules" },
    field("Device type", controls.deviceType, "deviceType"),
    field("Severity", controls.severity, "severity"),
    field("Enabled", controls.enabled, "enabled"),
    h("div", { class: "filter-actions" }, h("button", { type: "submit" }, "Apply")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    navigate("/rules", current());
  });
  const results = h("div", { class: "results" });
  root.append(heading("Alert rules", h("a", { class: "button", href: "#/rules/new", id: "new-rule" }, "New rule")), form, results);
  try {
    const page = await get("/alert-rules", { deviceType: query.deviceType, severity: query.severity, enabled: query.enabled, page: query.page || 1 });
    results.append(
      table(
        "Alert rules",
        [
          { label: "Name", cell: (r) => h("a", { href: `#/rules/${encodeURIComponent(r.ruleId)}` }, r.name) },
          { label: "Device type", cell: (r) => r.deviceType + (r.deviceIds && r.deviceIds.length ? ` (${r.deviceIds.length} devices)` : "") },
          { label: "Condition", cell: conditionText },
          { label: "Severity", cell: (r) => badge(r.severity) },
          { label: "Enabled", cell: (r) => (r.enabled ? "yes" : "no") },
          { label: "Cooldown", class: "num", cell: (r) => `${r.cooldownPeriod || 0} s` },
        ],
        page.items,
        "No alert rules yet.",
      ),
      pager(page.pagination, (target) => navigate("/rules", { ...current(), page: target })),
    );
  } catch (error) {
    results.append(errorBox(error));
  }
  return null;
}
