/// <reference lib="dom" />
/** Units: setpoint and measured value, advisory/automatic mode with a switch, recent history. */
import { ApiFailure, getJson, sendJson } from '../api.ts';
import { lineChart } from '../chart.ts';
import { fill, h, setText } from '../dom.ts';
import { kindLabel } from '../explain.ts';
import { ago, dateTime, mw, num, pretty } from '../format.ts';
import { t, type Key } from '../i18n.ts';
import * as live from '../live.ts';
import type { PageDef } from '../page.ts';
import type { Bucket, Reading } from '../types.ts';
import { badge, confirmDialog, failureNotice, notice, pageHeader, section, table, type Tone } from '../ui.ts';
import type { UnitView } from '../../../dispatch/schemas.ts';

const HISTORY_MS = 60 * 60_000;

/** Power readings are stored in kW; other units are shown as they are. */
function toMw(r: { value: number; unit: string }): number | null {
  if (r.unit === 'kW') return r.value / 1000;
  if (r.unit === 'MW') return r.value;
  if (r.unit === 'W') return r.value / 1e6;
  return null;
}

const commandTone: Record<string, Tone> = { pending: 'info', acked: 'ok', refused: 'bad', timed_out: 'warn' };

const setpointMetric = (unit: string) => `setpoint_${unit.toLowerCase()}`;

