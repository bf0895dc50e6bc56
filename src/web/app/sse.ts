/// <reference lib="dom" />
/**
 * Server-sent events over fetch, because EventSource cannot send an Authorization header.
 * Parses the text/event-stream format and reconnects with backoff until stopped.
 */
import { API, ApiFailure, getToken } from './api.ts';

export interface StreamHandlers {
  onEvent(event: string, data: string): void;
  /** Connection state for the status line. */
  onState(state: 'connecting' | 'live' | 'retrying' | 'unavailable', detail?: string): void;
}

/** Feeds raw chunks, emits complete events; pure so it can be reasoned about on its own. */
export class EventStreamParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  constructor(private readonly emit: (event: string, data: string) => void) {}

  push(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.search(/\r\n|\n|\r/)) >= 0) {
      const line = this.buffer.slice(0, nl);
      const sep = this.buffer[nl] === '\r' && this.buffer[nl + 1] === '\n' ? 2 : 1;
      this.buffer = this.buffer.slice(nl + sep);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length) this.emit(this.event || 'message', this.data.join('\n'));
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return; // comment / keep-alive
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
  }
}

/** Opens the stream; returns a function that stops it for good. */
export function openStream(path: string, handlers: StreamHandlers): () => void {
  const controller = new AbortController();
  let stopped = false;
  let delay = 1000;

  const run = async () => {
    while (!stopped) {
      handlers.onState('connecting');
      try {
        const token = getToken();
        const res = await fetch(API + path, {
          headers: { accept: 'text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) },
          signal: controller.signal,
          cache: 'no-store',
        });
        if (res.status === 404) {
          const body = (await res.json().catch(() => ({}))) as { message?: string };
          handlers.onState('unavailable', body.message);
          return;
        }
        if (!res.ok || !res.body) throw new ApiFailure(res.status, 'stream', `${res.status} ${res.statusText}`);
        handlers.onState('live');
        delay = 1000;
        const parser = new EventStreamParser(handlers.onEvent);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.push(value);
        }
      } catch (err) {
        if (stopped) return;
        handlers.onState('retrying', (err as Error).message);
      }
      if (stopped) return;
      handlers.onState('retrying');
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 15_000);
    }
  };
  void run();
  return () => {
    stopped = true;
    controller.abort();
  };
}
