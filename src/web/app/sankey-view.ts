/// <reference lib="dom" />
/** Draws a FlowGraph as an SVG Sankey diagram with d3-sankey's layout. */
import { sankey, sankeyLinkHorizontal, type SankeyGraph } from 'd3-sankey';
import { s } from './dom.ts';
import type { Carrier, FlowGraph, FlowNode } from './sankey-model.ts';

type N = { id: string; column: number; order: number; label: string; sub: string; warn: boolean };
type L = { carrier: Carrier; title: string };

export interface SankeyLabels {
  node(n: FlowNode): { label: string; sub: string; warn?: boolean; order: number };
  link(source: FlowNode, target: FlowNode, valueMw: number, carrier: Carrier): string;
}

export function drawSankey(svg: SVGSVGElement, graph: FlowGraph, width: number, labels: SankeyLabels): void {
  const columns = Math.max(1, ...graph.nodes.map((n) => n.column + 1));
  const perColumn = new Map<number, number>();
  for (const n of graph.nodes) perColumn.set(n.column, (perColumn.get(n.column) ?? 0) + 1);
  const crowded = Math.max(1, ...perColumn.values());
  const height = Math.round(Math.max(crowded * 62, Math.min(760, Math.max(380, width * 0.45))));
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));

  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const nodes: N[] = graph.nodes.map((n) => {
    const l = labels.node(n);
    return { id: n.id, column: n.column, order: l.order, label: l.label, sub: l.sub, warn: l.warn ?? false };
  });
  const links = graph.links.map((l) => ({
    source: l.source,
    target: l.target,
    value: l.valueMw,
    carrier: l.carrier,
    title: labels.link(byId.get(l.source)!, byId.get(l.target)!, l.valueMw, l.carrier),
  }));

  // Labels sit right of their node; the last column's labels need room at the right edge.
  const labelRoom = Math.min(250, Math.max(165, width * 0.18));
  const layout = sankey<N, L>()
    .nodeId((d) => d.id)
    .nodeAlign((d) => d.column)
    .nodeWidth(14)
    .nodePadding(Math.max(30, Math.min(40, height / 20)))
    // A fixed order keeps nodes where operators expect them from one tick to the next.
    .nodeSort((a, b) => a.order - b.order)
    .linkSort(null)
    .extent([
      [8, 12],
      [width - labelRoom, height - 28],
    ]);
  let laid: SankeyGraph<N, L>;
  try {
    laid = layout({ nodes: nodes.map((n) => ({ ...n })), links: links.map((l) => ({ ...l })) });
  } catch {
    svg.replaceChildren();
    return;
  }

  // Room for a label: up to the next column's nodes (or the right edge for the last column).
  const xs = [...new Set(laid.nodes.map((n) => Math.round(n.x0 ?? 0)))].sort((a, b) => a - b);
  const fontPx = parseFloat(getComputedStyle(svg).fontSize) * 0.78 || 12;
  const fit = (text: string, x: number, bold: boolean) => {
    const next = xs.find((v) => v > x + 2) ?? width;
    const chars = Math.floor((next - x - 6) / (fontPx * (bold ? 0.6 : 0.54)));
    return text.length <= chars ? text : `${text.slice(0, Math.max(1, chars - 1))}…`;
  };
  const path = sankeyLinkHorizontal<N, L>();
  const linkLayer = s(
    'g',
    { class: 'sk-links' },
    laid.links.map((l) =>
      s('path', { class: `sk-link c-${l.carrier}`, d: path(l) ?? '', 'stroke-width': Math.max(1.5, l.width ?? 1) }, s('title', {}, l.title)),
    ),
  );
  const nodeLayer = s(
    'g',
    { class: 'sk-nodes' },
    laid.nodes.map((n) => {
      const x0 = n.x0 ?? 0;
      const x1 = n.x1 ?? 0;
      const y0 = n.y0 ?? 0;
      const y1 = n.y1 ?? 0;
      const tx = x1 + 6;
      const ty = (y0 + y1) / 2;
      return s(
        'g',
        { class: `sk-node${n.warn ? ' sk-warn' : ''}` },
        s('rect', { x: x0, y: y0, width: Math.max(1, x1 - x0), height: Math.max(2, y1 - y0) }, s('title', {}, `${n.label}: ${n.sub}`)),
        s(
          'text',
          { x: tx, y: ty, class: 'sk-label' },
          s('tspan', { x: tx, dy: '-0.15em', class: 'sk-name' }, fit((n.warn ? '⚠ ' : '') + n.label, tx, true)),
          s('tspan', { x: tx, dy: '1.15em', class: 'sk-value' }, fit(n.sub, tx, false)),
        ),
      );
    }),
  );
  svg.replaceChildren(linkLayer, nodeLayer);
}
