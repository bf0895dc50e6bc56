/**
 * What a worker does with a message from the external broker. The broker authenticated the
 * device and enforced its ACL (publish only under qs/v1/{tenant}/{device}/), so the identity
 * is the one the topic names; the topic itself is checked as strictly as the embedded broker does.
 */
import { checkPublish, excerpt, isServerTopic } from '../broker/acl.ts';
import { idSchema, type ParsedTopic } from '../contract/topics.ts';

export type Route =
  /** A device message for the ingest pipeline. */
  | { kind: 'device'; identity: { tenant: string; device: string }; parsed: ParsedTopic }
  /** Traffic the server side publishes (commands, dispatch results): not device data. */
  | { kind: 'ignore'; reason: string }
  /** A broken device message: dead letter with the reason (identity when the topic names one). */
  | { kind: 'refuse'; identity: { tenant: string; device: string } | undefined; reason: string };

export function routeBrokerMessage(topic: string, maxTopicDepth: number): Route {
  const parts = topic.split('/', 7);
  const last = parts[parts.length - 1];
  if (last === 'cmd') return { kind: 'ignore', reason: 'command topic (server to device)' };
  // The shared subscriptions are all under qs/v1/, so the topic's fourth level decides.
  if (isServerTopic(topic)) return { kind: 'ignore', reason: `server topic qs/v1/{tenant}/${parts[3]}/…` };
  const check = checkPublish(topic, undefined, maxTopicDepth);
  if (check.ok) return { kind: 'device', identity: { tenant: check.parsed.tenant, device: check.parsed.gateway }, parsed: check.parsed };
  const tenant = parts[2];
  const device = parts[3];
  const identity = tenant !== undefined && device !== undefined && idSchema.safeParse(tenant).success && idSchema.safeParse(device).success ? { tenant, device } : undefined;
  return { kind: 'refuse', identity, reason: check.reason || `invalid topic ${excerpt(topic)}` };
}
