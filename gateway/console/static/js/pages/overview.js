// Fleet overview: the §3.5.1 dashboard numbers, devices by status, active alerts by severity, a live feed.
import { ApiError, get } from "../api.js";
import { clear, h } from "../dom.js";
import { badge, bytes, errorBox, fill, heading, time } from "../ui.js";

const REFRESH_MS = 10000;
const SEVERITIES = ["critical", "warning", "info"];
const STATUSES = ["online", "offline", "maintenance"];

async function total(path, query) {
  const page = await get(path, { ...query, pageSize: 1 });
  return page.pagination ? page.pagination.totalItems : page.items.length;
}

// Before the analytics service answers, the same numbers come from the device and alert lists.
async function computedStats() {
  const [all, ...byStatus] = await Promise.all([total("/devices"), ...STATUSES.map((status) => total("/devices", { status }))]);
  const alertCounts = await Promise.all(
    SEVERITIES.map(async (severity) => {
      const [triggered, acknowledged] = await Promise.all(
        ["triggered", "acknowledged"].map((status) => total("/alerts", { status, severity })),
      );
      return triggered + acknowledged;
    }),
  );
  const devices = { total: all };
  STATUSES.forEach((status, i) => (devices[status] = byStatus[i]));
  const alerts = { active: alertCounts.reduce((a, b) => a + b, 0) };
  SEVERITIES.forEach((severity, i) => (alerts[severity] = alertCounts[i]));
  return { devices, alerts, source: "computed from /devices and /alerts (analytics not answering)" };
}

async function dashboardStats() {
  try {
    const stats = await get("/analytics/dashboard");
    return { ...stats, source: "from /analytics/dashboard" };
  } catch (error) {
    if (error instanceof ApiError && [404, 501, 503, 504].includes(error.status)) return computedStats();
    throw error;
  }
}

function tile(label, value, extra = null, name = "") {
  return h("div", { class: "tile", "data-stat": name }, h("span", { class: "tile-label" }, label), h("span", { class: "tile-value" }, value ?? "—"), extra);
}

function bars(title, counts, keys) {
  const max = Math.max(1, ...keys.map((k) => counts[k] || 0));
  return h(
    "section",
    { class: "card", "aria-label": title },
    h("h2", {}, title),
    h(
      "ul",
      { class: "bars" },
      keys.map((key) =>
        h(
          "li",
          { "data-key": key },
          h("span", { class: "bar-label" }, badge(key)),
          h("span", { class: "bar-track" }, h("span", { class: `bar bar-${key}`, style: { width: `${((counts[key] || 0) / max) * 100}%` } })),
          h("span", { class: "bar-value" }, String(counts[key] || 0)),
        ),
      ),
    ),
  );
}

export async function render(root, { live, isCurrent }) {
  const stats = h("div", { class: "stats", "aria-live": "polite" }, h("p", { class: "muted" }, "Loading…"));
  const feed = h("ol", { class: "feed", "aria-live": "polite" });
  const recent = h("div");
  root.append(
    heading("Fleet overview"),
    stats,
    h("section", { class: "card" }, h("h2", {}, "Live alert feed"), h("p", { class: "hint" }, "Alerts of your organization as the WebSocket pushes them."), feed, recent),
  );

  async function refresh() {
    try {
      const data = await dashboardStats();
      if (!isCurrent()) return;
      const { devices = {}, alerts = {}, dataVolume, trends } = data;
      fill(stats, 
        h(
          "div",
          { class: "tiles" },
          tile("Devices", devices.total, trends && trends.devicesOnline ? h("span", { class: "trend" }, `${trends.devicesOnline} online vs yesterday`) : null, "devices"),
          tile("Online", devices.online, null, "online"),
          tile("Active alerts", alerts.active, trends && trends.activeAlerts ? h("span", { class: "trend" }, `${trends.activeAlerts} vs yesterday`) : null, "alerts"),
          dataVolume ? tile("Data today", bytes(dataVolume.today), h("span", { class: "trend" }, `${bytes(dataVolume.thisMonth)} this month`), "volume") : null,
        ),
        h("div", { class: "grid-2" }, bars("Devices by status", devices, STATUSES), bars("Active alerts by severity", alerts, SEVERITIES)),
        h("p", { class: "hint source" }, `Numbers ${data.source}; refreshed every ${REFRESH_MS / 1000} s.`),
      );
      const latest = await get("/alerts", { status: "triggered", pageSize: 5 });
      if (!isCurrent()) return;
      fill(recent, 
        h("h3", {}, "Latest unacknowledged alerts"),
        latest.items.length
          ? h("ul", { class: "plain" }, latest.items.map((a) => h("li", {}, badge(a.severity), " ", h("a", { href: `#/alerts/${encodeURIComponent(a.alertId)}` }, `${a.ruleName || a.ruleId} on ${a.deviceName || a.deviceId}`), " · ", time(a.triggeredAt))))
          : h("p", { class: "muted" }, "No unacknowledged alerts."),
      );
    } catch (error) {
      if (isCurrent()) fill(stats, errorBox(error));
    }
  }

  const stopListening = live.listen((message) => {
    if (message.type !== "alert") return;
    feed.prepend(
      h("li", {}, badge(message.severity), " ", badge(message.status), " ", h("a", { href: `#/alerts/${encodeURIComponent(message.alertId)}` }, `${message.ruleName || message.ruleId} on ${message.deviceName || message.deviceId}`), ` (${message.condition}, value ${message.actualValue})`),
    );
    while (feed.children.length > 20) feed.lastChild.remove();
    refresh();
  });
  await refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  return () => {
    clearInterval(timer);
    stopListening();
  };
}
