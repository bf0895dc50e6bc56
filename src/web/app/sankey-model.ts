/**
 * Turns one dispatch result into a Sankey graph: sources → conversion → power bus →
 * electric conversion and storage → heat zones → demand and losses. Pure, no DOM.
 *
 * Zone-to-zone transfers go from the sending zone straight to the receiving zone's demand,
 * so the graph never has a cycle whatever the network's flow pattern.
 */
import type { DispatchResult } from './types.ts';

export type Carrier = 'fossil' | 'waste' | 'wasteheat' | 'ambient' | 'electric' | 'renewable' | 'storage' | 'heat' | 'loss';
export const carriers: Carrier[] = ['fossil', 'waste', 'wasteheat', 'ambient', 'electric', 'renewable', 'storage', 'heat', 'loss'];

export type NodeRole =
  | { kind: 'gas' | 'waste' | 'grid' | 'ambient' | 'power' | 'netloss' | 'convloss' | 'export' | 'eldemand' | 'dump' }
  | { kind: 'unit'; unit: string; unitKind: string }
  | { kind: 'storage' | 'charge'; storage: string }
  | { kind: 'zone' | 'demand'; zone: string };

export interface FlowNode {
  id: string;
  role: NodeRole;
  column: number;
}

export interface FlowLink {
  source: string;
  target: string;
  valueMw: number;
  carrier: Carrier;
}

export interface FlowGraph {
  nodes: FlowNode[];
  links: FlowLink[];
  /** Per zone: demand and the part not met, for the demand labels. */
  demand: Record<string, { demandMw: number; unmetMw: number }>;
}

/** Flows below this are left out: they would be invisible slivers. */
export const MIN_FLOW_MW = 0.005;

const fuelConversion = new Set(['gas_boiler', 'gas_chp', 'wte_chp']);
const electricConversion = new Set(['heat_pump', 'electric_boiler']);

