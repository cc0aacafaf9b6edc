import { constants } from 'node:os';
import { invalid } from '../../core/errors.js';

// Signal names and numbers as Docker accepts them: "KILL", "SIGKILL", "9", "SIGRTMIN+3".

const SIGNALS: Record<string, number> = { ...(constants.signals as Record<string, number>) };
const SIGRTMIN = 34;
const SIGRTMAX = 64;

/** Parses a signal (name with or without SIG, or number); returns its number. InvalidArgument if unknown. */
export function parseSignal(sig: string | number): number {
  if (typeof sig === 'number' || /^[0-9]+$/.test(String(sig).trim())) {
    const n = Number(sig);
    if (!Number.isInteger(n) || n < 1 || n > SIGRTMAX) throw invalid(`Invalid signal: ${sig}`);
    return n;
  }
  const up = sig.trim().toUpperCase();
  const name = up.startsWith('SIG') ? up : `SIG${up}`;
  const rt = /^SIGRTMIN(?:\+([0-9]+))?$/.exec(name) ?? /^SIGRTMAX(?:-([0-9]+))?$/.exec(name);
  if (rt) {
    const off = Number(rt[1] ?? 0);
    const n = name.startsWith('SIGRTMIN') ? SIGRTMIN + off : SIGRTMAX - off;
    if (n < SIGRTMIN || n > SIGRTMAX) throw invalid(`Invalid signal: ${sig}`);
    return n;
  }
  const n = SIGNALS[name];
  if (n === undefined) throw invalid(`Invalid signal: ${sig}`);
  return n;
}

/** The canonical name for a signal number (SIGTERM), or the number as text. */
export function signalName(n: number): string {
  for (const [k, v] of Object.entries(SIGNALS)) if (v === n) return k;
  return String(n);
}
