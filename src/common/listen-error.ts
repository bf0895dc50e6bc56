/** Where a listener was told to listen, and the setting that moves it. */
export interface ListenTarget {
  /** e.g. "MQTT TCP listener" */
  what: string;
  host: string;
  port: number;
  /** e.g. "broker.tcp.port in the config, or serve --mqtt-port" */
  setting: string;
  /** What usually holds this port, e.g. "another MQTT broker such as mosquitto". */
  usualHolder?: string;
}

/** A listen() failure as the operator needs it: which listener, why, and what to change. */
export function listenFailure(err: unknown, t: ListenTarget): Error {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const at = `port ${t.port} on ${t.host}`;
  if (code === 'EADDRINUSE') {
    const holder = t.usualHolder ? `${t.usualHolder}, or another querstrom` : 'another program, or another querstrom';
    return new Error(`${t.what}: ${at} is already in use (by ${holder}); stop it, or choose another port (${t.setting})`, { cause: err });
  }
  if (code === 'EACCES') return new Error(`${t.what}: not allowed to listen on ${at} (ports below 1024 need privileges); choose another port (${t.setting})`, { cause: err });
  if (code === 'EADDRNOTAVAIL') return new Error(`${t.what}: ${t.host} is not an address of this machine`, { cause: err });
  return err instanceof Error ? err : new Error(String(err));
}
