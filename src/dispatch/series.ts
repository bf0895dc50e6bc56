/**
 * A tick's result as readings of the reserved device `dispatch`, in the store's canonical units
 * (power kW, prices EUR/MWh, shares %, CO2 t/h), so dashboards query dispatch history with the
 * same series API as sensor data.
 */
import type { DispatchResult } from '../coupling/index.ts';
import type { Reading } from '../store/types.ts';

/** Device id reserved for the server's own series (the identity registry refuses it for gateways). */
export const DISPATCH_DEVICE = 'dispatch';

const KW_PER_MW = 1000;

/** Component ids may hold capitals; metric names may not. */
export const metricPart = (id: string): string => id.toLowerCase();

export function dispatchReadings(tenant: string, r: DispatchResult, setpointsMw: Record<string, number>): Reading[] {
  const ts = r.ts;
  const out: Reading[] = [];
  const add = (metric: string, value: number | null | undefined, unit: string) => {
    if (value === null || value === undefined || !Number.isFinite(value)) return;
    out.push({ tenant, device: DISPATCH_DEVICE, metric, ts, value, unit });
  };
  const k = r.kpis;
  add('objective_eur_h', r.objective, 'EUR/h');
  add('cost_eur_h', k.costEurPerH, 'EUR/h');
  add('co2_t_h', k.co2TPerH, 't/h');
  add('heat_supplied_kw', k.heatSuppliedMw * KW_PER_MW, 'kW');
  add('waste_heat_share', k.wasteHeatShare * 100, '%');
  add('fossil_share', k.fossilShare * 100, '%');
  add('unmet_kw', k.unmetDemandMw * KW_PER_MW, 'kW');
  add('curtailed_kw', k.curtailmentMw * KW_PER_MW, 'kW');
  add('alarms', r.alarms.length, '1');
  add('optimal', r.status === 'optimal' ? 1 : 0, '1');
  for (const [zone, price] of Object.entries(r.prices.heat)) add(`price_heat_${metricPart(zone)}`, price, 'EUR/MWh');
  add('price_el', r.prices.electricity, 'EUR/MWh');
  add('price_gas', r.prices.gas, 'EUR/MWh');
  for (const [id, mw] of Object.entries(setpointsMw)) add(`setpoint_${metricPart(id)}`, mw * KW_PER_MW, 'kW');
  return out;
}
