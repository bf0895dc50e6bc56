/// <reference lib="dom" />
/** Devices: status, last seen, reject counts, and the dead letters that say why messages were refused. */
import { getJson, type ApiFailure } from '../api.ts';
import { tokenLoginLabelPattern } from '../../../contract/token-login.ts';
import { fill, h, setText } from '../dom.ts';
import { ago, dateTime, int } from '../format.ts';
import { t, type Key } from '../i18n.ts';
import type { PageDef } from '../page.ts';
import type { DeadLetter, Device, DeviceList } from '../types.ts';
import { badge, failureNotice, keepFocus, notice, pageHeader, section, table, type Tone } from '../ui.ts';
import { deviceFilters, deviceSeverity } from '../../../devices/query.ts';
import { registerPanel } from './device-register.ts';

const MAX_ROWS = 300;
/** Kept while the tab lives, so opening a device's details does not lose the filter. */
const filterState = { text: '', status: 'all' };

const statusTone: Record<Device['status'], Tone> = { online: 'ok', stale: 'warn', offline: 'bad', never_connected: 'info' };
const LIST_EVERY_MS = 3000;

export function statusBadge(d: Device): HTMLElement {
  return badge(statusTone[d.status], t(`device.${d.status}` as Key));
}

function connectionText(d: Device): string {
  if (d.connected) return t('devices.connectedSince', { at: dateTime(d.connectedAt) });
  const last = d.lastDisconnect;
  if (!last) return t('devices.noOwnConnection');
  // The reason is the broker's (English) wording; a clean DISCONNECT gets its own sentence.
  if (last.reason === 'disconnect') return t(d.online ? 'devices.leftCleanly' : 'devices.leftCleanlyOffline', { ago: ago(last.at) });
  return t('devices.lostConnection', { ago: ago(last.at), reason: last.reason });
}

/** The dead letters' name for a read-only API token login (tokenLoginLabel in src/contract/topics.ts). */
const isTokenLogin = (device: string): boolean => tokenLoginLabelPattern.test(device);

function deadLetterTable(caption: string, letters: DeadLetter[], withDevice: boolean): HTMLElement {
  return table(
    caption,
    [
      { head: t('col.received'), cell: (l) => h('time', { datetime: new Date(l.receivedAt).toISOString() }, dateTime(l.receivedAt)), rowHeader: true },
      ...(withDevice ? [{ head: t('col.device'), cell: (l: DeadLetter) => h('a', { href: `#/devices/${encodeURIComponent(l.device)}` }, l.device) }] : []),
      { head: t('col.topic'), cell: (l) => h('code', {}, l.topic) },
      { head: t('col.reason'), cell: (l) => h('span', { class: 'reason', lang: 'en' }, l.reason) },
      { head: t('col.excerpt'), cell: (l) => h('code', { class: 'excerpt' }, l.excerpt) },
    ],
    letters,
    { empty: t('devices.noDeadLetters'), captionHidden: true },
  );
}

