// Charts drawn as SVG by this module (no library, nothing fetched from elsewhere): a multi-line
// chart of daily counts, and a four-step funnel. Native <title> elements give the tooltips.

import { h, s } from "./dom.js";
import { num, pct } from "./format.js";

// One colour per metric, the same in every chart; funnel steps first.
const METRIC_COLORS = {
  sent: "#1f4fd6", delivered: "#12946a", opened: "#d99100", clicked: "#8a3fd1", converted: "#0b8ea8",
  bounced: "#d6402f", failed: "#8f1c13", dropped: "#e07b39", spammed: "#b8326f", undeliverable: "#6d4c41",
  unsubscribed: "#5f6b7a", attempted: "#9aa5b4", drafted: "#c3cad4", deferred: "#b59b2a", replied: "#2e7d32",
  subscribed: "#1f4fd6", subscription_preferences_changed: "#d99100", cio_subscription_preferences_changed: "#d99100",
};
const SPARE = ["#455a64", "#7e57c2", "#00897b", "#c0ca33", "#f4511e", "#6d8a99"];

export function metricColor(metric, index = 0) {
  return METRIC_COLORS[metric] ?? SPARE[index % SPARE.length];
}

// The top of the y axis: four gridline steps of 1, 2 or 5 times a power of ten (whole numbers).
function niceMax(value) {
  const raw = Math.max(1, value / 4);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  return Math.max(4, Math.ceil(step) * 4);
}

// labels: the x values (days); series: [{name, values}] aligned with labels.
export function lineChart({ labels, series, title = "", width = 560, height = 220 }) {
  const m = { left: 46, right: 22, top: 12, bottom: 28 };
  const w = width - m.left - m.right;
  const hgt = height - m.top - m.bottom;
  const max = niceMax(Math.max(1, ...series.flatMap((x) => x.values)));
  const x = (i) => m.left + (labels.length === 1 ? w / 2 : (i * w) / (labels.length - 1));
  const y = (v) => m.top + hgt - (v / max) * hgt;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  for (let t = 0; t <= 4; t++) {
    const v = (max * t) / 4;
    svg.append(
      s("line", { class: t === 0 ? "axis" : "gridline", x1: m.left, x2: width - m.right, y1: y(v), y2: y(v) }),
      s("text", { x: m.left - 6, y: y(v) + 4, "text-anchor": "end" }, num(v)),
    );
  }
  const every = Math.max(1, Math.ceil(labels.length / 6));
  labels.forEach((label, i) => {
    if (i % every === 0 || i === labels.length - 1) {
      if (i !== labels.length - 1 && labels.length - 1 - i < every / 2) return;
      const anchor = labels.length > 1 && i === labels.length - 1 ? "end" : "middle";
      svg.append(s("text", { x: x(i) + (anchor === "end" ? 8 : 0), y: height - 8, "text-anchor": anchor }, label.slice(5)));
    }
  });
  series.forEach((line, index) => {
    const color = metricColor(line.name, index);
    const points = line.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    const group = s("g", { class: "series", dataset: { metric: line.name } });
    if (line.values.length > 1) {
      group.append(s("polyline", { points, fill: "none", stroke: color, "stroke-width": 2, "stroke-linejoin": "round" }));
    }
    line.values.forEach((v, i) => {
      if (v === 0 && line.values.length > 1) return;
      group.append(s("circle", { cx: x(i), cy: y(v), r: 3, fill: color },
        s("title", {}, `${line.name} · ${labels[i]}: ${num(v)}`)));
    });
    svg.append(group);
  });
  return svg;
}

export function legend(names) {
  return h("div", { class: "legend" }, names.map((name, index) => h("span", {},
    swatch(metricColor(name, index)), name)));
}

function swatch(color) {
  const svg = s("svg", { width: 12, height: 12, viewBox: "0 0 12 12", "aria-hidden": "true" });
  svg.append(s("rect", { width: 12, height: 12, rx: 2, fill: color }));
  return svg;
}

export const FUNNEL_STEPS = ["sent", "delivered", "opened", "clicked"];

// A funnel as four thin horizontal bars scaled to its largest step (the counts and step-to-step
// rates sit in the table cells beside it; each bar's tooltip repeats them).
export function funnelBars(row, width = 220) {
  const barH = 7;
  const gap = 3;
  const height = FUNNEL_STEPS.length * (barH + gap) - gap;
  const top = Math.max(1, ...FUNNEL_STEPS.map((step) => row[step] ?? 0));
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": `Funnel of ${row.name ?? row.id}` });
  FUNNEL_STEPS.forEach((step, i) => {
    const value = row[step] ?? 0;
    const prev = i === 0 ? null : row[FUNNEL_STEPS[i - 1]] ?? 0;
    const y = i * (barH + gap);
    svg.append(
      s("rect", { x: 0, y, width, height: barH, rx: 2, fill: "#eef0f3" }),
      s("rect", { x: 0, y, width: value ? Math.max(2, (width * value) / top) : 0, height: barH, rx: 2, fill: metricColor(step) },
        s("title", {}, `${step}: ${num(value)}${prev === null ? "" : ` (${pct(value, prev)} of ${FUNNEL_STEPS[i - 1]})`}`)),
    );
  });
  return svg;
}
