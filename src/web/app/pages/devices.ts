/// <reference lib="dom" />
/** Devices: status, last seen, reject counts, and the dead letters that say why messages were refused. */
import { getJson } from '../api.ts';
import { tokenLoginLabelPattern } from '../../../contract/token-login.ts';
import { fill, h, setText } from '../dom.ts';
import { ago, dateTime, int } from '../format.ts';
import { t, type Key } from '../i18n.ts';
import * as live from '../live.ts';
import type { PageDef } from '../page.ts';
import type { DeadLetter, Device } from '../types.ts';
import { badge, failureNotice, keepFocus, notice, pageHeader, section, table, type Tone } from '../ui.ts';
import { REJECT_WINDOW_MS } from '../alarms-model.ts';
import { registerPanel } from './device-register.ts';

const MAX_ROWS = 300;
/** Kept while the tab lives, so opening a device's details does not lose the filter. */
const filterState = { text: '', status: 'all' };

const statusTone: Record<Device['status'], Tone> = { online: 'ok', stale: 'warn', offline: 'bad', never_connected: 'info' };

/** 0..2 are problems; a gateway not yet commissioned (3) is not one, but is listed before those online. */
const severity = (d: Device, now: number) =>
  d.lastReject && now - d.lastReject.at < REJECT_WINDOW_MS ? 0 : d.status === 'offline' ? 1 : d.status === 'stale' ? 2 : d.status === 'never_connected' ? 3 : 4;

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
      ['all', 'problems', 'online', 'stale', 'offline', 'never_connected', 'rejecting'].map((v) => h('option', { value: v }, t(`devices.filter.${v}` as Key))),
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

    let list: Device[] = [];
    let stopped = false;

    const renderList = () => {
      const now = Date.now();
      const q = search.value.trim().toLowerCase();
      const f = statusFilter.value;
      const shown = list
        .filter((d) => !q || d.device.toLowerCase().includes(q) || (d.type ?? '').includes(q))
        .filter((d) =>
          f === 'all' ? true : f === 'problems' ? severity(d, now) < 3 : f === 'rejecting' ? d.rejects > 0 : d.status === f,
        )
        .sort((a, b) => severity(a, now) - severity(b, now) || a.device.localeCompare(b.device));
      // Thousands of rows help no one and cost the browser; the filter finds the rest.
      const visible = shown.slice(0, MAX_ROWS);
      const n = (s: Device['status']) => list.filter((d) => d.status === s).length;
      fill(
        counts,
        h('li', {}, badge('ok', t('devices.countOnline', { n: n('online') }))),
        h('li', {}, badge('warn', t('devices.countStale', { n: n('stale') }))),
        h('li', {}, badge('bad', t('devices.countOffline', { n: n('offline') }))),
        n('never_connected') > 0 ? h('li', {}, badge('info', t('devices.countNeverConnected', { n: n('never_connected') }))) : null,
        h('li', {}, badge('info', t('devices.countRejecting', { n: list.filter((d) => d.rejects > 0).length }))),
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
            { captionHidden: true, empty: list.length ? t('devices.noMatch') : t('devices.none'), rowClass: (d) => (d.device === selected ? 'selected' : severity(d, now) === 0 ? 'row-bad' : undefined) },
          ),
          shown.length > visible.length ? h('p', { class: 'hint' }, t('devices.truncated', { shown: visible.length, total: shown.length })) : null,
        ),
      );
    };
    search.value = filterState.text;
    statusFilter.value = filterState.status;
    search.addEventListener('input', () => {
      filterState.text = search.value;
      renderList();
    });
    statusFilter.addEventListener('change', () => {
      filterState.status = statusFilter.value;
      renderList();
    });

    const refreshDetail = async () => {
      if (!selected) return;
      const d = list.find((x) => x.device === selected);
      try {
        const letters = await getJson<{ deadLetters: DeadLetter[] }>(`/dead-letters?device=${encodeURIComponent(selected)}&limit=20`);
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

    const releaseFresh = live.wantFreshDevices();
    const stopDevices = live.devices.subscribe((v) => {
      if (v.list) {
        list = v.list;
        renderList();
        void refreshDetail();
      } else if (v.error) fill(listBox, failureNotice(v.error, 'what.devices'));
    });
    void refreshRecent();
    const timer = setInterval(() => void refreshRecent(), 5000);
    return () => {
      stopped = true;
      stopDevices();
      releaseFresh();
      clearInterval(timer);
      setText(counts, '');
    };
  },
};
