import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, unlinkSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { registerSpecsCommand } from '../src/cli/commands/specs.ts';
import {
  canonicalUnit,
  deviceKinds,
  deviceTypes,
  dispatchTopicSuffixes,
  knownUnits,
  messageKinds,
  metricNameSchema,
  normalise,
  parseTopic,
  payloadSchemas,
  type MessageKind,
} from '../src/contract/index.ts';
import {
  checkSpecs,
  contractReason,
  conversionOf,
  defaultSpecsDir,
  generateAsyncApi,
  generateJsonSchemas,
  generatedFiles,
  gatewaySpecFile,
  kindRules,
  renderGatewaySpec,
  type LiveServer,
  stableJson,
  wellKnownMetrics,
  writeSpecs,
} from '../src/contract/generate.ts';
import { configSchema, type ConfigInput } from '../src/config/schema.ts';
import { createDispatchEngine, loadCity } from '../src/coupling/index.ts';
import { kpiMessage } from '../src/dispatch/index.ts';
import { AlarmReports } from '../src/dispatch/exception-reports.ts';
import { jsonSchemaErrors } from './helpers/json-schema.ts';

const specsDir = defaultSpecsDir;
const read = (rel: string) => readFileSync(join(specsDir, rel), 'utf8');
const readJson = (rel: string): any => JSON.parse(read(rel));
const kindOf = (file: string): MessageKind => {
  const kind = file.split('-')[0] as MessageKind;
  if (!messageKinds.includes(kind)) throw new Error(`example ${file} does not start with a message kind`);
  return kind;
};

const tempDirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'qs-specs-'));
  tempDirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

describe('generated files are up to date', () => {
  it('every generated file on disk equals a fresh in-memory generation (run `npm run specs` after changing a zod schema)', () => {
    for (const [file, content] of Object.entries(generatedFiles())) {
      const onDisk = existsSync(join(specsDir, file)) ? read(file) : '(missing)';
      expect(onDisk, `firmware-specs/${file} is stale: run npm run specs`).toBe(content);
    }
    const spec = read(gatewaySpecFile);
    expect(spec, 'the generated tables in GATEWAY-SPEC.md are stale: run npm run specs').toBe(renderGatewaySpec(spec));
    expect(checkSpecs(specsDir)).toEqual([]);
  });

  it('generation is deterministic and ends files with a newline', () => {
    const a = generatedFiles();
    const b = generatedFiles();
    expect(a).toEqual(b);
    for (const [file, content] of Object.entries(a)) expect(content.endsWith('\n'), file).toBe(true);
  });

  it('stableJson sorts keys, including integer-like ones JSON.stringify would hoist', () => {
    expect(stableJson({ b: 1, a: { '1': true, z: [2, { y: null, x: 'q' }] }, $id: 'i' })).toBe(
      '{\n  "$id": "i",\n  "a": {\n    "1": true,\n    "z": [\n      2,\n      {\n        "x": "q",\n        "y": null\n      }\n    ]\n  },\n  "b": 1\n}\n',
    );
  });

  it('checkSpecs names stale, missing and stray files; writeSpecs repairs them', () => {
    const dir = tempDir();
    const written = writeSpecs(dir);
    expect(written).toContain('schemas/data.schema.json');
    expect(written).toContain(gatewaySpecFile);
    expect(checkSpecs(dir)).toEqual([]);

    writeFileSync(join(dir, 'schemas/data.schema.json'), read('schemas/data.schema.json').replace('"maxItems": 1000', '"maxItems": 999'));
    unlinkSync(join(dir, 'asyncapi.json'));
    writeFileSync(join(dir, 'examples/data-removed-example.json'), '{}\n');
    const spec = readFileSync(join(dir, gatewaySpecFile), 'utf8');
    writeFileSync(join(dir, gatewaySpecFile), spec.replace('| power | `MW` | `kW` | x × 1000 |', '| power | `MW` | `kW` | x × 100 |'));
    expect(checkSpecs(dir)).toEqual([gatewaySpecFile, 'asyncapi.json', 'examples/data-removed-example.json', 'schemas/data.schema.json'].sort());

    expect(writeSpecs(dir).sort()).toEqual([gatewaySpecFile, 'asyncapi.json', 'examples/data-removed-example.json', 'schemas/data.schema.json'].sort());
    expect(existsSync(join(dir, 'examples/data-removed-example.json'))).toBe(false);
    expect(checkSpecs(dir)).toEqual([]);
    expect(writeSpecs(dir)).toEqual([]);
    // Hand-written prose survives regeneration.
    expect(readFileSync(join(dir, gatewaySpecFile), 'utf8')).toBe(spec);
  });

  it('a GATEWAY-SPEC.md without its generated regions is reported, with the region named', () => {
    const dir = tempDir();
    writeSpecs(dir);
    const spec = readFileSync(join(dir, gatewaySpecFile), 'utf8');
    const broken = spec.replace(/<!-- BEGIN GENERATED units[\s\S]*?<!-- END GENERATED units -->/, 'units table removed');
    expect(() => renderGatewaySpec(broken)).toThrow(/missing generated region\(s\) units/);
    writeFileSync(join(dir, gatewaySpecFile), broken);
    expect(checkSpecs(dir)).toEqual([gatewaySpecFile]);
    expect(() => writeSpecs(dir)).toThrow(/units/);
  });
});

