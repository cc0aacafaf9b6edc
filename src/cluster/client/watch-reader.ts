import { WharfError } from '../../core/errors.js';
import type { Status } from '../apis/meta.js';
import type { WatchEvent } from './resource-api.js';
import { errorFromStatus } from './status-errors.js';

// The one reader of the API server's watch streams: newline-delimited JSON, one
// {type, object} per line, split anywhere by the network (multi-byte characters included).
// An ERROR event becomes the WharfError of its Status (410 Expired: kind Gone, so an
// informer lists again); an aborted signal ends the stream quietly.

export async function* readWatchEvents<T>(body: AsyncIterable<Uint8Array | string>, signal: AbortSignal, what = 'watch'): AsyncIterable<WatchEvent<T>> {
  const dec = new TextDecoder();
  let buf = '';
  const parse = (line: string): WatchEvent<T> => {
    let ev: WatchEvent<T>;
    try {
      ev = JSON.parse(line) as WatchEvent<T>;
    } catch {
      throw new WharfError('Internal', `${what}: not a watch event: ${line.slice(0, 200)}`);
    }
    if (ev.type === 'ERROR') {
      const st = ev.object as unknown as Partial<Status>;
      throw errorFromStatus(st.code ?? 500, st);
    }
    return ev;
  };
  try {
    for await (const chunk of body) {
      buf += typeof chunk === 'string' ? chunk : dec.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) yield parse(line);
      }
    }
    const rest = (buf + dec.decode()).trim();
    if (rest) yield parse(rest);
  } catch (err) {
    if (signal.aborted) return;
    if (err instanceof WharfError) throw err;
    throw new WharfError('Unavailable', `${what}: the stream broke: ${(err as Error).message}`, { cause: err });
  }
}
