/**
 * Charts as plain SVG text (no library): stacked areas for dispatch, lines for load duration
 * curves, stacked bars for the CO2 path, small multiples for scenario comparison. Pure
 * functions of their data, so the same run draws the same bytes.
 */

export const palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const f1 = (v: number) => (Math.round(v * 10) / 10).toString();

/** Round tick values for an axis from lo to hi. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
}

export function fmtNumber(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(a >= 1e7 ? 0 : 1)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 1) return v.toFixed(1).replace(/\.0$/, '');
  return v.toFixed(2).replace(/0+$/, '').replace(/\.$/, '');
}

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

const defaultFrame = (width = 900, height = 360): Frame => ({ width, height, left: 64, right: 160, top: 36, bottom: 40 });

function open(fr: Frame, title: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${fr.width}" height="${fr.height}" viewBox="0 0 ${fr.width} ${fr.height}" font-family="sans-serif" font-size="11" role="img" aria-label="${escapeXml(title)}">` +
    `<title>${escapeXml(title)}</title><rect width="100%" height="100%" fill="#fff"/>` +
    `<text x="${fr.left}" y="20" font-size="14" font-weight="bold">${escapeXml(title)}</text>`
  );
}

function yAxis(fr: Frame, lo: number, hi: number, label: string, y: (v: number) => number): string {
  let s = '';
  for (const v of niceTicks(lo, hi)) {
    const py = f1(y(v));
    s += `<line x1="${fr.left}" x2="${fr.width - fr.right}" y1="${py}" y2="${py}" stroke="#e5e5e5"/>`;
    s += `<text x="${fr.left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${fmtNumber(v)}</text>`;
  }
  s += `<text transform="translate(14 ${f1((fr.top + fr.height - fr.bottom) / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(label)}</text>`;
  return s;
}

function legend(fr: Frame, items: { name: string; color: string }[]): string {
  let s = '';
  items.forEach((it, i) => {
    const y = fr.top + 6 + i * 16;
    s += `<rect x="${fr.width - fr.right + 12}" y="${y}" width="10" height="10" fill="${it.color}"/>`;
    s += `<text x="${fr.width - fr.right + 28}" y="${y + 9}">${escapeXml(it.name)}</text>`;
  });
  return s;
}

export interface Series {
  name: string;
  values: ArrayLike<number>;
  color?: string;
}

/**
 * Stacked areas over time: `up` stacks above zero, `down` (e.g. storage charging) below.
 * `xLabels` name a few positions along the x axis.
 */
