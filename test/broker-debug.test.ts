import mqtt from 'mqtt';
import pino from 'pino';
import { it } from 'vitest';
import { startBroker } from '../src/broker/index.ts';
import { localBrokerConfig, MapAuthenticator } from '../src/broker/testing.ts';

it('debug', async () => {
  const auth = new MapAuthenticator().add('t1', 'd1', 's1').add('t1', 'rev', 'sr');
  const broker = await startBroker(localBrokerConfig({ limits: { drainTimeoutMs: 2000 } }), { authenticator: auth, onDevicePublish: async () => { await new Promise((r) => setTimeout(r, 200)); console.log('stored', Date.now()) }, onReject: (r) => console.log('reject', r.reason), onDisconnect: (i, c, r) => console.log('disc', c, r) }, pino({ level: 'debug' }));
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.tcpPort}`, { reconnectPeriod: 0, username: 't1/rev', password: 'sr', clientId: 'rev-1' });
  c.on('close', () => console.log('client close', Date.now()));
  const acked = c.publishAsync('qs/v1/t1/rev/data', 'in-flight', { qos: 1 }).then(() => console.log('acked', Date.now()), (e) => console.log('ack err', e));
  await new Promise((r) => setTimeout(r, 50));
  broker.aedes.on('clientDisconnect', (cl) => setImmediate(() => console.log('server conn destroyed?', cl.conn.destroyed, (cl.conn as any).readyState)));
  let t = Date.now();
  console.log('closing', t);
  await broker.close();
  console.log('close took', Date.now() - t);
});
