import { z } from 'zod';

/** Version segment of every topic; bump only with a new firmware-specs major version. */
export const TOPIC_ROOT = 'qs';
export const TOPIC_VERSION = 'v1';

export const idSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'ids are 1-64 chars of A-Z a-z 0-9 _ . - and start with a letter or digit');

export const messageKinds = ['data', 'birth', 'state', 'cmd', 'ack'] as const;
export const messageKindSchema = z.enum(messageKinds);
export type MessageKind = z.infer<typeof messageKindSchema>;

/** Kinds a device itself may publish; `cmd` flows server to device only. */
export const deviceKinds: readonly MessageKind[] = ['data', 'birth', 'state', 'ack'];

export interface ParsedTopic {
  tenant: string;
  /** The authenticated gateway (MQTT identity). */
  gateway: string;
  /** Set when a gateway reports for one of its sub-devices. */
  subdevice?: string;
  kind: MessageKind;
}

export type TopicParseResult = { ok: true; topic: ParsedTopic } | { ok: false; reason: string };

/** Device key as stored: `gateway` or `gateway/subdevice`. */
export function deviceKey(topic: Pick<ParsedTopic, 'gateway' | 'subdevice'>): string {
  return topic.subdevice ? `${topic.gateway}/${topic.subdevice}` : topic.gateway;
}

export { tokenLoginLabel, tokenLoginLabelPattern } from './token-login.ts';

export function parseTopic(topic: string): TopicParseResult {
  const parts = topic.split('/');
  if (parts[0] !== TOPIC_ROOT) return { ok: false, reason: `topic must start with "${TOPIC_ROOT}/${TOPIC_VERSION}/"` };
  if (parts[1] !== TOPIC_VERSION) return { ok: false, reason: `unsupported topic version "${parts[1] ?? ''}", this server speaks ${TOPIC_VERSION}` };
  if (parts.length !== 5 && parts.length !== 6) {
    return { ok: false, reason: `topic must be qs/v1/{tenant}/{device}/{kind} or qs/v1/{tenant}/{gateway}/{subdevice}/{kind}, got ${parts.length} levels` };
  }
  const kind = messageKindSchema.safeParse(parts[parts.length - 1]);
  if (!kind.success) return { ok: false, reason: `unknown message kind "${parts[parts.length - 1]}", expected one of ${messageKinds.join(', ')}` };
  const ids = parts.slice(2, parts.length - 1);
  for (const id of ids) {
    if (!idSchema.safeParse(id).success) return { ok: false, reason: `invalid id "${id.slice(0, 80)}" in topic: ids are 1-64 chars of A-Z a-z 0-9 _ . -` };
  }
  const [tenant, gateway, subdevice] = ids as [string, string, string | undefined];
  return { ok: true, topic: subdevice === undefined ? { tenant, gateway, kind: kind.data } : { tenant, gateway, subdevice, kind: kind.data } };
}

export function formatTopic(t: ParsedTopic): string {
  const parts = [TOPIC_ROOT, TOPIC_VERSION, t.tenant, t.gateway];
  if (t.subdevice) parts.push(t.subdevice);
  parts.push(t.kind);
  return parts.join('/');
}

/** Topic prefix a gateway may publish under (ACL). */
export function devicePrefix(tenant: string, gateway: string): string {
  return `${TOPIC_ROOT}/${TOPIC_VERSION}/${tenant}/${gateway}/`;
}

/**
 * Ids in the device position of a topic that name the server's own topics under a tenant
 * (qs/v1/{tenant}/dispatch/...): no device may have one, or it could spoof them.
 */
export const SERVER_TOPIC_IDS: ReadonlySet<string> = new Set(['dispatch', 'alarms', 'server']);

/**
 * What the engine publishes under qs/v1/{tenant}/dispatch/: the full result, a small KPI summary,
 * its alarms, and one topic per unit (units/{unit}) with its recommended setpoint.
 */
export const dispatchTopicSuffixes = ['latest', 'kpis', 'alarms', 'units'] as const;
export type DispatchTopicSuffix = (typeof dispatchTopicSuffixes)[number];
/**
 * How they are published: retained, each replacing the last. The per-tick topics at QoS 0 (a missed
 * one is superseded by the next tick); alarms and units at QoS 1, since they are sent by exception
 * and a missed one would not be (a persistent session subscribed at QoS 1 gets them queued).
 */
export const dispatchPublishOptions = {
  latest: { qos: 0, retain: true },
  kpis: { qos: 0, retain: true },
  alarms: { qos: 1, retain: true },
  units: { qos: 1, retain: true },
} as const satisfies Record<DispatchTopicSuffix, { qos: 0 | 1; retain: boolean }>;

/** Topics the engine publishes dispatch results under; `units` names one unit (or storage). */
export function dispatchTopic(tenant: string, suffix: Exclude<DispatchTopicSuffix, 'units'>): string;
export function dispatchTopic(tenant: string, suffix: 'units', unit: string): string;
export function dispatchTopic(tenant: string, suffix: DispatchTopicSuffix, unit?: string): string {
  const topic = `${TOPIC_ROOT}/${TOPIC_VERSION}/${tenant}/dispatch/${suffix}`;
  return suffix === 'units' ? `${topic}/${unit}` : topic;
}