export function stackedAreaChart(o: { title: string; yLabel: string; up: Series[]; down?: Series[]; line?: Series; xLabels: { at: number; text: string }[]; width?: number; height?: number }): string {
  const fr = defaultFrame(o.width, o.height);
  const n = o.up[0]?.values.length ?? o.line?.values.length ?? 0;
  const top = new Float64Array(n);
  const bottom = new Float64Array(n);
  for (const s of o.up) for (let i = 0; i < n; i++) top[i]! += Math.max(0, s.values[i]!);
  for (const s of o.down ?? []) for (let i = 0; i < n; i++) bottom[i]! -= Math.max(0, s.values[i]!);
  let hi = Math.max(1e-9, ...top);
  if (o.line) for (let i = 0; i < n; i++) hi = Math.max(hi, o.line.values[i]!);
  const lo = Math.min(0, ...bottom);
  const x = (i: number) => fr.left + (n <= 1 ? 0 : (i / (n - 1)) * (fr.width - fr.left - fr.right));
  const y = (v: number) => fr.top + ((hi - v) / (hi - lo || 1)) * (fr.height - fr.top - fr.bottom);
  let s = open(fr, o.title) + yAxis(fr, lo, hi, o.yLabel, y);
  const band = (base: Float64Array, vals: ArrayLike<number>, sign: number, color: string, name: string) => {
    const next = new Float64Array(n);
    for (let i = 0; i < n; i++) next[i] = base[i]! + sign * Math.max(0, vals[i]!);
    let d = `M${f1(x(0))} ${f1(y(base[0]!))}`;
    for (let i = 0; i < n; i++) d += `L${f1(x(i))} ${f1(y(next[i]!))}`;
    for (let i = n - 1; i >= 0; i--) d += `L${f1(x(i))} ${f1(y(base[i]!))}`;
    s += `<path d="${d}Z" fill="${color}" fill-opacity="0.85" stroke="none"><title>${escapeXml(name)}</title></path>`;
    return next;
  };
  const items: { name: string; color: string }[] = [];
  let base: Float64Array = new Float64Array(n);
  o.up.forEach((sr, k) => {
    const color = sr.color ?? palette[k % palette.length]!;
    base = band(base, sr.values, 1, color, sr.name);
    items.push({ name: sr.name, color });
  });
  let below: Float64Array = new Float64Array(n);
  (o.down ?? []).forEach((sr, k) => {
    const color = sr.color ?? palette[(o.up.length + k) % palette.length]!;
    below = band(below, sr.values, -1, color, sr.name);
    items.push({ name: sr.name, color });
  });
  if (o.line) {
    let d = '';
    for (let i = 0; i < n; i++) d += `${i === 0 ? 'M' : 'L'}${f1(x(i))} ${f1(y(o.line.values[i]!))}`;
    s += `<path d="${d}" fill="none" stroke="#000" stroke-width="1"/>`;
    items.push({ name: o.line.name, color: '#000' });
  }
  s += `<line x1="${fr.left}" x2="${fr.width - fr.right}" y1="${f1(y(0))}" y2="${f1(y(0))}" stroke="#333"/>`;
  for (const l of o.xLabels) s += `<text x="${f1(x(l.at))}" y="${fr.height - fr.bottom + 16}" text-anchor="middle">${escapeXml(l.text)}</text>`;
  return s + legend(fr, items) + '</svg>\n';
}

/** Lines over a shared x (e.g. load duration curves: hours sorted by value). */
export function lineChart(o: { title: string; xLabel: string; yLabel: string; series: Series[]; xMax: number; width?: number; height?: number }): string {
  const fr = defaultFrame(o.width, o.height);
  let hi = 1e-9;
  let lo = 0;
  for (const sr of o.series) for (let i = 0; i < sr.values.length; i++) {
    hi = Math.max(hi, sr.values[i]!);
    lo = Math.min(lo, sr.values[i]!);
  }
  const y = (v: number) => fr.top + ((hi - v) / (hi - lo || 1)) * (fr.height - fr.top - fr.bottom);
  let s = open(fr, o.title) + yAxis(fr, lo, hi, o.yLabel, y);
  const items: { name: string; color: string }[] = [];
  o.series.forEach((sr, k) => {
    const color = sr.color ?? palette[k % palette.length]!;
    const n = sr.values.length;
    const x = (i: number) => fr.left + (n <= 1 ? 0 : (i / (n - 1)) * (fr.width - fr.left - fr.right));
    let d = '';
    for (let i = 0; i < n; i++) d += `${i === 0 ? 'M' : 'L'}${f1(x(i))} ${f1(y(sr.values[i]!))}`;
    s += `<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5"><title>${escapeXml(sr.name)}</title></path>`;
    items.push({ name: sr.name, color });
  });
  for (const v of niceTicks(0, o.xMax)) {
    const px = fr.left + (v / o.xMax) * (fr.width - fr.left - fr.right);
    s += `<text x="${f1(px)}" y="${fr.height - fr.bottom + 16}" text-anchor="middle">${fmtNumber(v)}</text>`;
  }
  s += `<text x="${f1((fr.left + fr.width - fr.right) / 2)}" y="${fr.height - 6}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`;
  return s + legend(fr, items) + '</svg>\n';
}

