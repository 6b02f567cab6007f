// A small SVG line chart: one line per series, time on x, value on y. The viewBox is the box's own width in
// pixels (redrawn when the box resizes), so text keeps its size from 375 px to 1,400. `data-points` counts
// the points drawn (the browser tests read it).
import { clear, h, svg } from "./dom.js";

const DEFAULT_WIDTH = 640;
const HEIGHT = 240;
const PAD = { left: 48, right: 12, top: 12, bottom: 28 };
const COLORS = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2"];

function niceTicks(min, max, count) {
  const span = max - min || 1;
  const step = 10 ** Math.floor(Math.log10(span / count));
  const multiple = [1, 2, 5, 10].find((m) => span / (m * step) <= count) || 10;
  const size = multiple * step;
  const ticks = [];
  for (let value = Math.ceil(min / size) * size; value <= max + size / 1e6; value += size) ticks.push(value);
  return ticks;
}

function formatTime(ms, span) {
  const date = new Date(ms);
  if (span > 2 * 86400000) return date.toLocaleDateString([], { month: "short", day: "numeric" });
  if (span > 600000) return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export class LineChart {
  constructor(label) {
    this.element = h("figure", { class: "chart" });
    this.label = label;
    this.series = [];
    this.width = DEFAULT_WIDTH;
    // Redraw at the new width on the next frame (never inside the observer's own callback).
    new ResizeObserver(() => requestAnimationFrame(() => this.resized())).observe(this.element);
    this.draw([]);
  }

  resized() {
    const width = Math.round(this.element.clientWidth);
    if (width > 0 && width !== this.width) this.draw(this.series);
  }

  // series: [{name, points: [{t: epoch ms, v: number}]}]
  draw(series) {
    this.series = series;
    this.width = Math.round(this.element.clientWidth) || this.width;
    const WIDTH = this.width;
    const points = series.flatMap((s) => s.points.filter((p) => Number.isFinite(p.v)));
    clear(this.element);
    this.element.dataset.points = String(points.length);
    const root = svg("svg", {
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: "img",
      "aria-label": `${this.label}: ${points.length} points`,
    });
    this.element.append(root);
    if (!points.length) {
      root.append(svg("text", { x: WIDTH / 2, y: HEIGHT / 2, "text-anchor": "middle", class: "chart-empty" }, "No data yet"));
      return;
    }
    let [tMin, tMax] = [Math.min(...points.map((p) => p.t)), Math.max(...points.map((p) => p.t))];
    let [vMin, vMax] = [Math.min(...points.map((p) => p.v)), Math.max(...points.map((p) => p.v))];
    if (tMin === tMax) [tMin, tMax] = [tMin - 30000, tMax + 30000];
    const margin = (vMax - vMin) * 0.1 || Math.abs(vMax) * 0.05 || 1;
    [vMin, vMax] = [vMin - margin, vMax + margin];
    const x = (t) => PAD.left + ((t - tMin) / (tMax - tMin)) * (WIDTH - PAD.left - PAD.right);
    const y = (v) => HEIGHT - PAD.bottom - ((v - vMin) / (vMax - vMin)) * (HEIGHT - PAD.top - PAD.bottom);

    for (const tick of niceTicks(vMin, vMax, 4)) {
      root.append(svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(tick), y2: y(tick), class: "grid" }));
      root.append(svg("text", { x: PAD.left - 6, y: y(tick) + 4, "text-anchor": "end", class: "tick" }, +tick.toFixed(6)));
    }
    const labels = Math.max(2, Math.min(4, Math.floor((WIDTH - PAD.left - PAD.right) / 110))); // ~110 px per time
    for (let i = 0; i < labels; i++) {
      const t = tMin + ((tMax - tMin) * i) / (labels - 1);
      const anchor = i === 0 ? "start" : i === labels - 1 ? "end" : "middle";
      root.append(svg("text", { x: x(t), y: HEIGHT - 8, "text-anchor": anchor, class: "tick" }, formatTime(t, tMax - tMin)));
    }
    series.forEach((s, index) => {
      const drawn = s.points.filter((p) => Number.isFinite(p.v)).sort((a, b) => a.t - b.t);
      if (!drawn.length) return;
      const color = COLORS[index % COLORS.length];
      const path = drawn.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join("");
      root.append(svg("path", { d: path, fill: "none", stroke: color, "stroke-width": 2, "vector-effect": "non-scaling-stroke" }));
      if (drawn.length <= 120) {
        for (const p of drawn) root.append(svg("circle", { cx: x(p.t), cy: y(p.v), r: 2.5, fill: color }));
      }
    });
    if (series.length > 1) {
      const legend = h("figcaption", { class: "legend" });
      series.forEach((s, index) =>
        legend.append(h("span", {}, h("i", { style: { background: COLORS[index % COLORS.length] } }), s.name)),
      );
      this.element.append(legend);
    }
  }
}
