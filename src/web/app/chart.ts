/// <reference lib="dom" />
/** uPlot line charts that follow their container's width. */
import uPlot from 'uplot';
import { h } from './dom.ts';
import { getLang } from './i18n.ts';

export interface ChartSeries {
  label: string;
  values: (number | null)[];
  /** A CSS class of the palette: the colour is read from the stylesheet. */
  colorVar: string;
  dash?: number[];
  stepped?: boolean;
  width?: number;
}

export interface ChartSpec {
  /** Accessible name of the chart: what it shows. */
  label: string;
  /** x values: epoch seconds, or plain numbers (years) with `xIsTime: false`. */
  x: number[];
  xIsTime?: boolean;
  /** Fixed x range (same unit as x), e.g. the last hour, so sparse data still has a sensible axis. */
  xRange?: [number, number];
  yLabel: string;
  /** Name of the x axis (and its legend entry). */
  xLabel?: string;
  series: ChartSeries[];
  height?: number;
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#333';
}

/** Mounts a chart into `host`; returns a function that removes it. */
export function lineChart(host: HTMLElement, spec: ChartSpec): () => void {
  const box = h('div', { class: 'chart', role: 'img', 'aria-label': spec.label });
  host.append(box);
  const axisColor = cssVar('--text-muted');
  const gridColor = cssVar('--grid');
  const font = `${Math.round(parseFloat(getComputedStyle(document.documentElement).fontSize) * 0.8)}px system-ui, sans-serif`;
  const xIsTime = spec.xIsTime ?? true;
  const locale = getLang() === 'de' ? 'de-DE' : 'en-GB';
  const clock = new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit' });
  const stamp = new Intl.DateTimeFormat(locale, { dateStyle: 'short', timeStyle: 'medium' });
  const opts: uPlot.Options = {
    width: Math.max(280, box.clientWidth || host.clientWidth || 600),
    height: spec.height ?? 260,
    scales: {
      x: { time: xIsTime, ...(spec.xRange ? { range: spec.xRange } : {}) },
      // From zero (or the lowest value below it) to a little above the highest, never a flat 0..100.
      y: { range: (_u, min, max) => [Math.min(0, min), max > Math.min(0, min) ? max + (max - Math.min(0, min)) * 0.08 : Math.min(0, min) + 1] },
    },
    axes: [
      {
        stroke: axisColor,
        grid: { stroke: gridColor, width: 1 },
        ticks: { stroke: gridColor },
        font,
        ...(spec.xLabel ? { label: spec.xLabel, labelFont: font } : {}),
        values: (_u, vals) => vals.map((v) => (xIsTime ? clock.format(new Date(v * 1000)) : String(Math.round(v)))),
      },
      { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor }, font, label: spec.yLabel, labelFont: font, size: 64 },
    ],
    series: [
      { label: spec.xLabel ?? '', value: (_u: uPlot, v: number | null) => (v === null ? '–' : xIsTime ? stamp.format(new Date(v * 1000)) : String(Math.round(v))) },
      ...spec.series.map((s) => ({
        label: s.label,
        value: (_u: uPlot, v: number | null) => (v === null ? '–' : v.toLocaleString(locale, { maximumFractionDigits: 2 })),
        stroke: cssVar(s.colorVar),
        width: s.width ?? 2,
        ...(s.dash ? { dash: s.dash } : {}),
        ...(s.stepped ? { paths: uPlot.paths.stepped!({ align: 1 }) } : {}),
        spanGaps: true,
      })),
    ],
    legend: { show: true, live: true },
    cursor: { drag: { x: false, y: false } },
  };
  const plot = new uPlot(opts, [spec.x, ...spec.series.map((s) => s.values)] as uPlot.AlignedData, box);
  const observer = new ResizeObserver(() => {
    const w = Math.floor(box.clientWidth);
    if (w > 0 && Math.abs(w - plot.width) > 4) plot.setSize({ width: w, height: spec.height ?? 260 });
  });
  observer.observe(box);
  return () => {
    observer.disconnect();
    plot.destroy();
    box.remove();
  };
}
