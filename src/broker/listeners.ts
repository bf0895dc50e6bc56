import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type TlsOptions, type TLSSocket } from 'node:tls';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { listenFailure } from '../common/listen-error.ts';
import type { BrokerContext } from './context.ts';
import { peerCertificateOf, type PeerCertificate } from './tls.ts';

/** Every listener ends here: one aedes handle path and one packet-size guard for all transports. */
export type ConnectionHandler = (conn: Duplex, req?: IncomingMessage, peer?: PeerCertificate) => void;

export interface ListenerPorts {
  tcpPort: number | undefined;
  wsPort: number | undefined;
  tlsPort: number | undefined;
  wssPort: number | undefined;
}

export interface Listeners extends ListenerPorts {
  /** Stops accepting new connections; existing ones stay until aedes closes them. */
  stopAccepting(): void;
  /** Resolves once the servers have closed (all their connections ended), or at the deadline. */
  closed(deadline: number): Promise<void>;
}

/** MQTT-over-WebSocket subprotocol names, newest first. */
const MQTT_SUBPROTOCOLS = ['mqtt', 'mqttv3.1'];

/**
 * Pending-connection queue of the listening sockets (capped by net.core.somaxconn). Node's 511
 * overflows when thousands of devices reconnect at once, and the kernel then drops SYNs that the
 * devices only retry after 1 s, 3 s, 7 s.
 */
const LISTEN_BACKLOG = 4096;

type AnyServer = TcpServer | HttpServer;

function listen(server: AnyServer, port: number, host: string, what: string, setting: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(listenFailure(err, { what, host, port, setting, usualHolder: 'another MQTT broker such as mosquitto' }));
    server.once('error', onError);
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
      server.removeListener('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: AnyServer): Promise<void> {
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

/**
 * Failed TLS handshakes (no or untrusted client certificate with clientCerts 'required', port
 * scans, wrong protocol) cannot be tied to a device: logged, at most once per second with a count.
 */
function handshakeFailureLog(ctx: BrokerContext, listener: string): (err: Error & { code?: string }, socket: TLSSocket) => void {
  let loggedAt = 0;
  let suppressed = 0;
  return (err, socket) => {
    const now = Date.now();
    if (now - loggedAt < 1000) {
      suppressed++;
      return;
    }
    ctx.log.info({ listener, remote: socket.remoteAddress, code: err.code, err: err.message, alsoFailedSinceLastReport: suppressed }, 'TLS handshake failed; connection refused');
    loggedAt = now;
    suppressed = 0;
  };
}

export async function startListeners(ctx: BrokerContext, handle: ConnectionHandler, tlsOptions: TlsOptions | undefined): Promise<Listeners> {
  const { config, log } = ctx;
  const servers: AnyServer[] = [];
  const sockets: WebSocketServer[] = [];
  const ports: ListenerPorts = { tcpPort: undefined, wsPort: undefined, tlsPort: undefined, wssPort: undefined };

  /** MQTT over WebSocket on an HTTP(S) server: plain requests get 426 and a hint. */
  const webSocketListener = (http: HttpServer | HttpsServer, path: string, scheme: 'ws' | 'wss', peerOf: (req: IncomingMessage) => PeerCertificate | undefined): void => {
    http.on('request', (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
      res.end(`MQTT over WebSocket: connect with ${scheme}:// on ${path}, subprotocol "mqtt"\n`);
    });
    const wss = new WebSocketServer({
      server: http,
      path,
      // One message may carry one packet, or a few small ones; the packet guard does the exact check.
      maxPayload: 2 * ctx.limits.maxPacketBytes,
      handleProtocols: (offered) => MQTT_SUBPROTOCOLS.find((p) => offered.has(p)) ?? false,
    });
    wss.on('connection', (ws, req) => handle(createWebSocketStream(ws), req, peerOf(req)));
    wss.on('error', (err) => log.error({ err }, `MQTT ${scheme} listener error`));
    sockets.push(wss);
  };

  try {
    if (config.tcp.enabled) {
      const tcp = createTcpServer({ noDelay: true }, (socket) => handle(socket));
      servers.push(tcp);
      ports.tcpPort = await listen(tcp, config.tcp.port, config.tcp.host, 'MQTT TCP listener', 'broker.tcp.port in the config, or serve --mqtt-port');
      tcp.on('error', (err) => log.error({ err }, 'MQTT TCP listener error'));
      log.info({ host: config.tcp.host, port: ports.tcpPort }, 'MQTT listening on TCP');
    }
    if (config.ws.enabled) {
      const http = createHttpServer();
      servers.push(http);
      webSocketListener(http, config.ws.path, 'ws', () => undefined);
      ports.wsPort = await listen(http, config.ws.port, config.ws.host, 'MQTT WebSocket listener', 'broker.ws.port in the config, or serve --ws-port');
      http.on('error', (err) => log.error({ err }, 'MQTT WebSocket HTTP listener error'));
      log.info({ host: config.ws.host, port: ports.wsPort, path: config.ws.path }, 'MQTT listening on WebSocket');
    }
    if (config.tls.enabled) {
      if (tlsOptions === undefined) throw new Error('broker.tls.enabled but no TLS material loaded');
      // 'secureConnection': the handshake is done, so the client certificate can be read.
      const tls = createTlsServer({ ...tlsOptions, noDelay: true }, (socket) => handle(socket, undefined, peerCertificateOf(socket)));
      servers.push(tls);
      tls.on('tlsClientError', handshakeFailureLog(ctx, 'mqtts'));
      ports.tlsPort = await listen(tls, config.tls.port, config.tls.host, 'MQTT TLS listener', 'broker.tls.port in the config');
      tls.on('error', (err) => log.error({ err }, 'MQTT TLS listener error'));
      log.info({ host: config.tls.host, port: ports.tlsPort, clientCerts: config.tls.clientCerts }, 'MQTT listening on TLS');
    }
    if (config.wss.enabled) {
      if (tlsOptions === undefined) throw new Error('broker.wss.enabled but no TLS material loaded');
      const https = createHttpsServer({ ...tlsOptions, noDelay: true });
      servers.push(https);
      https.on('tlsClientError', handshakeFailureLog(ctx, 'wss'));
      webSocketListener(https, config.wss.path, 'wss', (req) => peerCertificateOf(req.socket as TLSSocket));
      ports.wssPort = await listen(https, config.wss.port, config.wss.host, 'MQTT secure WebSocket listener', 'broker.wss.port in the config');
      https.on('error', (err) => log.error({ err }, 'MQTT secure WebSocket listener error'));
      log.info({ host: config.wss.host, port: ports.wssPort, path: config.wss.path, clientCerts: config.tls.clientCerts }, 'MQTT listening on secure WebSocket');
    }
  } catch (err) {
    for (const wss of sockets) wss.close();
    for (const server of servers) server.close();
    throw err;
  }

  let serversClosed: Promise<unknown> | undefined;
  const stopAccepting = (): Promise<unknown> => {
    serversClosed ??= Promise.all([...servers.map(closeServer), ...sockets.map((wss) => new Promise((r) => wss.close(r)))]);
    return serversClosed;
  };
  return {
    ...ports,
    stopAccepting() {
      void stopAccepting();
    },
    async closed(deadline) {
      await withDeadline(stopAccepting(), deadline);
      for (const server of servers) if ('closeAllConnections' in server) server.closeAllConnections();
    },
  };
}