export const unitsPage: PageDef = {
  path: 'units',
  title: 'nav.units',
  mount(main, ctx) {
    const isAdmin = ctx.session.role === 'admin' || ctx.session.role === 'unknown';
    const status = h('div', { 'aria-live': 'polite' });
    const tableBox = h('div', {}, h('p', { class: 'hint' }, t('loading')));
    const historyBox = h('div', {});
    const historyTitle = h('h2', { id: 'history-heading' }, t('units.history'));
    fill(
      main,
      pageHeader(t('nav.units'), h('p', { class: 'hint' }, isAdmin ? t('units.adminHint') : t('units.readHint'))),
      status,
      section(t('units.table'), 'units-heading', tableBox),
      h('section', { class: 'panel', 'aria-labelledby': 'history-heading' }, historyTitle, historyBox),
    );

    let units: UnitView[] = [];
    let actual = new Map<string, Reading>();
    let selected = ctx.params[0];
    let stopped = false;
    let chartStop: (() => void) | undefined;
    let historyOf: string | undefined;

    const switchMode = async (u: UnitView) => {
      const to = u.mode === 'automatic' ? 'advisory' : 'automatic';
      const ok = await confirmDialog(t('units.confirmTitle', { unit: u.unit }), t(to === 'automatic' ? 'units.confirmAuto' : 'units.confirmAdvisory', { unit: u.unit }), t(`mode.${to}` as Key));
      if (!ok) return;
      try {
        await sendJson('POST', `/dispatch/units/${encodeURIComponent(u.unit)}/mode`, { mode: to });
        ctx.announce(t('units.switched', { unit: u.unit, mode: t(`mode.${to}` as Key) }));
        fill(status, notice('ok', t('units.switched', { unit: u.unit, mode: t(`mode.${to}` as Key) })));
        await refresh();
      } catch (err) {
        const forbidden = err instanceof ApiFailure && err.status === 403;
        fill(status, notice('bad', t('units.switchFailed', { unit: u.unit }), forbidden ? t('units.adminOnly') : (err as Error).message));
      }
    };

    const modeCell = (u: UnitView) => {
      const on = u.mode === 'automatic';
      if (!u.controllable) return h('span', { class: 'mode-fixed', title: t('units.notControllable') }, t('units.advisoryOnly'), h('sup', { 'aria-hidden': 'true' }, '*'));
      const reason = !isAdmin ? t('units.adminOnly') : '';
      const sw = h(
        'button',
        {
          type: 'button',
          role: 'switch',
          class: 'switch',
          'aria-checked': String(on),
          'aria-label': t('units.switchLabel', { unit: u.unit }),
          disabled: Boolean(reason),
          'aria-describedby': reason ? `mode-reason-${u.unit}` : undefined,
          'data-unit': u.unit,
        },
        h('span', { class: 'switch-track', 'aria-hidden': 'true' }, h('span', { class: 'switch-thumb' })),
        h('span', { class: 'switch-text' }, t(`mode.${u.mode}` as Key)),
      );
      sw.addEventListener('click', () => void switchMode(u));
      return h('div', { class: 'mode-cell' }, sw, reason ? h('span', { class: 'hint', id: `mode-reason-${u.unit}` }, reason) : null);
    };

    const renderTable = () => {
      const r = live.dispatch.value;
      fill(
        tableBox,
        table(
          t('units.table'),
          [
            { head: t('col.unit'), cell: (u) => u.unit, rowHeader: true },
            { head: t('col.kind'), cell: (u) => kindLabel(u.kind) },
            { head: t('col.zone'), cell: (u) => (u.zone ? pretty(u.zone) : '–') },
            { head: t('col.setpoint'), cell: (u) => h('span', { 'data-setpoint': u.unit }, mw(u.setpointMw, 2)), num: true },
            {
              head: t('col.actual'),
              cell: (u) => {
                const a = actual.get(u.unit);
                if (!u.control) return h('span', { class: 'hint' }, t('units.noMeasurement'));
                if (!a) return h('span', { class: 'hint' }, t('units.noReading'));
                const v = toMw(a);
                return h('span', { title: `${u.control.device} · ${u.control.metric} · ${dateTime(a.ts)}` }, v === null ? `${num(a.value, 1)} ${a.unit}` : mw(v, 2));
              },
              num: true,
            },
            { head: t('col.mode'), cell: modeCell },
            {
              head: t('col.command'),
              cell: (u) =>
                u.lastCommand
                  ? h('div', {}, badge(commandTone[u.lastCommand.state] ?? 'muted', t(`cmd.${u.lastCommand.state}` as Key)), h('span', { class: 'hint' }, ` ${mw(u.lastCommand.valueMw, 2)}, ${ago(u.lastCommand.ts)}`), u.lastCommand.reason ? h('p', { class: 'reason' }, u.lastCommand.reason) : null)
                  : h('span', { class: 'hint' }, t('cmd.none')),
            },
            {
              head: t('col.why'),
              cell: (u) => {
                const e = r?.explanations[u.unit];
                return e ? badge(e.status === 'off' || e.status === 'unavailable' ? 'muted' : 'ok', t(`status.${e.status}` as Key)) : '–';
              },
            },
            {
              head: t('col.history'),
              cell: (u) =>
                h('a', { href: `#/units/${encodeURIComponent(u.unit)}`, class: 'btn btn-small', 'aria-current': u.unit === selected ? 'true' : undefined }, t('units.showHistory'), h('span', { class: 'visually-hidden' }, ` ${u.unit}`)),
            },
          ],
          units,
          { captionHidden: true, rowClass: (u) => (u.unit === selected ? 'selected' : undefined) },
        ),
        units.some((u) => !u.controllable) ? h('p', { class: 'hint' }, `* ${t('units.notControllable')}`) : null,
      );
    };

    const refresh = async () => {
      try {
        const r = await getJson<{ units: UnitView[] }>('/dispatch/units');
        units = r.units;
        const devicesToRead = [...new Set(units.filter((u) => u.control).map((u) => u.control!.device))];
        const latest = await Promise.all(devicesToRead.map((d) => getJson<{ readings: Reading[] }>(`/latest?device=${encodeURIComponent(d)}`).then((x) => x.readings, () => [] as Reading[])));
        const flat = latest.flat();
        actual = new Map();
        for (const u of units) {
          const hit = u.control && flat.find((x) => x.device === u.control!.device && x.metric === u.control!.metric);
          if (hit) actual.set(u.unit, hit);
        }
        if (!stopped) {
          if (!selected && units[0]) {
            // Start with a unit worth watching: controllable and running, else the first.
            selected = (units.find((u) => u.controllable && (u.setpointMw ?? 0) > 0) ?? units.find((u) => u.controllable) ?? units[0]).unit;
          }
          renderTable();
          if (selected && historyOf !== selected) void drawHistory();
        }
      } catch (err) {
        if (!stopped) fill(tableBox, failureNotice(err, 'what.units'));
      }
    };

    const drawHistory = async () => {
      const u = units.find((x) => x.unit === selected);
      historyOf = u?.unit;
      if (!u) return fill(historyBox, h('p', { class: 'hint' }, t('units.pickOne')));
      setText(historyTitle, t('units.historyOf', { unit: u.unit }));
      const to = Date.now();
      const from = to - HISTORY_MS;
      const agg = (device: string, metric: string) =>
        getJson<{ buckets: Bucket[] }>(`/series/aggregate?device=${encodeURIComponent(device)}&metric=${encodeURIComponent(metric)}&from=${from}&to=${to}&bucket=30s&fn=avg`).then(
          (x) => x.buckets,
          () => [] as Bucket[],
        );
      const [sp, act] = await Promise.all([agg('dispatch', setpointMetric(u.unit)), u.control ? agg(u.control.device, u.control.metric) : Promise.resolve([] as Bucket[])]);
      if (stopped) return;
      chartStop?.();
      chartStop = undefined;
      const xs = [...new Set([...sp, ...act].map((b) => b.ts))].sort((a, b) => a - b);
      const at = (bs: Bucket[]) => {
        const m = new Map(bs.map((b) => [b.ts, b.avg ?? null]));
        return xs.map((x) => {
          const v = m.get(x);
          return v === undefined || v === null ? null : v / 1000;
        });
      };
      fill(historyBox);
      if (!xs.length) return fill(historyBox, notice('info', t('units.noHistory')));
      chartStop = lineChart(historyBox, {
        label: t('units.chartLabel', { unit: u.unit }),
        x: xs.map((x) => x / 1000),
        xRange: [from / 1000, to / 1000],
        yLabel: 'MW',
        xLabel: t('units.time'),
        series: [
          { label: t('col.setpoint'), values: at(sp), colorVar: '--c-electric', stepped: true, width: 2 },
          ...(u.control ? [{ label: t('col.actual'), values: at(act), colorVar: '--c-wasteheat', dash: [6, 4], width: 2.5 }] : []),
        ],
      });
    };

    void refresh();
    const timer = setInterval(() => void refresh(), 5000);
    const historyTimer = setInterval(() => void drawHistory(), 30_000);
    let lastRefresh = 0;
    const stopLive = live.dispatch.subscribe((r) => {
      // A new tick means new setpoints: refresh, but not more than every 2 s.
      if (r && Date.now() - lastRefresh > 2000) {
        lastRefresh = Date.now();
        void refresh();
      }
    });
    return () => {
      stopped = true;
      clearInterval(timer);
      clearInterval(historyTimer);
      stopLive();
      chartStop?.();
    };
  },
};
