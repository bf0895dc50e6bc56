/// <reference lib="dom" />
/** Live flows: the Sankey picture, the KPIs, marginal heat prices and why each unit runs. */
import { fill, h, s, setText } from '../dom.ts';
import { eurPerMWh, mw, num, pct, time, zoneName } from '../format.ts';
import { t, type Key } from '../i18n.ts';
import * as live from '../live.ts';
import type { PageDef } from '../page.ts';
import { buildFlowGraph, carriers, type Carrier, type FlowGraph, type FlowNode } from '../sankey-model.ts';
import { drawSankey, type SankeyLabels } from '../sankey-view.ts';
import type { DispatchResult, UnitExplanation } from '../types.ts';
import { badge, notice, pageHeader, section, table, type Tone } from '../ui.ts';
import { explain, kindLabel } from '../explain.ts';

const roleOrder = ['gas', 'waste', 'unit', 'ambient', 'grid', 'power', 'storage', 'zone', 'demand', 'charge', 'export', 'eldemand', 'netloss', 'convloss', 'dump'];

export function flowLabels(graph: FlowGraph): SankeyLabels {
  const value = new Map<string, number>();
  for (const l of graph.links) {
    value.set(`out:${l.source}`, (value.get(`out:${l.source}`) ?? 0) + l.valueMw);
    value.set(`in:${l.target}`, (value.get(`in:${l.target}`) ?? 0) + l.valueMw);
  }
  const through = (id: string) => Math.max(value.get(`in:${id}`) ?? 0, value.get(`out:${id}`) ?? 0);
  const nodeName = (n: FlowNode): string => {
    const r = n.role;
    switch (r.kind) {
      case 'unit':
        return `${r.unit} · ${kindLabel(r.unitKind)}`;
      case 'storage':
        return t('flow.storageOut', { id: r.storage });
      case 'charge':
        return t('flow.storageIn', { id: r.storage });
      case 'zone':
        return zoneName(r.zone);
      case 'demand':
        return t('flow.demand', { zone: zoneName(r.zone) });
      default:
        return t(`flow.${r.kind}` as Key);
    }
  };
  return {
    node: (n) => {
      const r = n.role;
      if (r.kind === 'unit') return { label: r.unit, sub: `${mw(through(n.id))} · ${kindLabel(r.unitKind)}`, order: roleOrder.indexOf('unit') * 1000 + ['waste_heat_source', 'pv', 'wind'].indexOf(r.unitKind) + 1 };
      const order = roleOrder.indexOf(r.kind) * 1000;
      if (r.kind === 'demand') {
        const d = graph.demand[r.zone];
        const unmet = d && d.unmetMw > 0.005;
        return { label: nodeName(n), sub: unmet ? t('flow.unmetSub', { met: mw(through(n.id)), unmet: mw(d.unmetMw) }) : mw(through(n.id)), warn: Boolean(unmet), order };
      }
      return { label: nodeName(n), sub: mw(through(n.id)), order };
    },
    link: (a, b, v, c) => `${nodeName(a)} → ${nodeName(b)}: ${mw(v, 2)} (${t(`carrier.${c}` as Key)})`,
  };
}

function legend(shown: Carrier[]): HTMLElement {
  return h(
    'ul',
    { class: 'legend', 'aria-label': t('flows.legend') },
    shown.map((c) => h('li', {}, s('svg', { class: 'swatch', viewBox: '0 0 24 10', width: 24, height: 10, 'aria-hidden': 'true' }, s('rect', { class: `c-${c}`, x: 0, y: 0, width: 24, height: 10, rx: 2 })), h('span', {}, t(`carrier.${c}` as Key)))),
  );
}

function kpi(id: string, label: string): { el: HTMLElement; value: HTMLElement; note: HTMLElement } {
  const value = h('dd', { class: 'kpi-value', id: `kpi-${id}`, 'data-kpi': id }, '–');
  const note = h('dd', { class: 'kpi-note' });
  return { el: h('div', { class: 'kpi' }, h('dt', {}, label), value, note), value, note };
}

function statusTone(e: UnitExplanation): Tone {
  return e.status === 'unavailable' ? 'muted' : e.status === 'off' ? 'muted' : e.status === 'marginal' ? 'info' : 'ok';
}

