/**
 * Device lists for bulk registration, as exported from an asset list or a spreadsheet: CSV with
 * a header row naming a `device` column and optionally a `type` column (other columns, such as a
 * location or serial number, are ignored). Comma or semicolon separated, quotes and a BOM are
 * fine, `#` starts a comment line. Pure: text in, devices or problems by line number out.
 */
import { CsvError, parse } from 'csv-parse/sync';
import { deviceTypes } from '../contract/payloads.ts';
import { deviceIdProblem, type NewDevice } from './registry.ts';

export interface DeviceList {
  devices: NewDevice[];
  /** Everything wrong with the list, one line each; empty when it can be registered. */
  problems: string[];
}

const MAX_PROBLEMS = 20;

export function parseDeviceList(text: string): DeviceList {
  let rows: Array<{ record: Record<string, string>; info: { lines: number } }>;
  try {
    rows = parse(text, {
      columns: (header: string[]) => header.map((h) => h.trim().toLowerCase()),
      delimiter: [',', ';'],
      bom: true,
      comment: '#',
      skip_empty_lines: true,
      trim: true,
      info: true,
    });
  } catch (err) {
    const line = err instanceof CsvError ? (err as CsvError & { lines?: number }).lines : undefined;
    return { devices: [], problems: [`${line ? `line ${line}: ` : ''}${(err as Error).message}`] };
  }
  if (rows.length === 0) return { devices: [], problems: ['no devices listed: the file needs a header row with a "device" column and one row per device'] };
  if (!('device' in rows[0]!.record)) return { devices: [], problems: [`the header row has no "device" column (it has: ${Object.keys(rows[0]!.record).join(', ')})`] };

  const devices: NewDevice[] = [];
  const problems: string[] = [];
  const firstLine = new Map<string, number>();
  for (const { record, info } of rows) {
    const at = `line ${info.lines}`;
    const device = record.device ?? '';
    const type = record.type || undefined;
    const invalid = deviceIdProblem(device);
    if (invalid) problems.push(`${at}: ${invalid}`);
    else if (firstLine.has(device)) problems.push(`${at}: device "${device}" is listed twice (first on line ${firstLine.get(device)})`);
    if (type !== undefined && !(deviceTypes as readonly string[]).includes(type)) problems.push(`${at}: unknown type "${type}"; one of ${deviceTypes.join(', ')}`);
    if (!firstLine.has(device)) firstLine.set(device, info.lines);
    devices.push({ device, ...(type !== undefined ? { type } : {}) });
  }
  if (problems.length > MAX_PROBLEMS) problems.splice(MAX_PROBLEMS, Infinity, `... and ${problems.length - MAX_PROBLEMS} more`);
  return { devices: problems.length ? [] : devices, problems };
}