export function buildFlowGraph(r: DispatchResult): FlowGraph {
  const nodes = new Map<string, FlowNode>();
  const links: FlowLink[] = [];
  const node = (id: string, role: NodeRole, column: number) => {
    if (!nodes.has(id)) nodes.set(id, { id, role, column });
    return id;
  };
  const link = (source: string, target: string, valueMw: number, carrier: Carrier) => {
    if (Number.isFinite(valueMw) && valueMw >= MIN_FLOW_MW) links.push({ source, target, valueMw, carrier });
  };
  const zone = (z: string) => node(`zone:${z}`, { kind: 'zone', zone: z }, 4);
  const demandOf = (z: string) => node(`demand:${z}`, { kind: 'demand', zone: z }, 5);
  const power = () => node('power', { kind: 'power' }, 2);
  const convLoss = () => node('convloss', { kind: 'convloss' }, 5);

  const setpoints = Object.entries(r.setpoints);
  // Waste heat available to heat pumps: what the sources supply minus what they feed directly.
  const wasteHeatSources = setpoints.filter(([, s]) => s.kind === 'waste_heat_source');
  const toPumps = wasteHeatSources.map(([id, s]) => [id, Math.max(0, (s.sourceHeatMw ?? s.output) - (s.directMw ?? 0))] as const);
  const toPumpsTotal = toPumps.reduce((a, [, v]) => a + v, 0);
  const pumpSourceTotal = setpoints.filter(([, s]) => s.kind === 'heat_pump').reduce((a, [, s]) => a + Math.max(0, s.sourceHeatMw ?? 0), 0);
  const wasteShareOfPumpSource = pumpSourceTotal > 0 ? Math.min(1, toPumpsTotal / pumpSourceTotal) : 0;

  for (const [id, sp] of setpoints) {
    const kind = sp.kind;
    const heat = Math.max(0, sp.heatMw);
    if (fuelConversion.has(kind)) {
      const u = node(`unit:${id}`, { kind: 'unit', unit: id, unitKind: kind }, 1);
      const el = Math.max(0, sp.elMw);
      const fossil = kind !== 'wte_chp';
      const input = fossil ? Math.max(sp.fuelMw ?? 0, heat + el) : heat + el;
      link(fossil ? node('gas', { kind: 'gas' }, 0) : node('waste', { kind: 'waste' }, 0), u, input, fossil ? 'fossil' : 'waste');
      if (sp.zone) link(u, zone(sp.zone), heat, fossil ? 'fossil' : 'waste');
      if (el >= MIN_FLOW_MW) link(u, power(), el, 'electric');
      if (input - heat - el >= MIN_FLOW_MW) link(u, convLoss(), input - heat - el, 'loss');
    } else if (electricConversion.has(kind)) {
      const u = node(`unit:${id}`, { kind: 'unit', unit: id, unitKind: kind }, 3);
      const el = Math.max(0, -sp.elMw);
      link(power(), u, el, 'electric');
      const source = Math.max(0, sp.sourceHeatMw ?? 0);
      if (kind === 'heat_pump' && source > 0) {
        const fromWaste = source * wasteShareOfPumpSource;
        // Split the pumps' waste-heat draw over the sources in proportion to what each offers.
        for (const [whs, offered] of toPumps) if (toPumpsTotal > 0) link(node(`unit:${whs}`, { kind: 'unit', unit: whs, unitKind: 'waste_heat_source' }, 0), u, (fromWaste * offered) / toPumpsTotal, 'wasteheat');
        link(node('ambient', { kind: 'ambient' }, 0), u, source - fromWaste, 'ambient');
      }
      const carrier: Carrier = kind === 'heat_pump' ? (wasteShareOfPumpSource >= 0.5 ? 'wasteheat' : 'ambient') : 'electric';
      if (sp.zone) link(u, zone(sp.zone), heat, kind === 'heat_pump' && source === 0 ? 'electric' : carrier);
      if (el + source - heat >= MIN_FLOW_MW) link(u, convLoss(), el + source - heat, 'loss');
    } else if (kind === 'waste_heat_source') {
      const direct = Math.max(0, sp.directMw ?? 0);
      if (sp.zone) link(node(`unit:${id}`, { kind: 'unit', unit: id, unitKind: kind }, 0), zone(sp.zone), direct, 'wasteheat');
    } else if (kind === 'pv' || kind === 'wind') {
      link(node(`unit:${id}`, { kind: 'unit', unit: id, unitKind: kind }, 0), power(), Math.max(0, sp.elMw), 'renewable');
    } else if (kind === 'grid') {
      link(node('grid', { kind: 'grid' }, 0), power(), Math.max(0, sp.importMw ?? Math.max(0, sp.elMw)), 'electric');
      link(power(), node('export', { kind: 'export' }, 5), Math.max(0, sp.exportMw ?? Math.max(0, -sp.elMw)), 'electric');
    }
  }

  for (const [id, st] of Object.entries(r.storage)) {
    link(node(`storage:${id}`, { kind: 'storage', storage: id }, 3), zone(st.zone), st.dischargeMw, 'storage');
    link(zone(st.zone), node(`charge:${id}`, { kind: 'charge', storage: id }, 5), st.chargeMw, 'storage');
  }

  const deliveredIn = new Map<string, number>();
  for (const f of Object.values(r.flows)) {
    const [from, to] = f.flowMw >= 0 ? [f.from, f.to] : [f.to, f.from];
    const delivered = Math.max(0, f.flowMw >= 0 ? f.deliveredMw : -f.deliveredMw);
    deliveredIn.set(to, (deliveredIn.get(to) ?? 0) + delivered);
    link(zone(from), demandOf(to), delivered, 'heat');
    link(zone(from), node('netloss', { kind: 'netloss' }, 5), Math.abs(f.lossMw), 'loss');
  }

  const demand: FlowGraph['demand'] = {};
  let elDemand = 0;
  for (const [id, bus] of Object.entries(r.buses)) {
    if (bus.kind === 'heat') {
      demand[id] = { demandMw: bus.demandMw, unmetMw: bus.unmetMw };
      link(zone(id), demandOf(id), bus.demandMw - bus.unmetMw - (deliveredIn.get(id) ?? 0), 'heat');
      link(zone(id), node('dump', { kind: 'dump' }, 5), bus.dumpMw, 'loss');
    } else if (bus.kind === 'electricity') {
      elDemand += Math.max(0, bus.demandMw - bus.unmetMw);
    }
  }
  if (elDemand >= MIN_FLOW_MW) link(power(), node('eldemand', { kind: 'eldemand' }, 5), elDemand, 'electric');

  // Keep only nodes that carry something, and close the gaps of empty columns.
  const used = new Set(links.flatMap((l) => [l.source, l.target]));
  const kept = [...nodes.values()].filter((n) => used.has(n.id));
  const columns = [...new Set(kept.map((n) => n.column))].sort((a, b) => a - b);
  for (const n of kept) n.column = columns.indexOf(n.column);
  return { nodes: kept, links, demand };
}
