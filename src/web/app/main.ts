/// <reference lib="dom" />
/**
 * The dashboard shell: log-in, navigation, language and text size, and a hash router that
 * mounts one page at a time into <main>.
 */
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { clearToken, getToken, probeToken, setToken, whenUnauthorized, type Session } from './api.ts';
import { collectAlarms } from './alarms-model.ts';
import { fill, h, s, setText } from './dom.ts';
import { getLang, onLangChange, setLang, t, type Key, type Lang } from './i18n.ts';
import * as live from './live.ts';
import { alarmsPage } from './pages/alarms.ts';
import { devicesPage } from './pages/devices.ts';
import { flowsPage } from './pages/flows.ts';
import { scenariosPage } from './pages/scenarios.ts';
import { unitsPage } from './pages/units.ts';
import type { PageDef } from './page.ts';
import { time } from './format.ts';

const pages: PageDef[] = [flowsPage, unitsPage, devicesPage, alarmsPage, scenariosPage];
const LARGE_KEY = 'qs.large';

let session: Session | null = null;
let unmount: (() => void) | undefined;
let shellStops: (() => void)[] = [];

const root = document.getElementById('app')!;
const announcer = document.getElementById('announcer')!;

/** Polite announcements for screen readers; repeated text is re-announced. */
function announce(text: string): void {
  announcer.textContent = '';
  setTimeout(() => (announcer.textContent = text), 50);
}

function applyLarge(on: boolean): void {
  document.documentElement.classList.toggle('large', on);
  localStorage.setItem(LARGE_KEY, on ? '1' : '0');
}

function logo(): SVGSVGElement {
  return s(
    'svg',
    { class: 'logo', viewBox: '0 0 32 32', width: 28, height: 28, 'aria-hidden': 'true', focusable: 'false' },
    s('path', { d: 'M3 9c8 0 8 14 16 14h10', class: 'logo-a' }),
    s('path', { d: 'M3 23c8 0 8-14 16-14h10', class: 'logo-b' }),
  );
}

function currentRoute(): { page: PageDef; params: string[] } {
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const page = pages.find((p) => p.path === parts[0]) ?? pages[0]!;
  return { page, params: parts.slice(1).filter(Boolean) };
}

function langSwitch(): HTMLElement {
  const button = (lang: Lang, label: string, name: Key) =>
    h('button', { class: 'seg', type: 'button', lang, 'aria-pressed': String(getLang() === lang), title: t(name), onclick: () => setLang(lang) }, h('span', { 'aria-hidden': 'true' }, label), h('span', { class: 'visually-hidden' }, t(name)));
  return h('div', { class: 'segmented', role: 'group', 'aria-label': t('language') }, button('de', 'DE', 'langDe'), button('en', 'EN', 'langEn'));
}

function largeToggle(): HTMLElement {
  const on = document.documentElement.classList.contains('large');
  return h('button', {
    class: 'btn btn-ghost',
    type: 'button',
    'aria-pressed': String(on),
    onclick: (e: Event) => {
      const next = !document.documentElement.classList.contains('large');
      applyLarge(next);
      (e.currentTarget as HTMLElement).setAttribute('aria-pressed', String(next));
    },
  }, t('largeText'));
}

function renderLogin(error?: string): void {
  shellStops.forEach((f) => f());
  shellStops = [];
  unmount?.();
  unmount = undefined;
  document.title = `${t('login.title')} · Querstrom`;
  const errorBox = h('p', { id: 'login-error', class: 'form-error', role: 'alert' }, error ?? '');
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true, 'aria-describedby': 'token-hint login-error' });
  const form = h(
    'form',
    { class: 'login-card', novalidate: true },
    h('div', { class: 'brand brand-login' }, logo(), h('span', {}, 'Querstrom')),
    h('p', { class: 'tagline' }, t('login.tagline')),
    h('h1', { tabindex: '-1', id: 'page-title' }, t('login.title')),
    h('label', { for: 'token' }, t('login.token')),
    input,
    h('p', { id: 'token-hint', class: 'hint' }, t('login.hint')),
    errorBox,
    h('button', { class: 'btn btn-primary', type: 'submit' }, t('login.submit')),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const token = input.value.trim();
    if (!token) {
      errorBox.textContent = t('login.empty');
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    errorBox.textContent = t('login.checking');
    probeToken(token).then(
      (sess) => {
        setToken(token);
        session = sess;
        live.startLive();
        renderShell();
        // Screen readers land on the page they were taken to.
        document.getElementById('page-title')?.focus();
      },
      (err: { status?: number; message?: string }) => {
        input.setAttribute('aria-invalid', 'true');
        errorBox.textContent = err.status === 401 ? t('login.rejected') : err.status === 0 ? t('unreachable') : `${t('login.failed')}: ${err.message ?? ''}`;
        input.focus();
      },
    );
  });
  fill(
    root,
    h('header', { class: 'lang-corner' }, langSwitch()),
    h('main', { id: 'main', class: 'login-main' }, form),
  );
  input.focus();
}

