/// <reference lib="dom" />
/**
 * Scenarios: start runs, follow their progress, download exports, and compare two or more
 * finished runs (KPI table, heat supply stack, CO2 path).
 */
import { ApiFailure, download, getJson, openDocument, request, sendJson } from '../api.ts';
import { lineChart } from '../chart.ts';
import { fill, h } from '../dom.ts';
import { dateTime, num, pretty } from '../format.ts';
import { t, type Key } from '../i18n.ts';
import type { PageDef } from '../page.ts';
import { badge, failureNotice, keepFocus, notice, pageHeader, section, table, type Tone } from '../ui.ts';
import type { z } from 'zod';
import type { runStatusSchema } from '../../../scenario/runs.ts';
import type { KpiReport, ModeKpis } from '../../../scenario/kpis.ts';

type RunStatus = z.output<typeof runStatusSchema>;
type RunDetail = RunStatus & { kpis?: KpiReport; files?: string[] };
interface Comparison {
  runs: { id: string; scenario: string; contentHash: string }[];
  rows: { kpi: string; unit: string; values: (number | null)[]; diff: (number | null)[]; rel: (number | null)[] }[];
}

const statusTone: Record<RunStatus['status'], Tone> = { queued: 'muted', running: 'info', done: 'ok', failed: 'bad' };

/** Colours for heat sources in the stack, in a fixed order so runs compare at a glance. */
const stackColours = ['#0072b2', '#e08a00', '#009e73', '#505050', '#b8589a', '#56b4e9', '#8c6d1f', '#c2362c', '#6a3d9a', '#999933'];

const primary = (k: KpiReport): ModeKpis | undefined => k.modes[k.primary] ?? k.modes.perfect_foresight ?? k.modes.rolling;

/** KPI names from the server are English; known ones are translated, unit and source ids kept. */
function kpiName(kpi: string): string {
  const prefixes: [string, Key][] = [
    ['full-load hours ', 'scen.kpi.flh'],
    ['storage cycles ', 'scen.kpi.cycles'],
    ['heat from ', 'scen.kpi.heatFrom'],
  ];
  for (const [p, key] of prefixes) if (kpi.startsWith(p)) return t(key, { id: kpi.slice(p.length) });
  const key = `scen.kpi.${kpi}` as Key;
  const text = t(key);
  return text === key ? kpi : text;
}

function runLabel(r: { id: string; scenario: string }): string {
  return `${r.scenario} · ${r.id.slice(0, 8)}`;
}

function fmtValue(v: number | null, unit: string): string {
  if (v === null) return '–';
  const a = Math.abs(v);
  const digits = unit === '%' ? 1 : a >= 1000 ? 0 : a >= 10 ? 1 : 2;
  return num(v, digits);
}

function relBadge(rel: number | null, kpi: string): HTMLElement | string {
  if (rel === null || Math.abs(rel) < 0.0005) return '';
  const arrow = ` ${rel > 0 ? '▲ +' : '▼ −'}${num(Math.abs(rel) * 100, 1)} %`;
  // Lower is better for costs, CO2, unmet demand and the fossil share, higher for the waste-heat
  // share; the rest (hours, cycles, the supply mix) has no better or worse.
  const direction = /waste-heat share/.test(kpi) ? 1 : /heat delivered|full-load|heat from|storage cycles/.test(kpi) ? 0 : -1;
  if (direction === 0) return h('span', { class: 'diff-neutral' }, arrow);
  const better = direction * rel > 0;
  const verdict = better ? t('scen.better') : t('scen.worse');
  return h('span', { class: better ? 'diff-better' : 'diff-worse', title: verdict }, arrow, h('span', { class: 'visually-hidden' }, `, ${verdict}`));
}

