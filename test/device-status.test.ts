import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DeviceTracker } from '../src/devices/tracker.ts';
import { tempDir } from './helpers/server.ts';

const T = 'stadt-a';
const MIN = 60_000;
const birth = (intervalS: number) => ({ type: 'heat_meter' as const, firmware: '1.0.0', interval_s: intervalS, metrics: { heat_power: { unit: 'kW' } } });

function tracker() {
  let now = Date.UTC(2026, 10, 21, 12);
  const devices = new DeviceTracker(undefined, () => [], () => now);
  const status = (device: string) => devices.get(T, device)!.status;
  return { devices, status, advance: (ms: number) => (now += ms) };
}

describe('device status: connection, announcements and activity', () => {
  it('a device that connects only to send stays online while it keeps its interval, then goes offline', () => {
    const { devices, status, advance } = tracker();
    for (let i = 0; i < 4; i++) {
      devices.connected(T, 'meter-1');
      devices.birth(T, 'meter-1', birth(900));
      devices.accepted(T, 'meter-1', 1);
      devices.disconnected(T, 'meter-1', 'disconnect');
      expect(status('meter-1')).toBe('online');
      expect(devices.get(T, 'meter-1')).toMatchObject({ online: true, connected: false, lastDisconnect: { reason: 'disconnect' } });
      advance(15 * MIN);
      expect(status('meter-1')).toBe('online');
    }
    // Silent for more than 3 of its 15-minute intervals: offline (not merely stale, it is not connected).
    advance(31 * MIN);
    expect(status('meter-1')).toBe('offline');
    expect(devices.get(T, 'meter-1')!.stale).toBe(true);
  });

  it('an offline announcement before a clean DISCONNECT, a lost connection, or a revocation is offline at once', () => {
    const { devices, status } = tracker();
    devices.connected(T, 'gw-1');
    devices.stateReported(T, 'gw-1', true);
    devices.stateReported(T, 'gw-1', false);
    expect(status('gw-1')).toBe('online'); // still connected
    devices.disconnected(T, 'gw-1', 'disconnect');
    expect(status('gw-1')).toBe('offline');

    devices.connected(T, 'gw-2');
    devices.stateReported(T, 'gw-2', true);
    devices.disconnected(T, 'gw-2', 'connection lost');
    expect(status('gw-2')).toBe('offline');
    expect(devices.get(T, 'gw-2')!.lastDisconnect!.reason).toBe('connection lost');

    devices.connected(T, 'gw-3');
    devices.disconnected(T, 'gw-3', 'revoked');
    expect(status('gw-3')).toBe('offline');
  });

  it('a reconnect forgets the last connection’s offline announcement; a takeover is not a disconnect', () => {
    const { devices, status } = tracker();
    devices.connected(T, 'gw-1');
    devices.stateReported(T, 'gw-1', false);
    devices.disconnected(T, 'gw-1', 'disconnect');
    expect(status('gw-1')).toBe('offline');
    devices.connected(T, 'gw-1');
    expect(status('gw-1')).toBe('online');
    // The new connection is registered before the old one closes.
    devices.connected(T, 'gw-1');
    devices.disconnected(T, 'gw-1', 'taken over by a new connection with the same client id');
    expect(devices.get(T, 'gw-1')).toMatchObject({ connected: true, online: true });
    devices.disconnected(T, 'gw-1', 'disconnect');
    expect(status('gw-1')).toBe('online');
  });

  it('a connected device that falls silent is stale, not offline', () => {
    const { devices, status, advance } = tracker();
    devices.connected(T, 'gw-1');
    devices.birth(T, 'gw-1', birth(60));
    advance(3 * MIN + 1);
    expect(status('gw-1')).toBe('stale');
  });

  it('a sub-device (no connection of its own) is online when its gateway announces it or while it sends, stale when announced and silent', () => {
    const { devices, status, advance } = tracker();
    devices.birth(T, 'gw-1/hp-1', birth(60));
    devices.stateReported(T, 'gw-1/hp-1', true);
    expect(devices.get(T, 'gw-1/hp-1')).toMatchObject({ online: true, connected: false });
    devices.birth(T, 'gw-1/hm-2', birth(60));
    devices.accepted(T, 'gw-1/hm-2', 3);
    expect(status('gw-1/hm-2')).toBe('online');
    advance(3 * MIN + 1);
    expect(status('gw-1/hp-1')).toBe('stale');
    expect(status('gw-1/hm-2')).toBe('offline');
    devices.stateReported(T, 'gw-1/hp-1', false);
    expect(status('gw-1/hp-1')).toBe('offline');
  });

  it('after a server restart, a device with a connection of its own is offline until it reconnects; a sub-device goes by its data', async () => {
    const dir = await tempDir('qs-devices-');
    try {
      const file = join(dir.path, 'devices.json');
      const before = new DeviceTracker(file);
      before.connected(T, 'gw-1');
      before.birth(T, 'gw-1', birth(60));
      before.birth(T, 'gw-1/hm-2', birth(60));
      await before.persist();

      const after = new DeviceTracker(file);
      await after.load();
      expect(after.get(T, 'gw-1')).toMatchObject({ status: 'offline', connected: false, lastDisconnect: { reason: 'server restart' } });
      after.accepted(T, 'gw-1/hm-2', 1);
      expect(after.get(T, 'gw-1/hm-2')!.status).toBe('online');
      after.connected(T, 'gw-1');
      expect(after.get(T, 'gw-1')!.status).toBe('online');
    } finally {
      await dir.remove();
    }
  });
});