export const devicesPage: PageDef = {
  path: 'devices',
  title: 'nav.devices',
  mount(main, ctx) {
    const selected = ctx.params[0];
    const counts = h('ul', { class: 'counts', 'aria-label': t('devices.summary') });
    const search = h('input', { id: 'device-filter', type: 'search', autocomplete: 'off', placeholder: 'hm-zone01' });
    const statusFilter = h(
      'select',
      { id: 'device-status' },
      deviceFilters.map((v) => h('option', { value: v }, t(`devices.filter.${v}` as Key))),
    );
    const filters = h(
      'div',
      { class: 'filters', role: 'search' },
      h('div', { class: 'field' }, h('label', { for: 'device-filter' }, t('devices.filterLabel')), search),
      h('div', { class: 'field' }, h('label', { for: 'device-status' }, t('devices.statusLabel')), statusFilter),
    );
    const listBox = h('div', {}, h('p', { class: 'hint' }, t('loading')));
    const detailBox = h('div', {});
    const recentBox = h('div', {});

    fill(
      main,
      pageHeader(t('nav.devices'), counts),
      selected ? h('section', { class: 'panel panel-focus', 'aria-labelledby': 'device-detail-heading' }, h('h2', { id: 'device-detail-heading' }, t('devices.detailOf', { device: selected })), detailBox) : null,
      section(t('devices.recentDeadLetters'), 'dl-heading', h('p', { class: 'hint' }, t('devices.deadLettersHint')), recentBox),
      section(t('devices.list'), 'devices-heading', filters, listBox),
      // Read tokens never see it; the server refuses them (403) anyway.
      ctx.session.role === 'read' ? null : registerPanel(),
    );

    let page: DeviceList | undefined;
    let stopped = false;

    const renderList = () => {
      if (!page) return;
      const now = Date.now();
      const { devices: visible, total, counts: c } = page;
      const registered = c.online + c.stale + c.offline + c.never_connected;
      fill(
        counts,
        h('li', {}, badge('ok', t('devices.countOnline', { n: c.online }))),
        h('li', {}, badge('warn', t('devices.countStale', { n: c.stale }))),
        h('li', {}, badge('bad', t('devices.countOffline', { n: c.offline }))),
        c.never_connected > 0 ? h('li', {}, badge('info', t('devices.countNeverConnected', { n: c.never_connected }))) : null,
        h('li', {}, badge('info', t('devices.countRejecting', { n: c.rejecting }))),
      );
      keepFocus(listBox, () =>
        fill(
          listBox,
          table(
            t('devices.list'),
            [
              { head: t('col.device'), cell: (d) => h('a', { href: `#/devices/${encodeURIComponent(d.device)}`, 'data-focus': `dev:${d.device}`, 'aria-current': d.device === selected ? 'true' : undefined }, d.device), rowHeader: true },
              { head: t('col.type'), cell: (d) => (d.type ? t(`dtype.${d.type}` as Key) : '–') },
              { head: t('col.status'), cell: statusBadge },
              { head: t('col.lastSeen'), cell: (d) => h('span', { title: dateTime(d.lastSeen) }, ago(d.lastSeen, now)) },
              { head: t('col.messages'), cell: (d) => int(d.messages), num: true },
              { head: t('col.rejects'), cell: (d) => (d.rejects > 0 ? badge('bad', int(d.rejects)) : '0'), num: true },
              { head: t('col.lastReject'), cell: (d) => (d.lastReject ? h('span', { class: 'reason', lang: 'en' }, d.lastReject.reason) : h('span', { class: 'hint' }, '–')) },
            ],
            visible,
            { captionHidden: true, empty: registered ? t('devices.noMatch') : t('devices.none'), rowClass: (d) => (d.device === selected ? 'selected' : deviceSeverity(d, now) === 0 ? 'row-bad' : undefined) },
          ),
          total > visible.length ? h('p', { class: 'hint' }, t('devices.truncated', { shown: visible.length, total })) : null,
        ),
      );
    };

    // The server filters, orders (problems first) and cuts the list: a fleet of thousands is not
    // sent every few seconds. A newer query's answer wins over an older one still on its way.
    let loads = 0;
    const load = async () => {
      const n = ++loads;
      const query = new URLSearchParams({ order: 'severity', limit: String(MAX_ROWS) });
      if (statusFilter.value !== 'all') query.set('status', statusFilter.value);
      if (search.value.trim()) query.set('q', search.value.trim());
      try {
        const answer = await getJson<DeviceList>(`/devices?${query}`);
        if (stopped || n !== loads) return;
        page = answer;
        renderList();
        void refreshDetail();
      } catch (err) {
        if (!stopped && n === loads) fill(listBox, failureNotice(err, 'what.devices'));
      }
    };
    let typing: ReturnType<typeof setTimeout> | undefined;
    search.value = filterState.text;
    statusFilter.value = filterState.status;
    search.addEventListener('input', () => {
      filterState.text = search.value;
      clearTimeout(typing);
      typing = setTimeout(() => void load(), 200);
    });
    statusFilter.addEventListener('change', () => {
      filterState.status = statusFilter.value;
      void load();
    });

    /** The selected device from the list shown, or on its own when the filter hides it; null when there is no such device. */
    const selectedDevice = async (): Promise<Device | null> => {
      const listed = page?.devices.find((x) => x.device === selected);
      if (listed) return listed;
      if (isTokenLogin(selected!)) return null;
      try {
        return await getJson<Device>(`/devices/${encodeURIComponent(selected!)}`);
      } catch (err) {
        // 400: not even a valid device id (a dead letter's topic can name anything).
        if ((err as ApiFailure).status === 404 || (err as ApiFailure).status === 400) return null;
        throw err;
      }
    };

    const refreshDetail = async () => {
      if (!selected) return;
      try {
        const [d, letters] = await Promise.all([selectedDevice(), getJson<{ deadLetters: DeadLetter[] }>(`/dead-letters?device=${encodeURIComponent(selected)}&limit=20`)]);
        if (stopped) return;
        fill(
          detailBox,
          d
            ? h(
                'dl',
                { class: 'facts' },
                h('div', {}, h('dt', {}, t('col.status')), h('dd', {}, statusBadge(d))),
                h('div', {}, h('dt', {}, t('col.type')), h('dd', {}, d.type ? t(`dtype.${d.type}` as Key) : '–')),
                h('div', {}, h('dt', {}, t('col.firmware')), h('dd', {}, d.firmware ?? '–')),
                h('div', {}, h('dt', {}, t('col.connection')), h('dd', { 'data-connection': '' }, connectionText(d))),
                h('div', {}, h('dt', {}, t('col.lastSeen')), h('dd', {}, `${ago(d.lastSeen)} (${dateTime(d.lastSeen)})`)),
                h('div', {}, h('dt', {}, t('col.messages')), h('dd', {}, int(d.messages))),
                h('div', {}, h('dt', {}, t('col.readings')), h('dd', {}, int(d.readings))),
                h('div', {}, h('dt', {}, t('col.rejects')), h('dd', { 'data-rejects': '' }, int(d.rejects))),
                h('div', {}, h('dt', {}, t('col.duplicates')), h('dd', {}, int(d.duplicates))),
                d.lastWarning ? h('div', {}, h('dt', {}, t('col.warning')), h('dd', { lang: 'en' }, d.lastWarning.warning)) : null,
              )
            : notice('info', t(isTokenLogin(selected) ? 'devices.tokenLogin' : 'devices.unknown', { device: selected })),
          d?.lastReject ? notice('bad', t('devices.whyRefused'), d.lastReject.reason) : null,
          h('h3', {}, t('devices.deadLettersOf', { device: selected })),
          deadLetterTable(t('devices.deadLettersOf', { device: selected }), letters.deadLetters, false),
        );
      } catch (err) {
        if (!stopped) fill(detailBox, failureNotice(err, 'what.deadLetters'));
      }
    };

    const refreshRecent = async () => {
      try {
        const letters = await getJson<{ deadLetters: DeadLetter[] }>('/dead-letters?limit=15');
        if (!stopped) keepFocus(recentBox, () => fill(recentBox, deadLetterTable(t('devices.recentDeadLetters'), letters.deadLetters, true)));
      } catch (err) {
        if (!stopped) fill(recentBox, failureNotice(err, 'what.deadLetters'));
      }
    };

    void load();
    void refreshRecent();
    const listTimer = setInterval(() => void load(), LIST_EVERY_MS);
    const timer = setInterval(() => void refreshRecent(), 5000);
    return () => {
      stopped = true;
      clearTimeout(typing);
      clearInterval(listTimer);
      clearInterval(timer);
      setText(counts, '');
    };
  },
};
