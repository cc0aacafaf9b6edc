import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** The one way to make a logger: structured JSON (pino) to stderr, level from WHARF_LOG_LEVEL. */
export function createLogger(opts: { level?: string; name?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? process.env.WHARF_LOG_LEVEL ?? 'info',
    base: { pid: process.pid, ...(opts.name ? { name: opts.name } : {}) },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return pino(options, (opts.destination ?? process.stderr) as pino.DestinationStream);
}

/** A logger that drops everything: for unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
