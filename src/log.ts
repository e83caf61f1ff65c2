import { pino, type Logger } from 'pino';
import type { LogLevel } from './config/schema.ts';

export type { Logger };

/** Structured JSON logs on stdout (pino): one line per request, errors with their stack. */
export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: { service: 'quayside' } });
}
