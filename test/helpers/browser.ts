/**
 * Debian's Chromium driven by playwright-core (never a downloaded browser), axe-core for
 * accessibility, and screenshots kept for reviewers.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const root = new URL('../../', import.meta.url).pathname;
export const ARTIFACTS = join(root, 'test-artifacts', 'web');
export const REVIEW_SCREENSHOTS = join(root, 'bench', 'results', 'screenshots');

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 20_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

export const viewports = {
  laptop: { width: 1366, height: 768 },
  wall: { width: 2560, height: 1440 },
} as const;

/**
 * A fresh browser context. The pages run under the server's CSP as they would for a user, so a
 * violation shows up as a console error (see watchErrors).
 */
export function newContext(browser: Browser, viewport: { width: number; height: number } = viewports.laptop, locale = 'en-GB'): Promise<BrowserContext> {
  return browser.newContext({ viewport, locale, reducedMotion: 'reduce' });
}

/** Collects what the page logs as errors and any script error, so a test can assert none happened. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()} (${msg.location().url})`);
  });
  return errors;
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/** WCAG 2.1 A and AA rules; returns the serious and critical violations. */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  // Evaluated over the DevTools protocol, not as an inline <script>: the page's CSP stays strict.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, opts: object) => Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }> } }).axe;
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] }, resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => JSON.stringify(n.target)) }));
  });
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Full-page PNG under test-artifacts/web/, copied to bench/results/screenshots/ for review. */
export async function screenshot(page: Page, name: string, fullPage = true): Promise<string> {
  await mkdir(ARTIFACTS, { recursive: true });
  await mkdir(REVIEW_SCREENSHOTS, { recursive: true });
  const file = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage, animations: 'disabled' });
  await copyFile(file, join(REVIEW_SCREENSHOTS, `${name}.png`));
  return file;
}
