/**
 * Validation against the published JSON Schemas (firmware-specs/schemas) with Ajv, an
 * implementation independent of zod: what the generator writes must accept exactly what the
 * server and the contract accept. Strict mode: a keyword Ajv does not know fails compilation, so
 * a zod upgrade that emits something new cannot slip past.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS with the function as its default export.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

const ajv = addFormats(new Ajv2020({ strict: true, allErrors: true }));
const compiled = new Map<object, ValidateFunction>();

/** Ajv's errors for value under schema (empty when it is valid), one readable line each. */
export function jsonSchemaErrors(schema: object, value: unknown): string[] {
  let validate = compiled.get(schema);
  if (!validate) {
    // Ajv keeps schemas by $id; the same document may be compiled afresh (a regenerated copy).
    const { $id: _id, ...anonymous } = schema as { $id?: string };
    validate = ajv.compile(anonymous);
    compiled.set(schema, validate);
  }
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '$'} ${e.message ?? 'invalid'}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`);
}
