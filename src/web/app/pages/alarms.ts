/// <reference lib="dom" />
/** Alarms: stale or missing inputs, devices offline, unmet demand, store and spool trouble. */
import { collectAlarms, type Alarm } from '../alarms-model.ts';
import { fill, h } from '../dom.ts';
import { ago, dateTime } from '../format.ts';
import { t, type Key } from '../i18n.ts';
import * as live from '../live.ts';
import type { PageDef } from '../page.ts';
import { badge, keepFocus, notice, pageHeader, section, table } from '../ui.ts';

export const alarmsPage: PageDef = {
  path: 'alarms',
  title: 'nav.alarms',
  mount(main) {
    const summary = h('div', { class: 'counts' });
    const severityFilter = h('select', { id: 'alarm-severity' }, ['all', 'critical', 'warning'].map((v) => h('option', { value: v }, t(`alarms.filter.${v}` as Key))));
    const categoryFilter = h('select', { id: 'alarm-category' }, ['all', 'input', 'demand', 'engine', 'device', 'store'].map((v) => h('option', { value: v }, t(`alarms.cat.${v}` as Key))));
    const listBox = h('div', {});
    const engineState = h('div', {});
    const systemBox = h('div', {});
    fill(
      main,
      pageHeader(t('nav.alarms'), summary),
      engineState,
      section(
        t('alarms.active'),
        'alarms-heading',
        h(
          'div',
          { class: 'filters' },
          h('div', { class: 'field' }, h('label', { for: 'alarm-severity' }, t('alarms.severityLabel')), severityFilter),
          h('div', { class: 'field' }, h('label', { for: 'alarm-category' }, t('alarms.categoryLabel')), categoryFilter),
        ),
        listBox,
      ),
      section(t('alarms.system'), 'system-heading', systemBox),
    );

    const subjectCell = (a: Alarm) =>
      a.category === 'device' ? h('a', { href: a.href ?? `#/devices/${encodeURIComponent(a.subject)}`, 'data-focus': `alarm:${a.key}` }, a.subject) : h('code', {}, a.subject || '–');

    const render = () => {
      const all = collectAlarms(live.dispatch.value, live.devices.value.problems, live.health.value);
      const shown = all.filter((a) => (severityFilter.value === 'all' || a.severity === severityFilter.value) && (categoryFilter.value === 'all' || a.category === categoryFilter.value));
      const critical = all.filter((a) => a.severity === 'critical').length;
      fill(
        summary,
        all.length === 0 ? badge('ok', t('alarms.noneActive')) : null,
        critical ? badge('bad', t('alarms.countCritical', { n: critical })) : null,
        all.length - critical ? badge('warn', t('alarms.countWarning', { n: all.length - critical })) : null,
      );
      const hl = live.health.value;
      const checks: [string, boolean | null, string][] = [
        ...Object.entries(hl.checks).map(([k, ok]): [string, boolean | null, string] => [t('alarms.check', { name: k }), ok, '']),
        [t('alarms.engine'), live.streamState.value === 'unavailable' ? null : live.dispatch.value ? live.dispatch.value.status === 'optimal' : null, live.dispatch.value ? t('footer.tick', { tick: live.dispatch.value.tick, time: dateTime(live.dispatch.value.ts) }) : ''],
        ...(hl.influxUp !== null ? [[t('alarms.influx'), hl.influxUp === 1, ''] as [string, boolean | null, string]] : []),
        ...(hl.spoolBytes !== null ? [[t('alarms.spool'), hl.spoolBytes === 0, t('alarms.spoolBytes', { kib: Math.ceil(hl.spoolBytes / 1024) })] as [string, boolean | null, string]] : []),
      ];
      fill(
        systemBox,
        table(
          t('alarms.system'),
          [
            { head: t('alarms.component'), cell: (c) => c[0], rowHeader: true },
            { head: t('col.status'), cell: (c) => (c[1] === null ? badge('muted', t('alarms.unknown')) : c[1] ? badge('ok', t('alarms.ok')) : badge('bad', t('alarms.fault'))) },
            { head: t('alarms.detail'), cell: (c) => c[2] || '–' },
          ],
          checks,
          { captionHidden: true },
        ),
        hl.at ? h('p', { class: 'hint' }, t('alarms.checkedAt', { time: dateTime(hl.at) })) : null,
      );
      const state = live.streamState.value;
      fill(engineState, state === 'unavailable' ? notice('info', t('notAvailable', { what: t('what.dispatch') }), t('alarms.engineMissing')) : null);
      keepFocus(listBox, () =>
        fill(
          listBox,
          table(
            t('alarms.active'),
            [
              { head: t('col.severity'), cell: (a) => badge(a.severity === 'critical' ? 'bad' : 'warn', t(`severity.${a.severity}` as Key)) },
              { head: t('col.alarm'), cell: (a) => h('div', {}, h('strong', {}, t(a.title as Key, a.params)), a.detail ? h('p', { class: 'reason', lang: 'en' }, a.detail) : null), rowHeader: true },
              { head: t('col.category'), cell: (a) => t(`alarms.cat.${a.category}` as Key) },
              { head: t('col.subject'), cell: subjectCell },
              { head: t('col.since'), cell: (a) => (a.since ? h('span', { title: dateTime(a.since) }, ago(a.since)) : '–') },
            ],
            shown,
            { captionHidden: true, empty: all.length ? t('alarms.noMatch') : t('alarms.noneActive'), rowClass: (a) => (a.severity === 'critical' ? 'row-bad' : undefined) },
          ),
        ),
      );
    };
    severityFilter.addEventListener('change', render);
    categoryFilter.addEventListener('change', render);
    let pending: ReturnType<typeof setTimeout> | undefined;
    // The three feeds arrive at different times; draw once per burst.
    const soon = () => {
      pending ??= setTimeout(() => {
        pending = undefined;
        render();
      }, 100);
    };
    const stops = [live.wantFreshDevices(), live.dispatch.subscribe(soon), live.devices.subscribe(soon), live.health.subscribe(soon), live.streamState.subscribe(soon)];
    return () => {
      stops.forEach((f) => f());
      if (pending) clearTimeout(pending);
    };
  },
};
