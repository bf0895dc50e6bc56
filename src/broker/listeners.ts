import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { BrokerContext } from './context.ts';

export type ConnectionHandler = (conn: Duplex, req?: IncomingMessage) => void;

export interface Listeners {
  tcpPort: number | undefined;
  wsPort: number | undefined;
  /** Stops accepting new connections; existing ones stay until aedes closes them. */
  stopAccepting(): void;
  /** Resolves once the servers have closed (all their connections ended), or at the deadline. */
  closed(deadline: number): Promise<void>;
}

/** MQTT-over-WebSocket subprotocol names, newest first. */
const MQTT_SUBPROTOCOLS = ['mqtt', 'mqttv3.1'];

function listen(server: TcpServer | HttpServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.removeListener('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: TcpServer | HttpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function withDeadline(promise: Promise<unknown>, deadline: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
    timer.unref();
    void promise.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export async function startListeners(ctx: BrokerContext, handle: ConnectionHandler): Promise<Listeners> {
  const { config, log } = ctx;
  let tcp: TcpServer | undefined;
  let http: HttpServer | undefined;
  let wss: WebSocketServer | undefined;
  let tcpPort: number | undefined;
  let wsPort: number | undefined;

  try {
    if (config.tcp.enabled) {
      tcp = createTcpServer({ noDelay: true }, (socket) => handle(socket));
      tcpPort = await listen(tcp, config.tcp.port, config.tcp.host);
      tcp.on('error', (err) => log.error({ err }, 'MQTT TCP listener error'));
      log.info({ host: config.tcp.host, port: tcpPort }, 'MQTT listening on TCP');
    }
    if (config.ws.enabled) {
      http = createHttpServer((_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
        res.end(`MQTT over WebSocket: connect with ws:// on ${config.ws.path}, subprotocol "mqtt"\n`);
      });
      wss = new WebSocketServer({
        server: http,
        path: config.ws.path,
        // One message may carry one packet, or a few small ones; the packet guard does the exact check.
        maxPayload: 2 * ctx.limits.maxPacketBytes,
        handleProtocols: (offered) => MQTT_SUBPROTOCOLS.find((p) => offered.has(p)) ?? false,
      });
      wss.on('connection', (ws, req) => handle(createWebSocketStream(ws), req));
      wss.on('error', (err) => log.error({ err }, 'MQTT WebSocket listener error'));
      wsPort = await listen(http, config.ws.port, config.ws.host);
      http.on('error', (err) => log.error({ err }, 'MQTT WebSocket HTTP listener error'));
      log.info({ host: config.ws.host, port: wsPort, path: config.ws.path }, 'MQTT listening on WebSocket');
    }
  } catch (err) {
    tcp?.close();
    wss?.close();
    http?.close();
    throw err;
  }

  let serversClosed: Promise<unknown> | undefined;
  const stopAccepting = (): Promise<unknown> => {
    serversClosed ??= Promise.all([tcp ? closeServer(tcp) : undefined, http ? closeServer(http) : undefined, wss ? new Promise((r) => wss.close(r)) : undefined]);
    return serversClosed;
  };
  return {
    tcpPort,
    wsPort,
    stopAccepting() {
      void stopAccepting();
    },
    async closed(deadline) {
      await withDeadline(stopAccepting(), deadline);
      http?.closeAllConnections();
    },
  };
}
