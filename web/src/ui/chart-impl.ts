// The chart code, loaded with a dynamic import by ui/Chart.tsx only on the analytics pages,
// so uPlot stays out of the initial JavaScript.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface ChartSeries {
  label: string;
  values: number[];
  color: string;
}

export interface ChartSpec {
  /** Unix seconds of each point (UTC midnight of a day, or the first of a month). */
  xs: number[];
  series: ChartSeries[];
  kind: "line" | "bars";
  /** How a value is printed on the y axis. */
  format?: (v: number) => string;
  /** Values are money in minor units: y steps are whole major units. */
  minor?: number;
  monthly?: boolean;
}

/** A tick's label: "5 Dec" for days, "Dec 2026" for months (UTC, like the figures). */
function dayLabel(ts: number, monthly?: boolean): string {
  const d = new Date(ts * 1000);
  return monthly
    ? d.toLocaleDateString("en-GB", { month: "short", year: "numeric", timeZone: "UTC" })
    : d.toLocaleDateString("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });
}

const STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7, 1e8];

export function draw(el: HTMLElement, spec: ChartSpec, width: number, height: number): { resize(w: number): void; destroy(): void } {
  const half = spec.monthly ? 15 * 86400 : 43200;
  const bars = spec.kind === "bars" ? uPlot.paths.bars!({ size: [0.7 / Math.max(1, spec.series.length), 40] }) : undefined;
  const opts: uPlot.Options = {
    width,
    height,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
    scales: {
      // Bars get half a step of room at both ends, so the first and last are not cut in half.
      x: { time: true, range: (_u, min, max) => (spec.kind === "bars" ? [min - half, max + half] : [min, max]) },
      y: { range: (_u, min, max) => [Math.min(0, min), Math.max(1, max * 1.1)] },
    },
    axes: [
      { stroke: "#555d66", grid: { stroke: "#eef0f3" }, values: (_u, splits) => splits.map((ts) => dayLabel(ts, spec.monthly)) },
      // Counts (and money) step in whole units: no 0.25 of a booking.
      { stroke: "#555d66", grid: { stroke: "#eef0f3" }, size: 60, incrs: STEPS.map((x) => x * (spec.minor ?? 1)), values: (_u, vals) => vals.map((v) => (spec.format ? spec.format(v) : String(v))) },
    ],
    series: [
      {},
      ...spec.series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: 2,
        fill: spec.kind === "bars" ? s.color : undefined,
        paths: bars,
        points: { show: spec.kind === "line" && spec.xs.length <= 31 },
      })),
    ],
  };
  const u = new uPlot(opts, [spec.xs, ...spec.series.map((s) => s.values)] as uPlot.AlignedData, el);
  return {
    resize: (w) => u.setSize({ width: w, height }),
    destroy: () => u.destroy(),
  };
}
