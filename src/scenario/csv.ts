/** Numeric CSV tables for profiles: a header row, then one row per time step. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface CsvTable {
  file: string;
  header: string[];
  rows: number;
  /** sha256 of the file bytes (part of the scenario's content hash). */
  sha256: string;
  /** Column by header name; values parsed on first use. */
  column(name: string): Float64Array | { error: string };
}

function detectSeparator(headerLine: string): string {
  const counts = [';', ',', '\t'].map((s) => [s, headerLine.split(s).length - 1] as const);
  counts.sort((a, b) => b[1] - a[1]);
  return counts[0]![1] > 0 ? counts[0]![0] : ',';
}

const unquote = (s: string) => {
  const t = s.trim();
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1).replace(/""/g, '"') : t;
};

export function readCsvTable(file: string, separator?: string): CsvTable {
  const bytes = readFileSync(file);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const text = bytes.toString('utf8').replace(/^\uFEFF/, '');
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length < 2) throw new Error(`${file}: needs a header row and at least one data row`);
  const sep = separator ?? detectSeparator(lines[0]!);
  const header = lines[0]!.split(sep).map(unquote);
  const cells = lines.slice(1).map((l) => l.split(sep));
  const cache = new Map<string, Float64Array | { error: string }>();
  const decimalComma = sep !== ',';
  return {
    file,
    header,
    rows: cells.length,
    sha256,
    column(name) {
      const hit = cache.get(name);
      if (hit) return hit;
      const idx = header.indexOf(name);
      let out: Float64Array | { error: string };
      if (idx < 0) out = { error: `no column "${name}" (columns: ${header.join(', ')})` };
      else {
        const v = new Float64Array(cells.length);
        out = v;
        for (let r = 0; r < cells.length; r++) {
          let s = unquote(cells[r]![idx] ?? '');
          if (decimalComma && s.includes(',') && !s.includes('.')) s = s.replace(',', '.');
          const n = s === '' ? NaN : Number(s);
          if (!Number.isFinite(n)) {
            out = { error: `column "${name}" row ${r + 2} is not a number: ${JSON.stringify(s.slice(0, 30))}` };
            break;
          }
          v[r] = n;
        }
      }
      cache.set(name, out);
      return out;
    },
  };
}
