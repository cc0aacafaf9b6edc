import type Docker from 'dockerode';
import { WharfError } from '../core/errors.js';
import { clientErrorMessage, runClient, type ClientFlags } from './client.js';
import { dial } from './container-io.js';
import { formatRows } from './go-template.js';

// What every container command shares: running an action with a client (ExitError → the exit
// code), per-name loops with Docker's error text, filters and list rendering.

export type Action = (...args: any[]) => Promise<void>;
export type Obj = Record<string, any>;
export const collect = (v: string, prev: string[]) => [...prev, v];

export class ExitError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** Runs an action with a client; errors become Docker's text and `errorExitCode`. */
export function act(flags: ClientFlags, fn: (docker: Docker) => Promise<void>, errorExitCode = 1): Promise<void> {
  return runClient(
    flags,
    async (docker) => {
      try {
        await fn(docker);
      } catch (e) {
        if (e instanceof ExitError) {
          if (e.message) process.stderr.write(`${e.message}\n`);
          process.exitCode = e.code;
          return;
        }
        throw e;
      }
    },
    errorExitCode,
  );
}

export const statusOf = (e: unknown) => (e as { statusCode?: number }).statusCode;

export async function inspectContainer(docker: Docker, ref: string): Promise<Obj> {
  return dial<Obj>(docker, { path: `/containers/${encodeURIComponent(ref)}/json`, method: 'GET' });
}

/** Docker's multi-name commands: one error line per failing name, then exit 1. */
export async function perName(names: string[], verb: string, fn: (n: string) => Promise<void>): Promise<void> {
  const failed: string[] = [];
  for (const n of names) {
    try {
      await fn(n);
    } catch (e) {
      if (statusOf(e) === undefined && !(e instanceof WharfError)) throw e;
      process.stderr.write(`${clientErrorMessage(e)}\n`);
      failed.push(n);
    }
  }
  if (failed.length) throw new ExitError(1, verb === 'start' ? `Error: failed to start containers: ${failed.join(', ')}` : '');
}

export function filtersFromFlags(flags: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const f of flags) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new ExitError(125, `invalid argument "${f}" for "-f, --filter" flag: bad format of filter (expected name=value)`);
    (out[f.slice(0, eq)] ??= []).push(f.slice(eq + 1));
  }
  return out;
}

/** Renders rows with Docker's format rules: table (default), json, or a Go template. */
export function renderList(format: string | undefined, defTable: string, rows: Obj[], headers: Record<string, string>): string {
  const fmt = format ?? defTable;
  if (fmt === 'json') return rows.map((r) => `${JSON.stringify(plain(r))}\n`).join('');
  if (fmt === 'table') return formatRows(defTable, rows, headers);
  return formatRows(fmt, rows, headers);
}

/** A context object without its methods, for `--format json`. */
function plain(r: Obj): Obj {
  return Object.fromEntries(Object.entries(r).filter(([, v]) => typeof v !== 'function'));
}

export function simpleMany(verb: string, call: (docker: Docker, n: string, f: Obj) => Promise<void>) {
  return (names: string[], f: ClientFlags & Obj) => act(f, (docker) => perName(names, verb, async (n) => {
    await call(docker, n, f);
    process.stdout.write(`${n}\n`);
  }));
}
