import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stderr, so stdout stays free for command output such as --json. */
export function createLogger(level: string, name = 'querstrom'): Logger {
  return pino({ name, level, redact: ['req.headers.authorization', 'password', 'token'] }, pino.destination(2));
}