export const scenariosPage: PageDef = {
  path: 'scenarios',
  title: 'nav.scenarios',
  mount(main, ctx) {
    const isAdmin = ctx.session.role !== 'read';
    const [view, arg] = ctx.params;
    const compareIds = view === 'compare' && arg ? arg.split(',').filter(Boolean) : [];
    const detailId = view === 'run' ? arg : undefined;

    const formStatus = h('div', { 'aria-live': 'polite' });
    const listBox = h('div', {}, h('p', { class: 'hint' }, t('loading')));
    const compareButton = h('button', { class: 'btn btn-primary', type: 'button', disabled: true }, t('scen.compare'));
    const compareHint = h('p', { class: 'hint', id: 'compare-hint' }, t('scen.compareHint'));
    compareButton.setAttribute('aria-describedby', 'compare-hint');
    const selected = new Set<string>(compareIds);

    // ---------------------------------------------------------------- start form
    const nameSelect = h('select', { id: 'scen-name', name: 'name' });
    const modeSelect = h('select', { id: 'scen-mode', name: 'mode' }, ['', 'perfect_foresight', 'rolling', 'both'].map((m) => h('option', { value: m }, t(`scen.mode.${m || 'default'}` as Key))));
    const textArea = h('textarea', { id: 'scen-text', name: 'scenario', rows: 8, spellcheck: 'false', 'aria-describedby': 'scen-text-hint' });
    const startForm = h(
      'form',
      { class: 'start-form', novalidate: true },
      h(
        'div',
        { class: 'filters' },
        h('div', { class: 'field' }, h('label', { for: 'scen-name' }, t('scen.shipped')), nameSelect),
        h('div', { class: 'field' }, h('label', { for: 'scen-mode' }, t('scen.modeLabel')), modeSelect),
        h('button', { class: 'btn btn-primary', type: 'submit', disabled: !isAdmin }, t('scen.start')),
      ),
      h(
        'details',
        {},
        h('summary', {}, t('scen.ownFile')),
        h('div', { class: 'field' }, h('label', { for: 'scen-text' }, t('scen.textLabel')), textArea, h('p', { class: 'hint', id: 'scen-text-hint' }, t('scen.textHint'))),
      ),
      isAdmin ? null : h('p', { class: 'hint' }, t('scen.adminOnly')),
      formStatus,
    );
    startForm.addEventListener('submit', (e) => {
      e.preventDefault();
      const text = textArea.value.trim();
      const body: Record<string, unknown> = text ? { scenario: text } : { name: nameSelect.value };
      if (modeSelect.value) body.mode = modeSelect.value;
      sendJson<RunStatus>('POST', '/scenarios/runs', body).then(
        (run) => {
          fill(formStatus, notice('ok', t('scen.started', { id: run.id, scenario: run.scenario })));
          ctx.announce(t('scen.started', { id: run.id, scenario: run.scenario }));
          void refresh();
        },
        (err: unknown) => fill(formStatus, notice('bad', t('scen.startFailed'), err instanceof Error ? err.message : String(err))),
      );
    });

    const compareBox = h('div', {});
    const detailBox = h('div', {});
    fill(
      main,
      pageHeader(t('nav.scenarios')),
      compareIds.length ? h('section', { class: 'panel', 'aria-labelledby': 'compare-heading' }, h('h2', { id: 'compare-heading' }, t('scen.comparison')), compareBox) : null,
      detailId ? h('section', { class: 'panel', 'aria-labelledby': 'detail-heading' }, h('h2', { id: 'detail-heading' }, t('scen.detailOf', { id: detailId })), detailBox) : null,
      section(t('scen.runs'), 'runs-heading', h('div', { class: 'filters' }, compareButton, compareHint), listBox),
      section(t('scen.new'), 'new-heading', startForm),
    );

    let runs: RunStatus[] = [];
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stops: (() => void)[] = [];

    const updateCompareButton = () => {
      const ready = [...selected].filter((id) => runs.find((r) => r.id === id)?.status === 'done');
      compareButton.disabled = ready.length < 2;
      compareButton.textContent = t('scen.compareN', { n: ready.length });
    };
    compareButton.addEventListener('click', () => {
      const ids = [...selected].filter((id) => runs.find((r) => r.id === id)?.status === 'done');
      if (ids.length >= 2) location.hash = `#/scenarios/compare/${ids.map(encodeURIComponent).join(',')}`;
    });

    const downloads = (r: RunStatus) =>
      r.status !== 'done'
        ? h('span', { class: 'hint' }, r.status === 'failed' ? '' : t('scen.whenDone'))
        : h(
            'div',
            { class: 'downloads' },
            h('button', { class: 'btn btn-small', type: 'button', 'data-focus': `csv:${r.id}`, onclick: () => void download(`/scenarios/runs/${r.id}/hourly.csv`, `${r.scenario}-${r.id}-hourly.csv`).catch((e: Error) => fill(formStatus, notice('bad', t('scen.downloadFailed'), e.message))) }, 'CSV', h('span', { class: 'visually-hidden' }, ` ${runLabel(r)}`)),
            h('button', { class: 'btn btn-small', type: 'button', 'data-focus': `pq:${r.id}`, onclick: () => void download(`/scenarios/runs/${r.id}/hourly.parquet`, `${r.scenario}-${r.id}-hourly.parquet`).catch((e: Error) => fill(formStatus, notice('bad', t('scen.downloadFailed'), e.message))) }, 'Parquet', h('span', { class: 'visually-hidden' }, ` ${runLabel(r)}`)),
            h('button', { class: 'btn btn-small', type: 'button', 'data-focus': `rep:${r.id}`, onclick: () => void openDocument(`/scenarios/runs/${r.id}/report.html`).catch((e: Error) => fill(formStatus, notice('bad', t('scen.downloadFailed'), e.message))) }, t('scen.report'), h('span', { class: 'visually-hidden' }, ` ${runLabel(r)}`)),
            h('a', { class: 'btn btn-small', href: `#/scenarios/run/${encodeURIComponent(r.id)}`, 'data-focus': `det:${r.id}` }, t('scen.details'), h('span', { class: 'visually-hidden' }, ` ${runLabel(r)}`)),
          );

    const renderList = () => {
      keepFocus(listBox, () =>
        fill(
          listBox,
          table(
            t('scen.runs'),
            [
              {
                head: t('scen.select'),
                cell: (r) => {
                  const box = h('input', { type: 'checkbox', id: `sel-${r.id}`, 'data-focus': `sel:${r.id}`, 'data-run': r.id, checked: selected.has(r.id), disabled: r.status !== 'done' });
                  box.addEventListener('change', () => {
                    if (box.checked) selected.add(r.id);
                    else selected.delete(r.id);
                    updateCompareButton();
                  });
                  return h('span', {}, box, h('label', { for: `sel-${r.id}`, class: 'visually-hidden' }, t('scen.selectRun', { run: runLabel(r) })));
                },
              },
              { head: t('scen.col.scenario'), cell: (r) => r.scenario, rowHeader: true },
              { head: t('scen.col.run'), cell: (r) => h('code', {}, r.id) },
              { head: t('scen.col.mode'), cell: (r) => t(`scen.mode.${r.mode}` as Key) },
              {
                head: t('col.status'),
                cell: (r) =>
                  h(
                    'div',
                    {},
                    badge(statusTone[r.status], t(`scen.status.${r.status}` as Key)),
                    r.status === 'running' || r.status === 'queued'
                      ? h('div', {}, h('progress', { max: 1, value: r.progress, 'aria-label': t('scen.progressOf', { run: runLabel(r) }) }), ` ${num(r.progress * 100, 0)} %`, r.etaS !== undefined ? h('span', { class: 'hint' }, ` · ${t('scen.eta', { s: Math.ceil(r.etaS) })}`) : null)
                      : null,
                    r.error ? h('p', { class: 'reason', lang: 'en' }, r.error) : null,
                  ),
              },
              { head: t('scen.col.created'), cell: (r) => dateTime(Date.parse(r.createdAt)) },
              { head: t('scen.col.results'), cell: downloads },
            ],
            runs,
            { captionHidden: true, empty: t('scen.noRuns'), rowClass: (r) => (selected.has(r.id) ? 'selected' : undefined) },
          ),
        ),
      );
      updateCompareButton();
    };

    const refresh = async () => {
      if (timer) clearTimeout(timer);
      try {
        runs = (await getJson<{ runs: RunStatus[] }>('/scenarios/runs')).runs;
        if (stopped) return;
        renderList();
      } catch (err) {
        if (!stopped) fill(listBox, failureNotice(err, 'what.scenarios'));
        if (err instanceof ApiFailure && err.notAvailable) return;
      }
      if (!stopped) timer = setTimeout(() => void refresh(), runs.some((r) => r.status === 'running' || r.status === 'queued') ? 1000 : 10_000);
    };

    getJson<{ scenarios: string[] }>('/scenarios/shipped').then(
      (s) => fill(nameSelect, s.scenarios.map((n) => h('option', { value: n }, n))),
      () => fill(nameSelect, h('option', { value: '' }, '–')),
    );

    // ---------------------------------------------------------------- comparison
    const renderComparison = async () => {
      fill(compareBox, h('p', { class: 'hint' }, t('loading')));
      try {
        const [cmp, details] = await Promise.all([
          getJson<Comparison>(`/scenarios/compare?runs=${compareIds.map(encodeURIComponent).join(',')}`),
          Promise.all(compareIds.map((id) => getJson<RunDetail>(`/scenarios/runs/${encodeURIComponent(id)}`))),
        ]);
        if (stopped) return;
        const labels = cmp.runs.map(runLabel);
        const kpiTable = table(
          t('scen.kpiTable'),
          [
            { head: t('scen.col.kpi'), cell: (row) => kpiName(row.kpi), rowHeader: true },
            { head: t('scen.col.unit'), cell: (row) => row.unit },
            ...labels.map((label, i) => ({
              head: label,
              cell: (row: Comparison['rows'][number]) => h('span', {}, fmtValue(row.values[i] ?? null, row.unit), i > 0 ? relBadge(row.rel[i] ?? null, row.kpi) : ''),
              num: true,
            })),
          ],
          cmp.rows,
          { captionHidden: true },
        );

        // Heat supply stack: MWh per source and run.
        const mixes = details.map((d) => (d.kpis ? primary(d.kpis)?.total.heatBySourceMWh ?? {} : {}));
        const sources = [...new Set(mixes.flatMap((m) => Object.keys(m)))].sort();
        const maxTotal = Math.max(1, ...mixes.map((m) => Object.values(m).reduce((a, b) => a + b, 0)));
        const colour = (s: string) => stackColours[sources.indexOf(s) % stackColours.length]!;
        const stack = h(
          'div',
          { class: 'stack' },
          h(
            'ul',
            { class: 'legend', 'aria-label': t('scen.stackLegend') },
            sources.map((s) => h('li', {}, h('span', { class: 'swatch-box', 'data-colour': colour(s) }), h('span', {}, pretty(s)))),
          ),
          mixes.map((m, i) => {
            const total = Object.values(m).reduce((a, b) => a + b, 0);
            return h(
              'div',
              { class: 'stack-row' },
              h('div', { class: 'stack-label' }, h('strong', {}, labels[i] ?? ''), h('span', { class: 'hint' }, ` ${num(total / 1000, 1)} GWh`)),
              h(
                'div',
                { class: 'stack-bar', 'aria-hidden': 'true', 'data-width': String(total / maxTotal) },
                sources.filter((s) => (m[s] ?? 0) > 0).map((s) => h('span', { 'data-colour': colour(s), 'data-width': String((m[s] ?? 0) / Math.max(total, 1e-9)), title: `${pretty(s)}: ${num((m[s] ?? 0) / 1000, 2)} GWh` })),
              ),
            );
          }),
          table(
            t('scen.stackTable'),
            [
              { head: t('scen.col.source'), cell: (s: string) => pretty(s), rowHeader: true },
              ...cmp.runs.map((run, i) => ({ head: `${run.id.slice(0, 8)} (GWh)`, cell: (s: string) => num((mixes[i]?.[s] ?? 0) / 1000, 2), num: true })),
            ],
            sources,
            { captionHidden: true },
          ),
        );
        // Widths and colours come from data attributes, set through the CSSOM (no inline style attributes).
        for (const el of stack.querySelectorAll<HTMLElement>('[data-width]')) el.style.width = `${Number(el.dataset.width) * 100}%`;
        for (const el of stack.querySelectorAll<HTMLElement>('[data-colour]')) el.style.background = el.dataset.colour!;

        const co2Box = h('div', { class: 'co2-path' });
        fill(
          compareBox,
          h('p', { class: 'hint' }, t('scen.compareIntro', { first: labels[0] ?? '' })),
          h('h3', {}, t('scen.kpiTable')),
          kpiTable,
          h('div', { class: 'scenario-grid' }, h('div', {}, h('h3', {}, t('scen.stack')), stack), h('div', {}, h('h3', {}, t('scen.co2Path')), co2Box)),
        );
        await drawCo2Path(co2Box, details, labels);
      } catch (err) {
        if (!stopped) fill(compareBox, failureNotice(err, 'what.comparison'));
      }
    };

    /** CO2 per year for multi-year runs; cumulative CO2 through the year for single-year runs. */
    const drawCo2Path = async (box: HTMLElement, details: RunDetail[], labels: string[]) => {
      const modes = details.map((d) => (d.kpis ? primary(d.kpis) : undefined));
      const multiYear = modes.some((m) => (m?.years.length ?? 0) > 1);
      const series = ['--c-electric', '--c-wasteheat', '--c-renewable', '--c-fossil', '--c-storage', '--c-heat'];
      if (multiYear) {
        const years = [...new Set(modes.flatMap((m) => m?.years.map((y) => y.year) ?? []))].sort((a, b) => a - b);
        stops.push(
          lineChart(box, {
            label: t('scen.co2PerYear'),
            x: years,
            xIsTime: false,
            xLabel: t('scen.year'),
            yLabel: t('scen.tCo2'),
            series: modes.map((m, i) => ({ label: labels[i] ?? '', values: years.map((y) => m?.years.find((v) => v.year === y)?.co2T.total ?? null), colorVar: series[i % series.length]!, ...(i % 2 ? { dash: [8, 4] } : {}) })),
          }),
        );
        return;
      }
      // One year: the cumulative path from the hourly results, one point per day.
      const csvs = await Promise.all(details.map((d) => request(`/scenarios/runs/${encodeURIComponent(d.id)}/hourly.csv`).then((r) => r.text(), () => '')));
      if (stopped) return;
      const paths = csvs.map((csv) => {
        const lines = csv.split('\n');
        const head = (lines[0] ?? '').split(',');
        const ti = head.indexOf('time');
        const ci = head.indexOf('co2_t');
        const days: number[] = [];
        const cum: number[] = [];
        let sum = 0;
        let day = -1;
        for (let i = 1; i < lines.length; i++) {
          const cells = lines[i]!.split(',');
          if (cells.length <= Math.max(ti, ci)) continue;
          sum += Number(cells[ci]) || 0;
          const d = Math.floor(Date.parse(cells[ti]!) / 86_400_000);
          if (d !== day) {
            days.push(d);
            cum.push(sum);
            day = d;
          } else cum[cum.length - 1] = sum;
        }
        return { days, cum };
      });
      // Day of the horizon, so runs over different years still line up.
      const length = Math.max(0, ...paths.map((p) => p.days.length));
      if (!length) return fill(box, notice('info', t('scen.noCo2')));
      const x = Array.from({ length }, (_, i) => i + 1);
      stops.push(
        lineChart(box, {
          label: t('scen.co2Cumulative'),
          x,
          xIsTime: false,
          xLabel: t('scen.day'),
          yLabel: t('scen.tCo2'),
          series: paths.map((p, i) => ({ label: labels[i] ?? '', values: x.map((_, k) => p.cum[k] ?? null), colorVar: series[i % series.length]!, ...(i % 2 ? { dash: [8, 4] } : {}) })),
        }),
        () => undefined,
      );
      box.append(h('p', { class: 'hint' }, t('scen.co2CumulativeHint')));
    };

    // ---------------------------------------------------------------- one run
    const renderDetail = async (id: string) => {
      try {
        const d = await getJson<RunDetail>(`/scenarios/runs/${encodeURIComponent(id)}`);
        if (stopped) return;
        const m = d.kpis ? primary(d.kpis) : undefined;
        const charts = (d.files ?? []).filter((f) => f.startsWith('charts/') && f.endsWith('.svg'));
        const figures = charts.map((c) => {
          const img = h('img', { alt: t('scen.chartAlt', { name: pretty(c.slice(7, -4).replace(/-/g, ' ')), run: id }), class: 'run-chart' });
          request(`/scenarios/runs/${encodeURIComponent(id)}/${c}`).then(
            async (res) => {
              const url = URL.createObjectURL(await res.blob());
              img.src = url;
              stops.push(() => URL.revokeObjectURL(url));
            },
            () => undefined,
          );
          return h('figure', { class: 'run-figure' }, img, h('figcaption', {}, pretty(c.slice(7, -4).replace(/-/g, ' '))));
        });
        fill(
          detailBox,
          h(
            'dl',
            { class: 'facts' },
            h('div', {}, h('dt', {}, t('scen.col.scenario')), h('dd', {}, d.scenario)),
            h('div', {}, h('dt', {}, t('col.status')), h('dd', {}, badge(statusTone[d.status], t(`scen.status.${d.status}` as Key)))),
            m ? h('div', {}, h('dt', {}, kpiName('total cost')), h('dd', {}, `${num(m.total.totalCostEur / 1e6, 2)} Mio. €`)) : null,
            m ? h('div', {}, h('dt', {}, kpiName('levelised cost of heat')), h('dd', {}, `${num(m.total.lcohEurPerMWh, 2)} €/MWh`)) : null,
            m ? h('div', {}, h('dt', {}, kpiName('CO2')), h('dd', {}, `${num(m.total.co2T.total, 0)} t`)) : null,
            m ? h('div', {}, h('dt', {}, kpiName('waste-heat share')), h('dd', {}, `${num(m.total.wasteHeatShare * 100, 1)} %`)) : null,
            h('div', {}, h('dt', {}, t('scen.col.created')), h('dd', {}, dateTime(Date.parse(d.createdAt)))),
          ),
          d.error ? notice('bad', t('scen.status.failed'), d.error) : null,
          h('div', { class: 'scenario-grid' }, figures),
        );
      } catch (err) {
        if (!stopped) fill(detailBox, failureNotice(err, 'what.scenarios'));
      }
    };

    void refresh();
    if (compareIds.length >= 2) void renderComparison();
    else if (compareIds.length === 1) fill(compareBox, notice('info', t('scen.compareHint')));
    if (detailId) void renderDetail(detailId);
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      stops.forEach((f) => f());
    };
  },
};
