/**
 * The dashboard in a real browser (Debian's Chromium via playwright-core) against a real
 * `querstrom serve --demo`: simulated gateways, the live coupling engine, scenario runs.
 * Live values change without a reload, a malformed message from mosquitto_pub shows up
 * under its device with its reason, the language switches, a mode switch reaches the
 * engine, two scenario runs compare, and axe-core finds no serious or critical WCAG 2.1
 * violation on any page. Screenshots go to test-artifacts/web and bench/results/screenshots.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { chromiumAvailable, launchBrowser, newContext, screenshot, seriousViolations, viewports, watchErrors } from './helpers/browser.ts';
import { IdentityRegistry } from '../src/identity/index.ts';
import { identityFile } from '../src/server/index.ts';
import { api, spawnServer, tempDir, waitFor, type SpawnedServer } from './helpers/server.ts';
import { buildFlowGraph } from '../src/web/app/sankey-model.ts';
import { EventStreamParser } from '../src/web/app/sse.ts';
import type { DispatchResult } from '../src/web/app/types.ts';

const run = promisify(execFile);
const root = new URL('../', import.meta.url).pathname;

const timings: Record<string, number> = {};
async function timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    timings[name] = Math.round(performance.now() - t0);
  }
}

/**
 * Two three-week runs of the shipped reference case: as shipped, and with a CO2 price, more
 * data-centre heat and a larger heat pump (which should lower CO2 and raise the waste-heat share).
 */
async function scenarioTexts(): Promise<string[]> {
  const base = YAML.parse(await readFile(`${root}config/scenarios/district-heating-2019.yaml`, 'utf8')) as Record<string, any>;
  base.horizon = { ...base.horizon, from: '2019-01-01', to: '2019-01-22' };
  const variant = structuredClone(base);
  variant.name = 'more-waste-heat';
  variant.co2PriceEurPerT = 150;
  variant.city.co2PriceEurPerT = 150;
  for (const u of variant.city.units) {
    if (u.id === 'data_centre') u.availableMw = 5;
    if (u.id === 'heat_pump') u.heatMaxMw = 7;
  }
  base.name = 'reference-3-weeks';
  return [YAML.stringify(base), YAML.stringify(variant)];
}