export const flowsPage: PageDef = {
  path: 'flows',
  title: 'nav.flows',
  mount(main, ctx) {
    const tickLine = h('p', { class: 'tickline', id: 'flows-tick' }, t('flows.waiting'));
    const pause = h('button', { class: 'btn', type: 'button', 'aria-pressed': String(live.isPaused()) }, live.isPaused() ? t('flows.resume') : t('flows.pause'));
    pause.addEventListener('click', () => {
      live.setPaused(!live.isPaused());
      pause.setAttribute('aria-pressed', String(live.isPaused()));
      pause.textContent = live.isPaused() ? t('flows.resume') : t('flows.pause');
      ctx.announce(live.isPaused() ? t('flows.pausedNote') : t('flows.resumedNote'));
    });

    const legendBox = h('div', {});
    let legendKey = '';
    const svg = s('svg', { class: 'sankey', role: 'img', 'aria-labelledby': 'sankey-title sankey-desc' });
    const figure = h(
      'figure',
      { class: 'sankey-figure' },
      h('div', { class: 'sankey-box' }, svg),
      h('figcaption', {}, h('span', { id: 'sankey-title', class: 'visually-hidden' }, t('flows.sankeyTitle')), h('span', { id: 'sankey-desc' }, t('flows.sankeyDesc')), legendBox),
    );
    const picture = h('div', { class: 'sankey-slot' }, figure);

    const cost = kpi('cost', t('kpi.cost'));
    const co2 = kpi('co2', t('kpi.co2'));
    const wasteShare = kpi('waste-share', t('kpi.wasteShare'));
    const fossil = kpi('fossil-share', t('kpi.fossilShare'));
    const heat = kpi('heat', t('kpi.heat'));
    const unmet = kpi('unmet', t('kpi.unmet'));
    const liveSummary = h('p', { class: 'visually-hidden', 'aria-live': 'polite', 'aria-atomic': 'true', id: 'kpi-live' });
    const priceBox = h('div', {});
    const kpiPanel = section(t('flows.kpis'), 'kpi-heading', h('dl', { class: 'kpis' }, [cost, co2, wasteShare, fossil, heat, unmet].map((k) => k.el)), liveSummary, h('h3', {}, t('flows.prices')), priceBox);

    const explainBox = h('div', {});
    const flowTableBox = h('div', {});
    const alarmsBox = h('div', {});

    fill(
      main,
      pageHeader(t('nav.flows'), tickLine, pause),
      alarmsBox,
      h('div', { class: 'flows-grid' }, section(t('flows.picture'), 'sankey-heading', picture), kpiPanel),
      section(t('flows.explanations'), 'explain-heading', h('p', { class: 'hint' }, t('flows.explanationsHint')), explainBox),
      h('details', { class: 'panel' }, h('summary', {}, t('flows.asTable')), flowTableBox),
    );

    let last: DispatchResult | null = null;
    let lastAnnounced = 0;
    let width = 0;

    const draw = () => {
      if (!last) return;
      const graph = buildFlowGraph(last);
      drawSankey(svg, graph, width || 800, flowLabels(graph));
      // The legend lists the carriers in the picture, in a fixed order.
      const present = carriers.filter((c) => graph.links.some((l) => l.carrier === c));
      if (present.join() !== legendKey) {
        legendKey = present.join();
        fill(legendBox, legend(present));
      }
      return graph;
    };

    const render = (r: DispatchResult | null, state: live.StreamState) => {
      if (!r) {
        if (state === 'unavailable') fill(alarmsBox, notice('info', t('notAvailable', { what: t('what.dispatch') }), live.unavailableReason || t('notAvailableHint')));
        return;
      }
      fill(alarmsBox);
      last = r;
      const graph = draw()!;
      setText(tickLine, t('flows.tickLine', { tick: r.tick, time: time(r.ts), status: t(`solver.${r.status}` as Key), ms: num(r.tickUs / 1000, 2) }));
      const k = r.kpis;
      setText(cost.value, `${num(k.costEurPerH, 0)} €/h`);
      setText(co2.value, `${num(k.co2TPerH, 2)} t/h`);
      setText(wasteShare.value, pct(k.wasteHeatShare));
      setText(fossil.value, pct(k.fossilShare));
      setText(heat.value, mw(k.heatSuppliedMw));
      setText(unmet.value, mw(k.unmetDemandMw));
      unmet.el.classList.toggle('kpi-bad', k.unmetDemandMw > 0.005);
      fill(unmet.note, k.unmetDemandMw > 0.005 ? badge('bad', t('kpi.unmetWarn')) : badge('ok', t('kpi.allMet')));
      setText(cost.note, [k.costEurPerH < 0 ? t('kpi.revenue') : '', k.penaltyEurPerH > 0 ? t('kpi.penalty', { v: num(k.penaltyEurPerH, 0) }) : ''].filter(Boolean).join(' · '));

      const zones = Object.entries(r.prices.heat);
      fill(
        priceBox,
        table(
          t('flows.pricesCaption'),
          [
            { head: t('col.zone'), cell: ([z]) => zoneName(z), rowHeader: true },
            { head: t('col.price'), cell: ([, p]) => eurPerMWh(p), num: true },
            { head: t('col.demand'), cell: ([z]) => mw(r.buses[z]?.demandMw), num: true },
            { head: t('col.unmet'), cell: ([z]) => ((r.buses[z]?.unmetMw ?? 0) > 0.005 ? badge('bad', mw(r.buses[z]?.unmetMw)) : mw(0)), num: true },
          ],
          zones,
          { captionHidden: true },
        ),
        r.prices.electricity !== null ? h('p', { class: 'hint' }, t('flows.elPrice', { v: eurPerMWh(r.prices.electricity) })) : null,
      );

      const rows = Object.entries(r.explanations);
      fill(
        explainBox,
        table(
          t('flows.explanations'),
          [
            { head: t('col.unit'), cell: ([id]) => id, rowHeader: true },
            { head: t('col.kind'), cell: ([id]) => kindLabel(r.setpoints[id]?.kind ?? (r.storage[id] ? 'storage' : '')) },
            { head: t('col.output'), cell: ([id]) => mw(r.setpoints[id]?.heatMw || r.setpoints[id]?.elMw || (r.storage[id] ? (r.storage[id]!.dischargeMw - r.storage[id]!.chargeMw) : 0)), num: true },
            { head: t('col.status'), cell: ([, e]) => badge(statusTone(e), t(`status.${e.status}` as Key)) },
            {
              head: t('col.why'),
              cell: ([, e]) => h('div', { class: 'why' }, h('span', {}, explain(e)), h('details', { class: 'engine-text' }, h('summary', {}, t('flows.engineText')), h('p', { lang: 'en' }, e.text))),
            },
          ],
          rows,
          { captionHidden: true },
        ),
      );

      const byId = new Map(graph.nodes.map((n) => [n.id, n]));
      const labels = flowLabels(graph);
      fill(
        flowTableBox,
        table(
          t('flows.asTable'),
          [
            { head: t('col.from'), cell: (l) => labels.node(byId.get(l.source)!).label, rowHeader: true },
            { head: t('col.to'), cell: (l) => labels.node(byId.get(l.target)!).label },
            { head: t('col.carrier'), cell: (l) => t(`carrier.${l.carrier}` as Key) },
            { head: t('col.mw'), cell: (l) => num(l.valueMw, 2), num: true },
          ],
          graph.links,
          { captionHidden: true },
        ),
      );

      // Screen readers hear the KPIs now and then, not every tick.
      if (Date.now() - lastAnnounced > 30_000) {
        lastAnnounced = Date.now();
        setText(liveSummary, t('flows.liveSummary', { cost: num(k.costEurPerH, 0), co2: num(k.co2TPerH, 2), share: pct(k.wasteHeatShare), unmet: mw(k.unmetDemandMw) }));
      }
    };

    const observer = new ResizeObserver((entries) => {
      const w = Math.floor(entries[0]?.contentRect.width ?? 0);
      if (w > 0 && Math.abs(w - width) > 4) {
        width = w;
        draw();
      }
    });
    observer.observe(picture);
    const stops = [live.dispatch.subscribe((r) => render(r, live.streamState.value)), live.streamState.subscribe((st) => !last && render(null, st))];
    return () => {
      observer.disconnect();
      stops.forEach((f) => f());
    };
  },
};
