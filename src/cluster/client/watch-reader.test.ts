import { describe, expect, it } from 'vitest';
import { isWharfError } from '../../core/errors.js';
import { readWatchEvents } from './watch-reader.js';

async function* chunks(parts: (string | Uint8Array)[]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield typeof p === 'string' ? Buffer.from(p) : p;
}

async function collect(parts: (string | Uint8Array)[]): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const ev of readWatchEvents(chunks(parts), new AbortController().signal)) out.push(ev);
  return out;
}

describe('watch reader', () => {
  it('splits events at newlines wherever the network cut them, multi-byte characters included', async () => {
    const line = (name: string) => JSON.stringify({ type: 'ADDED', object: { metadata: { name } } }) + '\n';
    const all = Buffer.from(line('a') + line('žluťoučký') + '\n' + line('c'));
    const cut = all.indexOf(Buffer.from('ž')) + 1; // inside the two-byte ž
    const evs = await collect([all.subarray(0, 5), all.subarray(5, cut), all.subarray(cut)]);
    expect(evs.map((e) => (e as { object: { metadata: { name: string } } }).object.metadata.name)).toEqual(['a', 'žluťoučký', 'c']);
  });

  it('an ERROR event with code 410 throws Gone; a last line without a newline is read', async () => {
    const err = await collect([JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } })]).catch((e: unknown) => e);
    expect(isWharfError(err, 'Gone')).toBe(true);
    expect((err as Error).message).toBe('too old resource version');
  });

  it('a line that is not JSON is an error naming it', async () => {
    await expect(collect(['{"type":"ADDED"\n'])).rejects.toThrow(/not a watch event/);
  });
});
