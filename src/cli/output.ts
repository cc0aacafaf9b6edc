// Docker's text output: tabwriter tables (min width 10, padding 3), go-units sizes and durations.

/** Columns padded like Docker's tabwriter(minwidth 10, padding 3): cell = max(10, text + 3). */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(10, ...all.map((r) => (r[i] ?? '').length + 3)));
  return all
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('')
        .trimEnd(),
    )
    .join('\n')
    .concat('\n');
}

/** go-units HumanSizeWithPrecision(size, 3): decimal units (`4.26MB`). */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(3))}${units[i]}`;
}

export { humanDuration } from '../core/units.js';
import { humanDuration } from '../core/units.js';

export function ago(unixSeconds: number, nowMs = Date.now()): string {
  if (!unixSeconds) return 'N/A';
  return `${humanDuration(nowMs - unixSeconds * 1000)} ago`;
}

/** `sha256:abcdef…` → `abcdef012345` (Docker's 12-character short ID). */
export function shortImageId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

/** Splits a familiar `repo:tag` / `repo@digest` into Docker's REPOSITORY and TAG columns. */
export function splitRepoTag(ref: string): [string, string] {
  const at = ref.indexOf('@');
  if (at >= 0) return [ref.slice(0, at), '<none>'];
  const colon = ref.lastIndexOf(':');
  if (colon > ref.lastIndexOf('/')) return [ref.slice(0, colon), ref.slice(colon + 1)];
  return [ref, '<none>'];
}