describe('querstrom specs (CLI)', () => {
  function cli() {
    const program = new Command('querstrom').exitOverride();
    const output = { out: '', err: '' };
    program.configureOutput({ writeOut: (s) => (output.out += s), writeErr: (s) => (output.err += s) });
    registerSpecsCommand(program);
    return { program, output };
  }

  it('check exits 1 naming the stale file, generate fixes it, check then passes', async () => {
    const dir = tempDir();
    writeSpecs(dir);
    unlinkSync(join(dir, 'schemas/ack.schema.json'));
    writeFileSync(join(dir, 'schemas/state.schema.json'), '{}\n');

    const first = cli();
    const err = await first.program.parseAsync(['specs', 'check', '--dir', dir], { from: 'user' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommanderError);
    expect((err as CommanderError).exitCode).toBe(1);
    expect(first.output.err).toContain('schemas/ack.schema.json (missing)');
    expect(first.output.err).toContain('schemas/state.schema.json (out of date or not generated)');
    expect(first.output.err).toContain('npm run specs');

    const gen = cli();
    await gen.program.parseAsync(['specs', 'generate', '--dir', dir], { from: 'user' });
    expect(gen.output.out).toContain('updated 2 file(s)');
    expect(gen.output.out).toContain('schemas/ack.schema.json');

    const second = cli();
    await second.program.parseAsync(['specs', 'check', '--dir', dir], { from: 'user' });
    expect(second.output.out).toContain('matches the zod schemas');
  });
});

describe('JSON Schemas', () => {
  const required: Record<Exclude<MessageKind, 'cmd'>, string[]> = {
    data: ['seq', 'samples'],
    birth: ['type', 'firmware', 'interval_s', 'metrics'],
    state: ['state'],
    ack: ['id', 'ok'],
  };

  it('one draft 2020-12 schema per kind with $id, title, description and the required fields', () => {
    expect(readdirSync(join(specsDir, 'schemas')).sort()).toEqual([...messageKinds.map((k) => `${k}.schema.json`), ...dispatchTopicSuffixes.map((t) => `dispatch-${t}.schema.json`)].sort());
    for (const kind of messageKinds) {
      const s = readJson(`schemas/${kind}.schema.json`);
      expect(s.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(s.$id).toBe(`https://querstrom.org/schemas/v1/${kind}.schema.json`);
      expect(s.title).toContain(kind);
      expect(s.description).toContain(`qs/v1/{tenant}/{device}/${kind}`);
      expect(read(`schemas/${kind}.schema.json`)).not.toContain('#/$defs');
      if (kind === 'cmd') {
        expect(s.oneOf.map((b: any) => b.properties.type.const).sort()).toEqual(['reject', 'setpoint']);
        expect(s.oneOf.find((b: any) => b.properties.type.const === 'setpoint').required).toEqual(['id', 'type', 'ts', 'metric', 'value', 'unit']);
        expect(s.oneOf.find((b: any) => b.properties.type.const === 'reject').required).toEqual(['id', 'type', 'ts', 'topic', 'reason']);
      } else {
        expect(s.type).toBe('object');
        expect(s.additionalProperties).toBe(false);
        expect(s.required).toEqual(required[kind]);
      }
    }
  });

  it('one self-contained schema per dispatch topic, accepting what the engine publishes (Ajv)', async () => {
    const latest = readJson('schemas/dispatch-latest.schema.json');
    const kpis = readJson('schemas/dispatch-kpis.schema.json');
    // Unit messages as the server sends them are checked in dispatch-live.test.ts.
    const units = readJson('schemas/dispatch-units.schema.json');
    const alarms = readJson('schemas/dispatch-alarms.schema.json');
    for (const [suffix, s] of [['latest', latest], ['kpis', kpis], ['alarms', alarms], ['units', units]] as const) {
      expect(s.$id).toBe(`https://querstrom.org/schemas/v1/dispatch-${suffix}.schema.json`);
      expect(s.description).toContain(`Topic: qs/v1/{tenant}/dispatch/${suffix === 'units' ? 'units/{unit}' : suffix}.`);
      expect(read(`schemas/dispatch-${suffix}.schema.json`)).not.toContain('$ref');
      expect(s.additionalProperties).toBe(false);
    }
    expect(latest.required).toEqual(expect.arrayContaining(['setpoints', 'flows', 'storage', 'prices', 'kpis', 'explanations', 'alarms']));
    expect(kpis.required).toEqual(['ts', 'tick', 'status', 'objective', 'kpis', 'prices', 'alarms']);
    expect(units.required).toEqual(['ts', 'tick', 'unit', 'kind', 'field', 'valueMw', 'mode']);

    // A real tick of the demo city, first without readings (inputs missing: alarms), then with one.
    const engine = await createDispatchEngine(loadCity('config/demo-city.yaml'), { autoReplan: false, now: () => Date.UTC(2026, 0, 5, 12) });
    try {
      const [binding] = engine.inputBindings();
      const results = [engine.tick()];
      engine.ingest(binding!.device, binding!.metric, 1, Date.UTC(2026, 0, 5, 12));
      results.push(engine.tick());
      expect(results[0]!.alarms.length).toBeGreaterThan(0);
      for (const r of results) {
        const published = JSON.parse(JSON.stringify(r));
        expect(Object.keys(published.setpoints).length).toBeGreaterThan(0);
        expect(jsonSchemaErrors(latest, published)).toEqual([]);
        expect(jsonSchemaErrors(kpis, JSON.parse(JSON.stringify(kpiMessage(r))))).toEqual([]);
        expect(jsonSchemaErrors(alarms, JSON.parse(JSON.stringify(new AlarmReports().due(r))))).toEqual([]);
      }
      // The schemas are strict: a field the contract does not name fails.
      expect(jsonSchemaErrors(kpis, { ...JSON.parse(JSON.stringify(kpiMessage(results[1]!))), extra: 1 }).join()).toContain('extra');
    } finally {
      engine.dispose();
    }
  });

  it('carries the contract limits, including those zod holds as refinements', () => {
    const data = readJson('schemas/data.schema.json');
    expect(data.properties.samples.minItems).toBe(1);
    expect(data.properties.samples.maxItems).toBe(1000);
    const metrics = data.properties.samples.items.properties.metrics;
    expect([metrics.minProperties, metrics.maxProperties]).toEqual([1, 64]);
    expect(metrics.propertyNames.pattern).toBe('^[a-z][a-z0-9_]{0,63}$');
    expect(data.properties.seq).toMatchObject({ type: 'integer', minimum: 0, maximum: 4294967295 });
    expect(data.properties.units.additionalProperties.enum).toEqual([...knownUnits]);
    expect(readJson('schemas/birth.schema.json').properties.metrics.minProperties).toBe(1);
  });

  it('agree with zod on every example (cross-check with Ajv)', () => {
    const schemas = generateJsonSchemas();
    for (const file of readdirSync(join(specsDir, 'examples')).filter((f) => f.endsWith('.json'))) {
      expect(jsonSchemaErrors(schemas[kindOf(file)], readJson(`examples/${file}`)), file).toEqual([]);
    }
    for (const file of readdirSync(join(specsDir, 'examples/invalid')).filter((f) => f !== 'expected.json')) {
      let value: unknown;
      try {
        value = JSON.parse(read(`examples/invalid/${file}`));
      } catch {
        continue; // not JSON at all: nothing for a schema to say
      }
      expect(jsonSchemaErrors(schemas[kindOf(file)], value).length, `${file} should fail the JSON Schema too`).toBeGreaterThan(0);
    }
  });
});

describe('examples', () => {
  const validFiles = readdirSync(join(specsDir, 'examples')).filter((f) => f.endsWith('.json'));
  const expected: Record<string, string> = readJson('examples/invalid/expected.json');
  const invalidFiles = readdirSync(join(specsDir, 'examples/invalid')).filter((f) => f !== 'expected.json');

  it('cover every kind, and data in several shapes', () => {
    for (const kind of messageKinds) expect(validFiles.some((f) => kindOf(f) === kind), kind).toBe(true);
    const data = validFiles.filter((f) => kindOf(f) === 'data').map((f) => readJson(`examples/${f}`));
    expect(data.some((d) => d.samples.length === 1 && typeof d.samples[0].ts === 'number')).toBe(true);
    expect(data.some((d) => d.samples.length > 1)).toBe(true);
    expect(data.some((d) => d.units)).toBe(true);
    expect(data.some((d) => d.samples.every((s: any) => typeof s.ts === 'string'))).toBe(true);
  });

  it('every valid example validates against its zod schema', () => {
    for (const file of validFiles) {
      const r = payloadSchemas[kindOf(file)].safeParse(readJson(`examples/${file}`));
      expect(r.success, `${file}: ${r.success ? '' : r.error.message}`).toBe(true);
    }
  });

  it('data examples only use metrics with a known unit, which normalises', () => {
    const named = new Set(Object.values(wellKnownMetrics).flatMap((ms) => ms.map((m) => m.name)));
    for (const file of validFiles.filter((f) => kindOf(f) === 'data')) {
      const d = readJson(`examples/${file}`);
      for (const s of d.samples) {
        for (const [metric, value] of Object.entries(s.metrics as Record<string, number>)) {
          expect(named.has(metric) || d.units?.[metric], `${file}: ${metric}`).toBeTruthy();
          if (d.units?.[metric]) expect(normalise(value, d.units[metric]).ok).toBe(true);
        }
      }
    }
  });

  it('expected.json lists exactly the invalid examples', () => {
    expect(Object.keys(expected).sort()).toEqual([...invalidFiles].sort());
    expect(invalidFiles.length).toBeGreaterThanOrEqual(10);
  });

  it('every invalid example fails with its expected reason', () => {
    for (const file of invalidFiles) {
      const reason = contractReason(kindOf(file), read(`examples/invalid/${file}`));
      expect(reason, `${file} was accepted`).not.toBeNull();
      expect(reason, file).toContain(expected[file]);
    }
  });

  it('contractReason is what zod says, and null for valid payloads', () => {
    expect(contractReason('state', '{"state":"online"}')).toBeNull();
    expect(contractReason('state', '{"state":"gone"}')).toMatch(/^state: Invalid option/);
    expect(contractReason('data', '{')).toMatch(/^malformed JSON: /);
  });

  it('the JSON examples embedded in GATEWAY-SPEC.md are valid', () => {
    const spec = read(gatewaySpecFile);
    const blocks = [...spec.matchAll(/<!-- example: ([a-z]+) -->\n```json\n([\s\S]*?)```/g)];
    expect(blocks.length).toBeGreaterThanOrEqual(6);
    for (const [, kind, body] of blocks) expect(contractReason(kind as MessageKind, body!), body).toBeNull();
  });

  it('the quick start publishes valid messages to valid topics, except the deliberate mistake, whose reason the text quotes', () => {
    const spec = read(gatewaySpecFile);
    const pubs = spec
      .split('\n')
      .filter((l) => l.startsWith('mosquitto_pub '))
      .map((l) => {
        const topic = / -t (\S+)/.exec(l)?.[1];
        const payload = / -m '(.*)'$/.exec(l.replace(`'"$NOW"'`, '1768464000000'))?.[1];
        if (!topic || payload === undefined) throw new Error(`cannot read quick-start line: ${l}`);
        return { topic, payload };
      });
    expect(pubs.length).toBe(4);
    const reasons = pubs.map(({ topic, payload }) => {
      const t = parseTopic(topic);
      if (!t.ok) throw new Error(t.reason);
      expect(t.topic).toMatchObject({ tenant: 'demo', gateway: 'hm-0001' });
      return contractReason(t.topic.kind, payload);
    });
    expect(reasons.slice(0, 3)).toEqual([null, null, null]);
    expect(reasons[3]).not.toBeNull();
    expect(spec).toContain(`data schema violation: ${reasons[3]}`);
  });
});

describe('parseTopic', () => {
  it('accepts the device and sub-device forms', () => {
    expect(parseTopic('qs/v1/demo/hm-0001/data')).toEqual({ ok: true, topic: { tenant: 'demo', gateway: 'hm-0001', kind: 'data' } });
    expect(parseTopic('qs/v1/demo/gw-north/meter_07.a/birth')).toEqual({
      ok: true,
      topic: { tenant: 'demo', gateway: 'gw-north', subdevice: 'meter_07.a', kind: 'birth' },
    });
    for (const kind of messageKinds) expect(parseTopic(`qs/v1/t/d/${kind}`).ok).toBe(true);
  });

  const rejects: Array<[string, string, RegExp]> = [
    ['wrong root', 'mqtt/v1/demo/hm-0001/data', /must start with "qs\/v1\/"/],
    ['wrong version', 'qs/v2/demo/hm-0001/data', /unsupported topic version "v2", this server speaks v1/],
    ['missing version', 'qs', /unsupported topic version ""/],
    ['too few levels', 'qs/v1/demo/data', /got 4 levels/],
    ['too many levels', 'qs/v1/demo/gw/sub/extra/data', /got 7 levels/],
    ['thousands of levels', `qs/v1/${'a/'.repeat(5000)}data`, /got 5003 levels/],
    ['bad kind', 'qs/v1/demo/hm-0001/telemetry', /unknown message kind "telemetry", expected one of data, birth, state, cmd, ack/],
    ['wildcard kind', 'qs/v1/demo/hm-0001/#', /unknown message kind "#"/],
    ['bad device id', 'qs/v1/demo/hm 0001/data', /invalid id "hm 0001"/],
    ['id starting with a dot', 'qs/v1/demo/.hidden/data', /invalid id ".hidden"/],
    ['empty id', 'qs/v1//hm-0001/data', /invalid id ""/],
    ['bad sub-device id', 'qs/v1/demo/gw/+/data', /invalid id "\+"/],
    ['id too long', `qs/v1/demo/${'x'.repeat(65)}/data`, /invalid id "x{65}"/],
  ];
  for (const [name, topic, reason] of rejects) {
    it(`rejects ${name} with a clear reason`, () => {
      const r = parseTopic(topic);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(reason);
    });
  }
});

describe('units', () => {
  const cases: Array<[number, string, number, string]> = [
    [1.5, 'MW', 1500, 'kW'],
    [2500, 'W', 2.5, 'kW'],
    [273.15, 'K', 0, 'degC'],
    [353.15, 'K', 80, 'degC'],
    [3, 'l/s', 10.8, 'm3/h'],
    [212, '°F', 100, 'degC'],
    [-40, 'degF', -40, 'degC'],
    [0.63, 'fraction', 63, '%'],
    [3.5, '1', 3.5, '1'],
    [3.6, 'GJ', 1000, 'kWh'],
    [4.2, 'count', 4.2, '1'],
    [25, 'ct/kWh', 250, 'EUR/MWh'],
    [36, 'km/h', 10, 'm/s'],
  ];
  for (const [value, unit, canonical, canonicalName] of cases) {
    it(`${value} ${unit} → ${canonical} ${canonicalName}`, () => {
      const r = normalise(value, unit);
      expect(r.ok).toBe(true);
      if (r.ok) {
        expect(r.value).toBeCloseTo(canonical, 9);
        expect(r.unit).toBe(canonicalName);
      }
    });
  }

  it('unknown units fail with a reason naming the unit', () => {
    for (const unit of ['kWatt', 'kw', '', 'degc']) {
      const r = normalise(1, unit);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toContain(`unknown unit "${unit}"`);
    }
  });

  it('every canonical unit maps to itself, so stored values are stable', () => {
    for (const [quantity, unit] of Object.entries(canonicalUnit)) {
      if (quantity === 'count') continue; // stored as "1", sent as "count": "1" means a fraction on input
      const r = normalise(7, unit);
      expect(r, quantity).toEqual({ ok: true, value: 7, unit });
    }
  });

  it('the conversions in the spec table come from normalise()', () => {
    expect(conversionOf('kW')).toBe('unchanged');
    expect(conversionOf('MW')).toBe('x × 1000');
    expect(conversionOf('K')).toBe('x − 273.15');
    expect(conversionOf('°F')).toBe('x × 0.555556 − 17.7778');
    const spec = read(gatewaySpecFile);
    for (const unit of knownUnits) expect(spec, unit).toContain(`| \`${unit}\` |`);
  });
});

describe('well-known metrics and kind rules', () => {
  it('name real device types, valid metric names and units of a known quantity', () => {
    for (const [type, metrics] of Object.entries(wellKnownMetrics)) {
      expect(deviceTypes).toContain(type);
      for (const m of metrics) {
        expect(metricNameSchema.safeParse(m.name).success, m.name).toBe(true);
        expect(normalise(1, m.unit).ok, `${type}.${m.name}`).toBe(true);
      }
    }
    const names = (t: keyof typeof wellKnownMetrics) => wellKnownMetrics[t]!.map((m) => m.name);
    expect(names('heat_meter')).toEqual(['heat_power', 'supply_temp', 'return_temp', 'flow', 'energy']);
    expect(names('heat_pump')).toEqual(['heat_power', 'el_power', 'cop', 'source_temp', 'sink_temp']);
    expect(names('grid_meter')).toEqual(['import_power', 'export_power', 'price', 'co2_intensity']);
  });

  it('the kinds a device may publish are exactly those the spec marks device-to-server', () => {
    expect(messageKinds.filter((k) => kindRules[k].direction === 'device-to-server')).toEqual([...deviceKinds]);
    expect(messageKinds.filter((k) => kindRules[k].retain)).toEqual(['state']);
  });
});

describe('AsyncAPI document', () => {
  const doc = readJson('asyncapi.json');

  function resolvePointer(ref: string): unknown {
    expect(ref.startsWith('#/'), ref).toBe(true);
    return ref
      .slice(2)
      .split('/')
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce<any>((node, key) => (node === undefined ? undefined : node[key]), doc);
  }

  it('is AsyncAPI 3.0 and equals the in-memory generation', () => {
    expect(doc.asyncapi).toBe('3.0.0');
    expect(doc).toEqual(JSON.parse(stableJson(generateAsyncApi())));
    expect(doc.info.title).toBeTruthy();
  });

  it('every $ref resolves', () => {
    const refs: string[] = [];
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) k === '$ref' && typeof x === 'string' ? refs.push(x) : walk(x);
    };
    walk(doc);
    expect(refs.length).toBeGreaterThan(50);
    for (const ref of refs) expect(resolvePointer(ref), ref).toBeDefined();
  });

  it('describes the TCP, WebSocket and TLS listeners with the server config defaults', () => {
    expect(doc.servers.mqtt).toMatchObject({ host: '{host}:1883', protocol: 'mqtt', protocolVersion: '3.1.1' });
    expect(doc.servers.ws).toMatchObject({ host: '{host}:8083', protocol: 'ws', pathname: '/mqtt' });
    expect(doc.servers.mqtts).toMatchObject({ host: '{host}:8883', protocol: 'secure-mqtt' });
    expect(doc.servers.wss).toMatchObject({ host: '{host}:8084', protocol: 'wss' });
    expect(doc.servers.mqtts.description).toContain('broker.tls');
    const schemesOf = (server: any) => server.security.map((r: any) => r.$ref.split('/').pop());
    expect(schemesOf(doc.servers.mqtts)).toEqual(['userPassword', 'apiToken', 'x509']);
    expect(schemesOf(doc.servers.mqtt)).toEqual(['userPassword', 'apiToken']);
    expect(doc.servers.mqtt.bindings.mqtt.lastWill).toEqual({ topic: 'qs/v1/{tenant}/{device}/state', qos: 1, retain: true, message: '{"state":"offline"}' });
    expect(doc.components.securitySchemes.userPassword.type).toBe('userPassword');
    expect(doc.components.securitySchemes.apiToken.type).toBe('userPassword');
    expect(doc.components.securitySchemes.apiToken.description).toContain('qs/v1/{tenant}/dispatch/');
    expect(doc.components.securitySchemes.x509.type).toBe('X509');
  });

  it("a running server's document names only its listeners that are on, at their ports, with its limits and client-certificate mode", () => {
    const schemesOf = (server: any) => server.security.map((r: any) => r.$ref.split('/').pop());
    const live = (over: ConfigInput, ports: LiveServer['ports']): any =>
      generateAsyncApi({ config: configSchema.parse(over), ports, host: 'waerme.example' });
    const certs = { certFile: 'server.crt', keyFile: 'server.key', caFile: 'ca.crt' };
    const required = live(
      { broker: { tls: { enabled: true, ...certs, clientCerts: 'required' }, ws: { enabled: false }, limits: { maxPacketBytes: 65_536 } } },
      { mqtt: 11883, ws: undefined, mqtts: 18883, wss: undefined },
    );
    expect(Object.keys(required.servers).sort()).toEqual(['mqtt', 'mqtts']);
    expect(required.servers.mqtt).toMatchObject({ host: '{host}:11883', description: 'MQTT over TCP on port 11883 of this server.' });
    expect(required.servers.mqtt.variables.host.default).toBe('waerme.example');
    expect(schemesOf(required.servers.mqtts)).toEqual(['x509']);
    expect(required['x-querstrom-limits'].maxPacketBytes).toBe(65_536);
    const optional = live({ broker: { tls: { enabled: true, ...certs, clientCerts: 'optional' }, wss: { enabled: true, path: '/secure' } } }, { mqtt: 1, ws: 2, mqtts: 3, wss: 4 });
    expect(schemesOf(optional.servers.mqtts)).toEqual(['userPassword', 'apiToken', 'x509']);
    expect(optional.servers.wss).toMatchObject({ host: '{host}:4', pathname: '/secure' });
    expect(optional.servers.ws.pathname).toBe('/mqtt');
    const passwordsOnly = live({ broker: { tls: { enabled: true, certFile: 'a', keyFile: 'b' } } }, { mqtt: undefined, ws: undefined, mqtts: 8883, wss: undefined });
    expect(schemesOf(passwordsOnly.servers.mqtts)).toEqual(['userPassword', 'apiToken']);
    // Everything but the servers and limits is the published contract.
    for (const served of [required, optional]) expect({ ...served, servers: undefined, 'x-querstrom-limits': undefined }).toEqual({ ...doc, servers: undefined, 'x-querstrom-limits': undefined });
  });

  it('has a device and a sub-device channel per kind and one per dispatch topic, with parameters for every address variable', () => {
    const addresses = Object.values(doc.channels).map((c: any) => c.address).sort();
    expect(addresses).toEqual(
      [
        ...messageKinds.flatMap((k) => [`qs/v1/{tenant}/{device}/${k}`, `qs/v1/{tenant}/{gateway}/{subdevice}/${k}`]),
        'qs/v1/{tenant}/dispatch/latest',
        'qs/v1/{tenant}/dispatch/kpis',
        'qs/v1/{tenant}/dispatch/alarms',
        'qs/v1/{tenant}/dispatch/units/{unit}',
      ].sort(),
    );
    expect(doc.components.parameters.device.description).toContain('"dispatch", "alarms", "server"');
    for (const channel of Object.values(doc.channels) as any[]) {
      const vars = [...channel.address.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      expect(Object.keys(channel.parameters).sort()).toEqual(vars);
    }
  });

  it('operations are from the server side, with QoS and retain per kind', () => {
    for (const op of Object.values(doc.operations) as any[]) {
      const channel = resolvePointer(op.channel.$ref) as any;
      if (channel.address.includes('/dispatch/')) {
        // Server to integrations: retained, and only for the read-only token login; QoS 1 where sent by exception.
        expect(op.action).toBe('send');
        expect(op.bindings.mqtt).toMatchObject({ qos: /\/(alarms|units\/\{unit\})$/.test(channel.address) ? 1 : 0, retain: true });
        expect(op.security).toEqual([{ $ref: '#/components/securitySchemes/apiToken' }]);
        continue;
      }
      const kind = channel.address.split('/').pop() as MessageKind;
      expect(op.action).toBe(kindRules[kind].direction === 'device-to-server' ? 'receive' : 'send');
      expect(op.bindings.mqtt).toMatchObject({ qos: 1, retain: kind === 'state' });
      if (kind === 'cmd') expect((resolvePointer(op.reply.channel.$ref) as any).address).toMatch(/\/ack$/);
    }
    expect(Object.keys(doc.operations)).toHaveLength(messageKinds.length * 2 + dispatchTopicSuffixes.length);
  });

  it('message payloads are the published JSON Schemas, and message examples validate', () => {
    for (const kind of messageKinds) {
      const message = doc.components.messages[kind];
      const payload = resolvePointer(message.payload.$ref) as any;
      expect(payload.schemaFormat).toBe('application/schema+json;version=draft-2020-12');
      expect(payload.schema).toEqual(readJson(`schemas/${kind}.schema.json`));
      expect(message.examples.length).toBeGreaterThan(0);
      for (const ex of message.examples) expect(payloadSchemas[kind].safeParse(ex.payload).success, ex.name).toBe(true);
    }
    for (const suffix of dispatchTopicSuffixes) {
      const channel = doc.channels[`dispatch${suffix[0]!.toUpperCase()}${suffix.slice(1)}`];
      const message = resolvePointer(Object.values<any>(channel.messages)[0].$ref) as any;
      expect((resolvePointer(message.payload.$ref) as any).schema).toEqual(readJson(`schemas/dispatch-${suffix}.schema.json`));
    }
  });
});
