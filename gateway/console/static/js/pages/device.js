// One device: its details, a live chart fed by /ws readings, and the §3.1.6 history with its aggregations.
import { get } from "../api.js";
import { clear, h } from "../dom.js";
import { LineChart } from "../chart.js";
import { badge, errorBox, field, fill, heading, number, select, time } from "../ui.js";

const LIVE_POINTS = 120;
const RANGES = [
  ["3600000", "last hour"],
  ["21600000", "last 6 hours"],
  ["86400000", "last 24 hours"],
  ["604800000", "last 7 days"],
  ["2592000000", "last 30 days"],
];
const AGGREGATIONS = ["raw", "1m", "5m", "15m", "1h", "1d"];

function metricsOf(device, types) {
  const type = types.find((t) => t.name === device.type);
  if (type) return type.metrics.map((m) => m.name);
  return Object.keys(device.lastReading || {}).filter((k) => k !== "timestamp");
}

export async function render(root, { params, live }) {
  const [deviceId] = params;
  const [device, types] = await Promise.all([get(`/devices/${encodeURIComponent(deviceId)}`), get("/device-types").then((a) => a.items).catch(() => [])]);
  const metrics = metricsOf(device, types);
  const status = h("span", { id: "device-status" }, badge(device.status));
  const lastSeen = h("span", { id: "last-seen" }, time(device.lastSeen));
  const latest = h("dl", { class: "latest", id: "latest-values" });
  const showLatest = (values) =>
    fill(latest, 
      metrics.filter((m) => values[m] !== undefined).map((m) => h("div", {}, h("dt", {}, m), h("dd", { "data-metric": m }, number(values[m])))),
    );
  showLatest(device.lastReading || {});

  root.append(
    heading(device.name || device.deviceId, h("a", { class: "button secondary", href: `#/alerts?deviceId=${encodeURIComponent(device.deviceId)}` }, "Alerts of this device")),
    h(
      "section",
      { class: "card" },
      h(
        "dl",
        { class: "facts" },
        h("div", {}, h("dt", {}, "Id"), h("dd", {}, h("code", {}, device.deviceId))),
        h("div", {}, h("dt", {}, "Type"), h("dd", {}, device.type)),
        h("div", {}, h("dt", {}, "Status"), h("dd", {}, status)),
        h("div", {}, h("dt", {}, "Last seen"), h("dd", {}, lastSeen)),
        h("div", {}, h("dt", {}, "Location"), h("dd", {}, (device.location && device.location.address) || "—")),
        h("div", {}, h("dt", {}, "Firmware"), h("dd", {}, device.firmwareVersion || (device.metadata && device.metadata.firmwareVersion) || "—")),
        h("div", {}, h("dt", {}, "Tags"), h("dd", {}, (device.tags || []).join(", ") || "—")),
        h("div", {}, h("dt", {}, "Health"), h("dd", {}, device.health ? `uptime ${number(device.health.uptime)} %, data quality ${number(device.health.dataQuality)} %` : "—")),
      ),
      h("h2", {}, "Latest values"),
      latest,
    ),
  );

  // Live readings.
  const liveMetric = select(metrics, metrics.includes("temperature") ? "temperature" : metrics[0], { id: "live-metric" });
  const liveChart = new LineChart("Live readings");
  liveChart.element.id = "live-chart";
  const liveNote = h("p", { class: "hint", id: "live-note", "aria-live": "polite" }, "Waiting for readings over the WebSocket…");
  const readings = [];
  const drawLive = () => liveChart.draw([{ name: liveMetric.value, points: readings.map((r) => ({ t: r.t, v: r.data[liveMetric.value] })) }]);
  liveMetric.addEventListener("change", drawLive);
  root.append(h("section", { class: "card" }, h("h2", {}, "Live"), h("div", { class: "inline-fields" }, field("Metric", liveMetric, "liveMetric")), liveChart.element, liveNote));

  const unwatch = live.watch([device.deviceId]);
  let received = 0;
  const stop = live.listen((message) => {
    if (message.deviceId !== device.deviceId) return;
    if (message.type === "reading") {
      received++;
      readings.push({ t: Date.parse(message.timestamp) || Date.now(), data: message.data });
      readings.sort((a, b) => a.t - b.t);
      if (readings.length > LIVE_POINTS) readings.splice(0, readings.length - LIVE_POINTS);
      drawLive();
      showLatest(message.data);
      fill(lastSeen, time(message.timestamp));
      liveNote.textContent = `${received} live reading${received === 1 ? "" : "s"}; last at ${new Date(message.timestamp).toLocaleTimeString()}${message.anomalies && message.anomalies.length ? ` (anomaly: ${message.anomalies.join(", ")})` : ""}.`;
      liveNote.dataset.received = String(received);
    } else if (message.type === "deviceStatus") {
      fill(status, badge(message.status));
    }
  });

  // History.
  const historyMetric = select(["", ...metrics].map((m) => [m, m || "all metrics"]), "temperature" in (device.lastReading || {}) ? "temperature" : "", { id: "history-metric" });
  const aggregation = select(AGGREGATIONS, "5m", { id: "history-aggregation" });
  const range = select(RANGES, "86400000", { id: "history-range" });
  const historyChart = new LineChart("History");
  historyChart.element.id = "history-chart";
  const historyNote = h("div", { class: "hint", "aria-live": "polite" });
  const historyForm = h(
    "form",
    { class: "inline-fields", "aria-label": "History query" },
    field("Metric", historyMetric, "metrics"),
    field("Aggregation", aggregation, "aggregation"),
    field("Range", range, "range"),
    h("div", { class: "filter-actions" }, h("button", { type: "submit" }, "Show")),
  );
  async function loadHistory() {
    const end = new Date();
    const start = new Date(end.getTime() - Number(range.value));
    try {
      const history = await get(`/devices/${encodeURIComponent(device.deviceId)}/history`, {
        startDate: start.toISOString(),
        endDate: end.toISOString(),
        metrics: historyMetric.value,
        aggregation: aggregation.value,
      });
      const shown = historyMetric.value ? [historyMetric.value] : history.metrics;
      historyChart.draw(shown.map((m) => ({ name: m, points: history.data.map((row) => ({ t: Date.parse(row.timestamp), v: row[m] })) })));
      fill(historyNote, `${history.data.length} ${history.aggregation === "raw" ? "readings" : `${history.aggregation} buckets`} from ${new Date(history.timeRange.start).toLocaleString()} to ${new Date(history.timeRange.end).toLocaleString()}.`);
    } catch (error) {
      historyChart.draw([]);
      fill(historyNote, errorBox(error));
    }
  }
  historyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    loadHistory();
  });
  root.append(h("section", { class: "card" }, h("h2", {}, "History"), historyForm, historyChart.element, historyNote));
  loadHistory();

  return () => {
    stop();
    unwatch();
  };
}
