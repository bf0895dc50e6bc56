import { deviceKinds, devicePrefix, idSchema, parseTopic, SERVER_TOPIC_IDS, TOPIC_ROOT, TOPIC_VERSION, type ParsedTopic } from '../contract/topics.ts';
import type { DeviceIdentity } from '../identity/types.ts';

export type PublishCheck = { ok: true; parsed: ParsedTopic } | { ok: false; reason: string };

const EXCERPT = 120;

/** A topic shortened for reasons and logs; attackers send topics of megabytes. */
export function excerpt(text: string, max = EXCERPT): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} chars)`;
}

/** Levels of a topic, counting no further than `stopAfter` (cheap on hostile inputs). */
export function topicDepth(topic: string, stopAfter: number): number {
  let levels = 1;
  for (let i = 0; i < topic.length && levels <= stopAfter; i++) if (topic.charCodeAt(i) === 47) levels++;
  return levels;
}

/**
 * May `identity` publish on `topic`? `identity` undefined = anonymous client (allowAnonymous),
 * which speaks for whichever device the topic names.
 */
export function checkPublish(topic: string, identity: DeviceIdentity | undefined, maxTopicDepth: number): PublishCheck {
  if (topicDepth(topic, maxTopicDepth) > maxTopicDepth) {
    return { ok: false, reason: `topic has more than ${maxTopicDepth} levels (limit maxTopicDepth=${maxTopicDepth}): ${excerpt(topic)}` };
  }
  if (identity) {
    const prefix = devicePrefix(identity.tenant, identity.device);
    if (!topic.startsWith(prefix)) {
      return { ok: false, reason: `device ${identity.tenant}/${identity.device} may only publish under ${prefix}, not on ${excerpt(topic)}` };
    }
  }
  const result = parseTopic(topic);
  if (!result.ok) return { ok: false, reason: `invalid topic ${excerpt(topic)}: ${result.reason}` };
  if (!deviceKinds.includes(result.topic.kind)) {
    return { ok: false, reason: `devices may not publish kind "${result.topic.kind}" (${excerpt(topic)}); it flows server to device only` };
  }
  return { ok: true, parsed: result.topic };
}

const validId = (id: string): boolean => idSchema.safeParse(id).success;

/** qs/v1/{tenant}/{dispatch|alarms|server}/...: published by the server itself, never by a device. */
export function isServerTopic(topic: string): boolean {
  const parts = topic.split('/', 4);
  return parts[0] === TOPIC_ROOT && parts[1] === TOPIC_VERSION && parts[3] !== undefined && SERVER_TOPIC_IDS.has(parts[3]);
}

/** Where a reader (API token login of `tenant`) may subscribe and what it receives: `qs/v1/{tenant}/dispatch/...`. */
export function readerPrefix(tenant: string): string {
  return `${TOPIC_ROOT}/${TOPIC_VERSION}/${tenant}/dispatch/`;
}

/** May a reader of `tenant` subscribe to `filter`? null when allowed, else the reason. */
export function checkReaderSubscribe(filter: string, tenant: string): string | null {
  const prefix = readerPrefix(tenant);
  if (filter.startsWith(prefix) && filter.length > prefix.length) return null;
  return `an API token login of tenant ${tenant} may only subscribe under ${prefix} (e.g. ${prefix}#), not ${excerpt(filter)}`;
}

/**
 * May `identity` subscribe to `filter`? Returns null when allowed, else the reason.
 * A device gets its own command topic, its sub-devices' command topics, and `+` over them.
 */
export function checkSubscribe(filter: string, identity: DeviceIdentity | undefined): string | null {
  const parts = filter.split('/', 7);
  const shapeOk =
    parts[0] === TOPIC_ROOT &&
    parts[1] === TOPIC_VERSION &&
    (parts.length === 5 || parts.length === 6) &&
    parts[parts.length - 1] === 'cmd' &&
    validId(parts[2]!) &&
    validId(parts[3]!) &&
    (parts.length === 5 || parts[4] === '+' || validId(parts[4]!));
  if (!shapeOk) {
    const who = identity ? `device ${identity.tenant}/${identity.device}` : 'an anonymous client';
    const own = identity ? `${devicePrefix(identity.tenant, identity.device)}cmd` : `${TOPIC_ROOT}/${TOPIC_VERSION}/{tenant}/{device}/cmd`;
    return `${who} may only subscribe to its command topic ${own} (or .../{subdevice}/cmd), not ${excerpt(filter)}`;
  }
  if (identity && (parts[2] !== identity.tenant || parts[3] !== identity.device)) {
    return `device ${identity.tenant}/${identity.device} may only subscribe under ${devicePrefix(identity.tenant, identity.device)}, not ${excerpt(filter)}`;
  }
  return null;
}

/** Parses the MQTT username `{tenant}/{device}`; null when it is not of that shape. */
export function parseUsername(username: string): DeviceIdentity | null {
  const slash = username.indexOf('/');
  if (slash < 0) return null;
  const tenant = username.slice(0, slash);
  const device = username.slice(slash + 1);
  if (!validId(tenant) || !validId(device)) return null;
  return { tenant, device };
}