function connectionText(state: live.StreamState): { text: string; tone: string } {
  switch (state) {
    case 'live':
      return { text: t('conn.live'), tone: 'ok' };
    case 'polling':
      return { text: t('conn.polling'), tone: 'ok' };
    case 'paused':
      return { text: t('conn.paused'), tone: 'warn' };
    case 'unavailable':
      return { text: t('conn.unavailable'), tone: 'muted' };
    case 'retrying':
      return { text: t('conn.retrying'), tone: 'bad' };
    default:
      return { text: t('conn.connecting'), tone: 'muted' };
  }
}

function renderShell(): void {
  shellStops.forEach((f) => f());
  shellStops = [];
  const navLinks = pages.map((p) => {
    const badge = p.path === 'alarms' ? h('span', { class: 'nav-badge', hidden: true }) : null;
    return { page: p, badge, link: h('a', { href: `#/${p.path}`, 'data-page': p.path }, h('span', {}, t(p.title)), badge) };
  });
  const skip = h('a', { class: 'skip-link', href: '#main' }, t('skip'));
  skip.addEventListener('click', (e) => {
    e.preventDefault();
    document.getElementById('main')?.focus();
  });
  const main = h('main', { id: 'main', tabindex: '-1' });
  const conn = h('span', { class: 'conn' });
  const tick = h('span', { class: 'tick' });
  const who = session?.tenant ? t('shell.tenant', { tenant: session.tenant, role: t(`role.${session.role}` as Key) }) : '';
  fill(
    root,
    skip,
    h(
      'header',
      { class: 'topbar' },
      h('div', { class: 'brand' }, logo(), h('span', {}, 'Querstrom'), who ? h('span', { class: 'who' }, who) : null),
      h('nav', { 'aria-label': t('nav.label') }, h('ul', {}, navLinks.map((n) => h('li', {}, n.link)))),
      h(
        'div',
        { class: 'tools' },
        langSwitch(),
        largeToggle(),
        h('button', { class: 'btn btn-ghost', type: 'button', onclick: () => logout() }, t('logout')),
      ),
    ),
    main,
    h('footer', { class: 'statusbar' }, conn, tick, h('span', { class: 'footer-note' }, t('footer.note'))),
  );

  shellStops.push(
    live.streamState.subscribe((state) => {
      const c = connectionText(state);
      conn.className = `conn conn-${c.tone}`;
      setText(conn, c.text);
    }),
    live.dispatch.subscribe((r) => setText(tick, r ? t('footer.tick', { tick: r.tick, time: time(r.ts) }) : '')),
  );
  const updateBadge = () => {
    const alarms = collectAlarms(live.dispatch.value, live.devices.value.problems, live.health.value);
    const critical = alarms.filter((a) => a.severity === 'critical').length;
    for (const n of navLinks) {
      if (!n.badge) continue;
      n.badge.hidden = alarms.length === 0;
      n.badge.className = `nav-badge ${critical ? 'nav-badge-bad' : 'nav-badge-warn'}`;
      // The number for the eye, a sentence for screen readers.
      fill(n.badge, h('span', { 'aria-hidden': 'true' }, String(alarms.length)), h('span', { class: 'visually-hidden' }, ` (${t('nav.alarmCount', { n: alarms.length })})`));
    }
  };
  shellStops.push(live.dispatch.subscribe(updateBadge), live.devices.subscribe(updateBadge), live.health.subscribe(updateBadge));
  route(true);
}

function route(initial = false): void {
  if (!session) return;
  const main = document.getElementById('main');
  if (!main) return;
  const { page, params } = currentRoute();
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a[data-page]')) {
    if (a.dataset.page === page.path) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  unmount?.();
  main.replaceChildren();
  document.title = `${t(page.title)} · Querstrom`;
  unmount = page.mount(main, { session, params, announce });
  // Move focus to the new page's heading so screen readers hear where they are.
  if (!initial) document.getElementById('page-title')?.focus();
}

function logout(): void {
  live.stopLive();
  clearToken();
  session = null;
  location.hash = '';
  renderLogin();
}

async function start(): Promise<void> {
  applyLarge(localStorage.getItem(LARGE_KEY) === '1');
  setLang(getLang());
  whenUnauthorized(() => {
    if (!session) return;
    live.stopLive();
    clearToken();
    session = null;
    renderLogin(t('login.expired'));
  });
  onLangChange(() => {
    if (session) {
      // Re-render in the new language; the page keeps its route.
      renderShell();
      announce(t('langChanged'));
    } else renderLogin();
  });
  window.addEventListener('hashchange', () => {
    if (location.hash === '#main') return;
    // A sub-route change within the same page (e.g. a device's details) is handled by the page itself.
    route();
  });
  const token = getToken();
  if (!token) return renderLogin();
  try {
    session = await probeToken(token);
    live.startLive();
    renderShell();
  } catch {
    clearToken();
    renderLogin(t('login.expired'));
  }
}

void start();
