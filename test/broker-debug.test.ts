import mqtt from 'mqtt';
import pino from 'pino';
import { it } from 'vitest';
import { startBroker } from '../src/broker/index.ts';
import { localBrokerConfig, MapAuthenticator } from '../src/broker/testing.ts';

it('debug', async () => {
  const auth = new MapAuthenticator().add('t1', 'd1', 's1').add('t1', 'rev', 'sr');
  const broker = await startBroker(localBrokerConfig({ limits: { drainTimeoutMs: 2000 } }), { authenticator: auth, onDevicePublish: async () => {}, onReject: (r) => console.log('reject', r.reason), onConnect: (i, c) => console.log('conn', c), onDisconnect: (i, c, r) => console.log('disc', c, r) }, pino({ level: 'debug' }));
  broker.aedes.on('clientDisconnect', (cl) => console.log('aedes clientDisconnect', cl.id));
  broker.aedes.on('connackSent', (p, cl) => console.log('connackSent', cl.id, p.returnCode));
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.tcpPort}`, { reconnectPeriod: 0, username: 't1/rev', password: 'sr', clientId: 'rev-1' });
  c.on('close', () => console.log('client close'));
  auth.revoke('t1', 'rev');
  await new Promise((r) => setTimeout(r, 300));
  await broker.close();
});
