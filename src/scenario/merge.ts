/**
 * Overlay merge for scenario files and city changes: objects merge key by key, lists whose
 * entries all carry an `id` merge entry by entry (same id: merged; new id: appended;
 * `{id, $remove: true}`: removed), other lists and scalars are replaced, `null` deletes a key.
 */
type Plain = Record<string, unknown>;

const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);
const hasId = (v: unknown): v is Plain & { id: string } => isPlain(v) && typeof v.id === 'string';

export function overlay(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (isPlain(base) && isPlain(over)) {
    const out: Plain = { ...base };
    for (const [k, v] of Object.entries(over)) {
      if (v === null) delete out[k];
      else out[k] = overlay(base[k], v);
    }
    return out;
  }
  if (Array.isArray(base) && Array.isArray(over) && over.every(hasId) && base.every(hasId)) {
    const out: unknown[] = base.map((b) => b);
    for (const o of over) {
      const i = out.findIndex((b) => (b as Plain).id === o.id);
      if (o.$remove === true) {
        if (i >= 0) out.splice(i, 1);
        continue;
      }
      if (i >= 0) out[i] = overlay(out[i], o);
      else out.push(o);
    }
    return out;
  }
  return stripRemoveMarkers(over);
}

/** `$remove` markers only mean something inside an overlay; a fresh list drops the removed entries. */
function stripRemoveMarkers(v: unknown): unknown {
  if (Array.isArray(v) && v.every(hasId)) return v.filter((e) => e.$remove !== true);
  return v;
}

/** JSON with object keys sorted, for content hashes that do not depend on key order. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isPlain(v)) {
    return `{${Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