/** Keeps the last dispatches the server streams, by tick, so a test can see what the page was sent. */
function recordDispatches(port: number, token: string): { byTick: Map<number, DispatchResult>; stop: () => void } {
  const byTick = new Map<number, DispatchResult>();
  const ac = new AbortController();
  const parser = new EventStreamParser((event, data) => {
    if (event !== 'dispatch') return;
    const r = JSON.parse(data) as DispatchResult;
    byTick.set(r.tick, r);
    if (byTick.size > 200) byTick.delete(byTick.keys().next().value!);
  });
  void (async () => {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/dispatch/stream`, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
    for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) parser.push(chunk);
  })().catch(() => undefined);
  return { byTick, stop: () => ac.abort() };
}

async function expectAccessible(page: Page, name: string): Promise<void> {
  const violations = await seriousViolations(page);
  expect(violations, `${name}: ${JSON.stringify(violations, null, 1)}`).toEqual([]);
}

/** Text of the page that looks like an untranslated dictionary key (e.g. "flows.title"). */
const rawKeys = (page: Page) =>
  page.evaluate(() => {
    const out: string[] = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const text = n.textContent?.trim() ?? '';
      if (/^[a-z]+(\.[a-zA-Z_]+)+$/.test(text) && !/^(qs|hm|dispatch)\./.test(text)) out.push(text);
    }
    return out;
  });

describe('web dashboard in Chromium', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: SpawnedServer;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  let base: string;
  let token: string;
  let brokenPassword: string;
  let runIds: string[] = [];

  beforeAll(async () => {
    if (!chromiumAvailable()) throw new Error('Debian Chromium is missing at /usr/bin/chromium: apt-get install chromium (npm test runs test/ensure-system-packages.sh, which does)');
    dir = await tempDir('qs-web-e2e-');
    [server, browser] = await Promise.all([timed('server start', () => spawnServer(['--demo', '--data-dir', dir.path, '--devices', '30'])), timed('browser launch', launchBrowser)]);
    token = server.token!;
    base = `http://127.0.0.1:${server.api}`;
    const index = await fetch(`${base}/`);
    if (index.status !== 200) throw new Error(`GET / answered ${index.status}: the dashboard is not built (npm run build:web) or webPlugin() is not among the server's publicPlugins`);
    // A gateway engineer registers a device (admin API) and gets its MQTT password once.
    const added = await api(server.api, '/api/v1/devices', token, { method: 'POST', body: JSON.stringify({ device: 'gw-broken' }) });
    expect(added.status, JSON.stringify(added.body)).toBe(201);
    brokenPassword = added.body.password;
    // Scenario runs take a few seconds in the server's worker; start them now.
    for (const text of await scenarioTexts()) {
      const r = await api(server.api, '/api/v1/scenarios/runs', token, { method: 'POST', body: JSON.stringify({ scenario: text }) });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      runIds.push(r.body.id);
    }
    const context = await newContext(browser, viewports.laptop);
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    errors = watchErrors(page);
  }, 45_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    if (server && server.child.exitCode === null) {
      const exited = new Promise((r) => server.child.once('exit', r));
      server.child.kill('SIGTERM');
      const timer = setTimeout(() => server.child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await dir?.remove();
    console.log('web test timings (ms):', JSON.stringify(timings));
  }, 20_000);

  it('signs in with a token and shows live flows that update without a reload', async () => {
    await timed('login', async () => {
      await page.goto(`${base}/`);
      await page.waitForSelector('#token');
      await expectAccessible(page, 'login');
      await screenshot(page, 'login', false);
      await page.fill('#token', 'qst_not-a-token');
      await page.click('button[type=submit]');
      await expect.poll(() => page.textContent('#login-error')).toMatch(/not accepted/);
      // The browser logs the refused probe (401) as a console error; that one was expected, any other not.
      expect(errors.filter((e) => !/status of 401/.test(e)), errors.join('\n')).toEqual([]);
      errors.length = 0;
      await page.fill('#token', token);
      await page.click('button[type=submit]');
      await page.waitForSelector('nav a[aria-current=page][data-page=flows]');
    });
    expect(await page.evaluate(() => sessionStorage.getItem('qs.token'))).toBe(token);

    await timed('live flows', async () => {
      const streamed = recordDispatches(server.api, token);
      await page.waitForFunction(() => /Tick \d+/.test(document.querySelector('#flows-tick')?.textContent ?? ''), undefined, { timeout: 15_000 });
      await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
      const first = await page.textContent('#flows-tick');
      const firstTick = Number(/Tick (\d+)/.exec(first ?? '')?.[1]);
      // The engine ticks on new readings and at least every tick interval; the page follows the stream.
      await page.waitForFunction((t) => Number(/Tick (\d+)/.exec(document.querySelector('#flows-tick')?.textContent ?? '')?.[1]) > t, firstTick, { timeout: 15_000 });
      expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
      // The tick on screen is the engine's: the API has reached at least that tick.
      const shown = Number(/Tick (\d+)/.exec((await page.textContent('#flows-tick')) ?? '')?.[1]);
      const latest = await api(server.api, '/api/v1/dispatch/latest', token);
      expect(latest.body.tick).toBeGreaterThanOrEqual(shown);
      expect(await page.textContent('#kpi-cost')).toMatch(/€\/h$/);
      expect(await page.textContent('#kpi-waste-share')).toMatch(/\d %$/);
      expect(await page.locator('svg.sankey path.sk-link').count()).toBeGreaterThan(5);
      expect(await page.locator('svg.sankey .sk-node').count()).toBeGreaterThan(6);
      // Paused, the picture holds one tick: each carrier that tick carries is drawn in its own class
      // (colour). Which carriers flow is the market's choice: the heat pump on data-centre waste heat
      // stops when power is dear, but the must-run waste CHP always sends waste and electricity.
      // Pause on a tick the recorder saw: one no older than the first it received.
      const recordedFrom = await waitFor(() => streamed.byTick.size > 0 && Math.min(...streamed.byTick.keys()));
      await page.waitForFunction((t) => Number(/Tick (\d+)/.exec(document.querySelector('#flows-tick')?.textContent ?? '')?.[1]) >= t, recordedFrom, { timeout: 15_000 });
      await page.getByRole('button', { name: 'Pause updates' }).click();
      const paused = Number(/Tick (\d+)/.exec((await page.textContent('#flows-tick')) ?? '')?.[1]);
      const sent = await waitFor(async () => streamed.byTick.get(paused));
      streamed.stop();
      const carried = [...new Set(buildFlowGraph(sent).links.map((l) => `c-${l.carrier}`))].sort();
      const drawn = await page.$$eval('svg.sankey path.sk-link', (ps) => [...new Set(ps.map((p) => [...p.classList].find((c) => c.startsWith('c-'))!))].sort());
      expect(drawn).toEqual(carried);
      expect(drawn).toEqual(expect.arrayContaining(['c-waste', 'c-electric']));
      // The legend names each carrier drawn, in words (colour is not the only cue).
      expect(await page.locator('.legend li').count()).toBe(drawn.length);
      await page.getByRole('button', { name: 'Resume updates' }).click();
      expect(await page.getAttribute('#kpi-live', 'aria-live')).toBe('polite');
      await expectAccessible(page, 'flows');
      await screenshot(page, 'flows-laptop', false);
      await page.setViewportSize(viewports.wall);
      await page.waitForTimeout(400);
      await expectAccessible(page, 'flows (wall)');
      await screenshot(page, 'flows-wall', false);
      await page.setViewportSize(viewports.laptop);
    });
  }, 50_000);

  it('shows a malformed message from mosquitto_pub under its device, with the reason', async () => {
    await timed('dead letter', async () => {
      await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(server.mqtt), '-V', 'mqttv311', '-i', 'demo/gw-broken', '-u', 'demo/gw-broken', '-P', brokenPassword, '-q', '1', '-t', 'qs/v1/demo/gw-broken/data', '-m', '{"seq": 1, "samples": [oops']);
      const letter = await waitFor(async () => (await api(server.api, '/api/v1/dead-letters?device=gw-broken', token)).body.deadLetters[0] as { reason: string } | undefined);
      await page.click('nav a[data-page=devices]');
      await page.fill('#device-filter', 'gw-broken');
      await page.click('a[href="#/devices/gw-broken"]');
      await page.waitForSelector('#device-detail-heading');
      const detail = page.locator('section[aria-labelledby=device-detail-heading]');
      await expect.poll(() => detail.locator('td .reason').first().textContent(), { timeout: 10_000 }).toBe(letter.reason);
      expect(await detail.locator('code.excerpt').first().textContent()).toContain('oops');
      // The device list behind the notice is polled every 3 s while this page is open.
      expect(await detail.locator('.notice').first().textContent({ timeout: 6_000 })).toContain(letter.reason);
      expect(letter.reason.length).toBeGreaterThan(5);
      await expectAccessible(page, 'devices');
      await screenshot(page, 'devices');

      // A read-only API token login that tries to publish: its refusal is listed under its label, which says what it is.
      await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(server.mqtt), '-V', 'mqttv311', '-u', 'demo', '-P', token, '-q', '1', '-t', 'qs/v1/demo/gw-broken/data', '-m', '{}']);
      const tokenLink = page.locator('table a[href^="#/devices/api-token"]').first();
      await expect.poll(() => tokenLink.count(), { timeout: 12_000 }).toBeGreaterThan(0);
      await tokenLink.click();
      await expect.poll(() => detail.locator('.notice').first().textContent(), { timeout: 10_000 }).toContain('read-only API token login, not a device');
      await expect.poll(() => detail.locator('td .reason').first().textContent(), { timeout: 10_000 }).toContain('read-only and may not publish');
    });
  }, 40_000);

  it('registers gateways from a CSV list, all or none, and hands out their credentials once', async () => {
    await timed('register', async () => {
      await page.click('nav a[data-page=devices]');
      await page.waitForSelector('#device-import-file');
      // The panel links the server's own MQTT contract; both links resolve, without a token.
      const contractLinks = await page.locator('#device-contract a').evaluateAll((links) => links.map((a) => (a as HTMLAnchorElement).href));
      expect(contractLinks.map((l) => new URL(l).pathname)).toEqual(['/asyncapi.json', '/schemas/data.schema.json']);
      for (const link of contractLinks) expect((await fetch(link)).status, link).toBe(200);
      const submit = page.locator('form:has(#device-import-file) button[type=submit]');
      // One bad line: nothing is registered, and every problem is named by its line.
      await page.setInputFiles('#device-import-file', { name: 'bad.csv', mimeType: 'text/csv', buffer: Buffer.from('device;type\nhm-901;heat_meter\nhm 902;\nhm-901;\n') });
      await submit.click();
      await expect.poll(() => page.textContent('#device-import-status')).toContain('Nothing was registered');
      expect(await page.locator('#device-import-status .problems li').allTextContents()).toEqual([
        'line 3: device "hm 902": ids are 1-64 chars of A-Z a-z 0-9 _ . - and start with a letter or digit',
        'line 4: device "hm-901" is listed twice (first on line 2)',
      ]);
      // The browser logs the refused upload (400) as a console error; that one was expected, any other not.
      expect(errors.filter((e) => !/status of 400/.test(e)), errors.join('\n')).toEqual([]);
      errors.length = 0;
      await page.setInputFiles('#device-import-file', { name: 'meters.csv', mimeType: 'text/csv', buffer: Buffer.from('device;type;room\nhm-901;heat_meter;cellar\nhm-902;heat_meter;roof\n') });
      await submit.click();
      await expect.poll(() => page.textContent('#device-import-status')).toContain('2 gateways registered');
      await expectAccessible(page, 'devices (registered)');
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#device-import-download')]);
      expect(download.suggestedFilename()).toBe('credentials-meters.csv');
      const [header, ...rows] = (await readFile((await download.path())!, 'utf8')).trim().split('\n');
      expect(header).toBe('device,username,password');
      expect(rows.map((r) => r.split(',').slice(0, 2).join())).toEqual(['hm-901,demo/hm-901', 'hm-902,demo/hm-902']);
      // A downloaded password works: a foreign client publishes a valid sample with it.
      const password = rows[1]!.split(',')[2]!;
      const sample = JSON.stringify({ seq: 1, samples: [{ ts: Date.now() - 1000, metrics: { heat_power: 640 } }], units: { heat_power: 'kW' } });
      await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(server.mqtt), '-V', 'mqttv311', '-i', 'demo/hm-902', '-u', 'demo/hm-902', '-P', password, '-q', '1', '-t', 'qs/v1/demo/hm-902/data', '-m', sample]);
      await waitFor(async () => (await api(server.api, '/api/v1/latest?device=hm-902&metric=heat_power', token)).body.readings?.[0]?.value === 640);
      // hm-901 has not connected yet: listed as not commissioned, which is neither a problem nor an alarm.
      await page.fill('#device-filter', 'hm-90');
      // The list polls: wait until it shows hm-902's connection, then it shows hm-901 as it is too.
      await expect.poll(() => page.locator('tr:has(a[href="#/devices/hm-902"])').textContent(), { timeout: 10_000 }).not.toContain('Never connected');
      expect(await page.locator('tr:has(a[href="#/devices/hm-901"])').textContent()).toContain('Never connected');
      await page.selectOption('#device-status', 'problems');
      // The server filters: once its answer is shown, hm-901 is gone from the list.
      await expect.poll(() => page.locator('a[href="#/devices/hm-901"]').count(), { timeout: 10_000 }).toBe(0);
      // hm-902 sent with mosquitto_pub (connect, publish, clean DISCONNECT): online between its connections, no problem.
      expect(await page.locator('a[href="#/devices/hm-902"]').count()).toBe(0);
      await page.selectOption('#device-status', 'all');
      await page.click('a[href="#/devices/hm-902"]');
      await expect.poll(() => page.textContent('[data-connection]'), { timeout: 10_000 }).toMatch(/^Disconnected cleanly .* ago; online while it keeps its interval$/);
    });
  }, 30_000);

  it('switches a unit to automatic through the admin switch, and the engine takes it', async () => {
    await timed('units', async () => {
      await page.click('nav a[data-page=units]');
      const toggle = page.locator('button[role=switch][data-unit=hp1]');
      await toggle.waitFor();
      expect(await toggle.getAttribute('aria-checked')).toBe('false');
      await toggle.click();
      await page.click('dialog button[value=ok]');
      await expect.poll(() => page.locator('button[role=switch][data-unit=hp1]').getAttribute('aria-checked'), { timeout: 10_000 }).toBe('true');
      const units = await api(server.api, '/api/v1/dispatch/units', token);
      expect(units.body.units.find((u: { unit: string }) => u.unit === 'hp1').mode).toBe('automatic');
      await page.waitForSelector('.chart canvas, .notice', { timeout: 10_000 });
      await expectAccessible(page, 'units');
      await screenshot(page, 'units');
    });
  }, 30_000);

  it('lists the refusing device among the alarms and switches the language', async () => {
    await timed('alarms and language', async () => {
      await page.click('nav a[data-page=alarms]');
      await expect.poll(() => page.locator('table a[href="#/devices/gw-broken"]').count(), { timeout: 10_000 }).toBeGreaterThan(0);
      expect(await page.locator('table a[href="#/devices/hm-901"]').count()).toBe(0);
      await expectAccessible(page, 'alarms');
      await screenshot(page, 'alarms');

      expect(await page.getAttribute('html', 'lang')).toBe('en');
      await page.click('button[lang=de]');
      await expect.poll(() => page.getAttribute('html', 'lang')).toBe('de');
      expect(await page.textContent('nav a[data-page=flows]')).toBe('Live-Flüsse');
      expect(await page.textContent('h1')).toBe('Alarme');
      expect(await page.getAttribute('button[lang=de]', 'aria-pressed')).toBe('true');
      await page.click('nav a[data-page=flows]');
      await page.waitForFunction(() => /Takt \d+/.test(document.querySelector('#flows-tick')?.textContent ?? ''), undefined, { timeout: 15_000 });
      expect(await page.textContent('#kpi-cost')).toMatch(/€\/h$/);
      expect(await rawKeys(page)).toEqual([]);
      await expectAccessible(page, 'flows (de)');
      await screenshot(page, 'flows-de', false);
      // The choice survives a reload; the token does too (same tab).
      await page.reload();
      await page.waitForSelector('nav a[data-page=flows]');
      expect(await page.getAttribute('html', 'lang')).toBe('de');
      // Keyboard: the first Tab reaches the skip link, which moves focus to <main>.
      await page.keyboard.press('Tab');
      expect(await page.evaluate(() => document.activeElement?.className)).toBe('skip-link');
      await page.keyboard.press('Enter');
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');
      // Large text for the wall screen: one toggle scales the whole page.
      const before = await page.evaluate(() => parseFloat(getComputedStyle(document.documentElement).fontSize));
      await page.click('button:has-text("Große Schrift")');
      const after = await page.evaluate(() => parseFloat(getComputedStyle(document.documentElement).fontSize));
      expect(after).toBeCloseTo(before * 1.25, 1);
      await page.click('button:has-text("Große Schrift")');
      await page.click('button[lang=en]');
      await expect.poll(() => page.textContent('nav a[data-page=flows]')).toBe('Live flows');
    });
  }, 40_000);

  it("shows another tenant's read-only token none of the demo's data and no admin control", async () => {
    await timed('other tenant', async () => {
      // As `querstrom token add` does: write to the identity file the running server watches.
      const registry = await IdentityRegistry.open(identityFile(dir.path));
      const { token: northToken } = await registry.addToken('north', 'read', 'web test');
      // The server notices the changed file within its watch interval.
      await waitFor(async () => (await api(server.api, '/api/v1/session', northToken)).status === 200, 15_000, 100);
      const other = await (await newContext(browser, viewports.laptop)).newPage();
      other.setDefaultTimeout(10_000);
      const otherErrors = watchErrors(other);
      await other.goto(`${base}/`);
      await other.fill('#token', northToken);
      await other.click('button[type=submit]');
      await other.waitForSelector('nav');
      expect(await other.textContent('.who')).toBe('Tenant north · read only');
      // No coupling engine runs for "north": the page says so instead of showing an error.
      await expect.poll(() => other.textContent('main .notice'), { timeout: 10_000 }).toMatch(/Live dispatch not available.*north/);
      await expectAccessible(other, 'flows (no engine)');
      await other.click('nav a[data-page=devices]');
      await expect.poll(() => other.textContent('section[aria-labelledby=devices-heading] td.empty')).toBe('No devices registered yet.');
      expect(await other.locator('#device-import-file').count()).toBe(0);
      await other.click('nav a[data-page=scenarios]');
      await expect.poll(() => other.textContent('section[aria-labelledby=runs-heading] td.empty')).toMatch(/No runs yet/);
      expect(await other.isDisabled('form.start-form button[type=submit]')).toBe(true);
      const text = (await other.textContent('body')) ?? '';
      for (const foreign of ['gw-broken', 'hm-zone', 'reference-3-weeks', 'wte1']) expect(text).not.toContain(foreign);
      // The only errors are the API's honest 404s for the missing engine.
      expect(otherErrors.filter((e) => !/status of 404/.test(e))).toEqual([]);
      await other.context().close();
    });
  }, 30_000);

  it('compares two scenario runs: KPI table, heat supply stack and CO2 path, with exports', async () => {
    await timed('scenarios', async () => {
      await waitFor(async () => {
        const list = (await api(server.api, '/api/v1/scenarios/runs', token)).body.runs as { id: string; status: string; error?: string }[];
        const mine = list.filter((r) => runIds.includes(r.id));
        const failed = mine.find((r) => r.status === 'failed');
        if (failed) throw new Error(`scenario run failed: ${failed.error}`);
        return mine.length === 2 && mine.every((r) => r.status === 'done');
      }, 30_000, 250);
      await page.click('nav a[data-page=scenarios]');
      for (const id of runIds) await page.check(`input[data-run="${id}"]`);
      await page.click('button:has-text("Compare selected (2)")');
      await page.waitForSelector('#compare-heading');
      const kpis = page.locator('section[aria-labelledby=compare-heading] table').first();
      await expect.poll(() => kpis.locator('tbody tr').count(), { timeout: 10_000 }).toBeGreaterThan(8);
      const headers = await kpis.locator('thead th').allTextContents();
      expect(headers.join(' ')).toContain('reference-3-weeks');
      expect(headers.join(' ')).toContain('more-waste-heat');
      expect(await kpis.locator('tbody th').allTextContents()).toContain('Total cost');
      // The table shows the runs' own numbers: the variant's CO2 price costs money, its larger
      // heat pump raises the waste-heat share, and the difference is marked with its direction.
      const cells = async (name: RegExp) => (await kpis.locator('tbody tr', { has: page.locator('th', { hasText: name }) }).locator('td').allTextContents()).map((c) => c.trim());
      const co2Cost = await cells(/^CO₂ cost$/);
      expect(co2Cost[1]).toBe('0.00');
      expect(co2Cost[2]).not.toMatch(/^0(\.00)?$/);
      const share = await cells(/^Waste-heat share$/);
      expect(parseFloat(share[2]!)).toBeGreaterThan(parseFloat(share[1]!));
      expect(share[2]).toMatch(/▲ \+[\d.]+ %, better$/);
      expect(await page.locator('.stack-row').count()).toBe(2);
      await page.waitForSelector('.co2-path canvas', { timeout: 10_000 });
      // Exports: the CSV download carries the hourly results.
      const [download] = await Promise.all([page.waitForEvent('download'), page.locator(`[data-focus="csv:${runIds[0]}"]`).click()]);
      const csv = await readFile((await download.path())!, 'utf8');
      expect(csv.split('\n')[0]).toMatch(/^time,year,/);
      expect(csv.trim().split('\n').length).toBe(21 * 24 + 1);
      // The report opens as a blob document under the page's CSP (no inline styles but its own, by hash).
      const [report] = await Promise.all([page.context().waitForEvent('page'), page.locator(`[data-focus="rep:${runIds[0]}"]`).click()]);
      const reportErrors = watchErrors(report);
      const violations: string[] = [];
      report.on('console', (msg) => void (/Content Security Policy/i.test(msg.text()) && violations.push(msg.text())));
      await report.waitForURL(/^blob:/);
      await report.waitForSelector('h1');
      expect(await report.textContent('h1')).toContain('reference-3-weeks');
      expect(await report.evaluate(() => getComputedStyle(document.body).maxWidth)).toBe('1100px');
      await report.close();
      expect([...violations, ...reportErrors]).toEqual([]);
      await expectAccessible(page, 'scenarios');
      await screenshot(page, 'scenarios');
      expect(errors, errors.join('\n')).toEqual([]);
    });
  }, 45_000);
});
