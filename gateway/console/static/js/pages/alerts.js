// Alerts: the §3.2.1 filters and pages; new and changed alerts pushed over /ws reload the list.
import { get } from "../api.js";
import { h } from "../dom.js";
import { badge, errorBox, field, fill, heading, number, pager, select, table, time } from "../ui.js";

const FILTERS = ["status", "severity", "deviceId", "pageSize"];

export async function render(root, { query, navigate, live, isCurrent }) {
  const controls = {
    status: select(["", "triggered", "acknowledged", "resolved"], query.status || ""),
    severity: select(["", "critical", "warning", "info"], query.severity || ""),
    deviceId: h("input", { type: "text", value: query.deviceId || "", placeholder: "dev-…" }),
    pageSize: select(["10", "25", "50", "100"], query.pageSize || "25"),
  };
  const current = () => Object.fromEntries(FILTERS.map((name) => [name, controls[name].value.trim()]));
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter alerts" },
    field("Status", controls.status, "status"),
    field("Severity", controls.severity, "severity"),
    field("Device id", controls.deviceId, "deviceId"),
    field("Per page", controls.pageSize, "pageSize"),
    h("div", { class: "filter-actions" }, h("button", { type: "submit" }, "Apply"), h("a", { href: "#/alerts", class: "button secondary" }, "Reset")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    navigate("/alerts", { ...current(), page: 1 });
  });
  const results = h("div", { class: "results", "aria-live": "polite" });
  root.append(heading("Alerts"), form, results);

  async function load() {
    try {
      const page = await get("/alerts", { ...Object.fromEntries(FILTERS.map((n) => [n, query[n]])), page: query.page || 1 });
      if (!isCurrent()) return;
      fill(results,
        table(
          "Alerts",
          [
            { label: "Alert", cell: (a) => h("a", { href: `#/alerts/${encodeURIComponent(a.alertId)}` }, a.ruleName || a.ruleId) },
            { label: "Device", cell: (a) => h("a", { href: `#/devices/${encodeURIComponent(a.deviceId)}` }, a.deviceName || a.deviceId) },
            { label: "Severity", cell: (a) => badge(a.severity) },
            { label: "Status", cell: (a) => badge(a.status) },
            { label: "Condition", cell: (a) => `${a.condition} (value ${number(a.actualValue)})` },
            { label: "Triggered", cell: (a) => time(a.triggeredAt) },
          ],
          page.items,
          "No alert matches these filters.",
        ),
        pager(page.pagination, (target) => navigate("/alerts", { ...current(), page: target })),
      );
    } catch (error) {
      if (isCurrent()) fill(results, errorBox(error));
    }
  }
  await load();
  return live.listen((message) => {
    if (message.type === "alert") load();
  });
}