/** Stacked bars per category (e.g. CO2 per year by sector). */
export function stackedBarChart(o: { title: string; yLabel: string; categories: string[]; series: Series[]; width?: number; height?: number }): string {
  const fr = defaultFrame(o.width, o.height);
  const n = o.categories.length;
  const totals = o.categories.map((_, i) => o.series.reduce((s, sr) => s + Math.max(0, sr.values[i]!), 0));
  const hi = Math.max(1e-9, ...totals);
  const y = (v: number) => fr.top + ((hi - v) / hi) * (fr.height - fr.top - fr.bottom);
  let s = open(fr, o.title) + yAxis(fr, 0, hi, o.yLabel, y);
  const slot = (fr.width - fr.left - fr.right) / Math.max(1, n);
  const w = Math.max(2, Math.min(60, slot * 0.7));
  const items = o.series.map((sr, k) => ({ name: sr.name, color: sr.color ?? palette[k % palette.length]! }));
  for (let i = 0; i < n; i++) {
    let base = 0;
    const cx = fr.left + slot * (i + 0.5);
    o.series.forEach((sr, k) => {
      const v = Math.max(0, sr.values[i]!);
      if (v <= 0) return;
      s += `<rect x="${f1(cx - w / 2)}" y="${f1(y(base + v))}" width="${f1(w)}" height="${f1(y(base) - y(base + v))}" fill="${items[k]!.color}"><title>${escapeXml(`${o.categories[i]} ${sr.name}: ${fmtNumber(v)}`)}</title></rect>`;
      base += v;
    });
    if (n <= 40 || i % Math.ceil(n / 20) === 0) s += `<text x="${f1(cx)}" y="${fr.height - fr.bottom + 16}" text-anchor="middle">${escapeXml(o.categories[i]!)}</text>`;
  }
  return s + legend(fr, items) + '</svg>\n';
}

/** One small bar panel per metric, one bar per run: metrics with different units side by side. */
export function comparisonChart(o: { title: string; runs: string[]; metrics: { name: string; unit: string; values: number[] }[]; columns?: number }): string {
  const cols = o.columns ?? 3;
  const pw = 300;
  const ph = 170;
  const rows = Math.ceil(o.metrics.length / cols);
  const width = cols * pw + 20;
  const height = 60 + rows * ph + 20 * Math.ceil(o.runs.length / 3);
  let s =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11" role="img" aria-label="${escapeXml(o.title)}">` +
    `<title>${escapeXml(o.title)}</title><rect width="100%" height="100%" fill="#fff"/><text x="10" y="20" font-size="14" font-weight="bold">${escapeXml(o.title)}</text>`;
  o.runs.forEach((r, k) => {
    const x = 10 + (k % 3) * 300;
    const yy = 30 + Math.floor(k / 3) * 16;
    s += `<rect x="${x}" y="${yy}" width="10" height="10" fill="${palette[k % palette.length]}"/><text x="${x + 16}" y="${yy + 9}">${escapeXml(r)}</text>`;
  });
  const top0 = 40 + 16 * Math.ceil(o.runs.length / 3);
  o.metrics.forEach((m, i) => {
    const px = 10 + (i % cols) * pw;
    const py = top0 + Math.floor(i / cols) * ph;
    const hi = Math.max(1e-9, ...m.values.map(Math.abs));
    const ih = ph - 60;
    s += `<text x="${px}" y="${py + 12}" font-weight="bold">${escapeXml(`${m.name} (${m.unit})`)}</text>`;
    const bw = Math.min(50, (pw - 40) / Math.max(1, m.values.length) - 8);
    m.values.forEach((v, k) => {
      const h = (Math.abs(v) / hi) * ih;
      const x = px + 10 + k * (bw + 8);
      const y = py + 20 + ih - h;
      s += `<rect x="${f1(x)}" y="${f1(y)}" width="${f1(bw)}" height="${f1(h)}" fill="${palette[k % palette.length]}"${v < 0 ? ' fill-opacity="0.5"' : ''}><title>${escapeXml(`${o.runs[k]}: ${fmtNumber(v)}`)}</title></rect>`;
      s += `<text x="${f1(x + bw / 2)}" y="${f1(y - 3)}" text-anchor="middle" font-size="10">${escapeXml(fmtNumber(v))}</text>`;
    });
    s += `<line x1="${px + 6}" x2="${px + pw - 20}" y1="${py + 20 + ih}" y2="${py + 20 + ih}" stroke="#333"/>`;
  });
  return s + '</svg>\n';
}
