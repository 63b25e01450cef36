import pino, { type DestinationStream, type Logger } from 'pino';
import { type LogLevel } from '../config/config';

export type { Logger };

/**
 * JSON lines on stdout, one object per event. Written synchronously: a shutting-down process exits right after
 * its last line, and an asynchronous buffer would lose it. What goes in is chosen field by field at each call
 * site (ids, names, codes, durations) — never headers, variables, tokens or document text — and the redaction
 * below is the safety net for a careless future call.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'support-rag-gateway' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: [
          'authorization',
          'token',
          'password',
          'apiKey',
          'variables',
          'text',
          'body',
          '*.authorization',
          '*.token',
          '*.password',
          '*.apiKey',
          '*.variables',
          '*.text',
          '*.body',
        ],
        censor: '[redacted]',
      },
    },
    destination ?? pino.destination({ fd: 1, sync: true }),
  );
}

/**
 * An unexpected error as a log field, without its message when it comes from the database: PostgreSQL messages
 * and details can quote the values of a row (`invalid input syntax for type json: "..."`, `Key (id)=(...)`), and
 * those values are customers' text. The SQLSTATE, constraint and stack frames are enough to find the bug.
 */
export function safeError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { type: typeof error };
  const e = error as Error & Record<string, unknown>;
  const driver = (e.driverError instanceof Error ? e.driverError : e) as Error & Record<string, unknown>;
  const sqlState =
    typeof driver.code === 'string' && /^[0-9A-Z]{5}$/.test(driver.code) ? driver.code : undefined;
  const frames = (e.stack ?? '')
    .split('\n')
    .filter((line) => line.trimStart().startsWith('at '))
    .map((line) => line.trim());
  if (sqlState !== undefined) {
    return {
      type: e.name,
      sqlState,
      constraint: driver.constraint,
      table: driver.table,
      routine: driver.routine,
      stack: frames,
    };
  }
  return { type: e.name, code: e.code, message: e.message, stack: frames };
}
