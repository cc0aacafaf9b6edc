import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, extname } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { WharfError } from '../core/errors.js';
import type { KubeObject } from '../cluster/apis/meta.js';

// Reads manifests: a file, a directory (its .yaml/.yml/.json files, sorted), or '-' (stdin);
// multi-document YAML and JSON; `kind: List` is flattened.

export interface Manifest {
  source: string;
  object: KubeObject;
}

export function readManifests(paths: readonly string[], stdin: () => string = () => readFileSync(0, 'utf8')): Manifest[] {
  const out: Manifest[] = [];
  for (const p of paths) {
    if (p === '-') {
      out.push(...parseManifests(stdin(), '<stdin>'));
      continue;
    }
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new WharfError('NotFound', `the path "${p}" does not exist`);
    }
    if (st.isDirectory()) {
      const files = readdirSync(p)
        .filter((f) => ['.yaml', '.yml', '.json'].includes(extname(f)))
        .sort();
      for (const f of files) out.push(...parseManifests(readFileSync(join(p, f), 'utf8'), join(p, f)));
    } else out.push(...parseManifests(readFileSync(p, 'utf8'), p));
  }
  return out;
}

export function parseManifests(text: string, source: string): Manifest[] {
  const docs = parseAllDocuments(text);
  const out: Manifest[] = [];
  docs.forEach((d, i) => {
    if (d.errors.length) {
      const e = d.errors[0]!;
      throw new WharfError('InvalidArgument', `error parsing ${source} (document ${i + 1}): ${e.message}`);
    }
    const v = d.toJS() as unknown;
    if (v === null || v === undefined) return;
    const add = (o: unknown, where: string) => {
      if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new WharfError('InvalidArgument', `error parsing ${where}: not an object`);
      const obj = o as KubeObject;
      if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') {
        throw new WharfError('InvalidArgument', `error validating ${where}: apiVersion and kind must be set`);
      }
      obj.metadata ??= {};
      out.push({ source: where, object: obj });
    };
    const o = v as Record<string, unknown>;
    if (o.kind === 'List' || (typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items))) {
      (o.items as unknown[]).forEach((it, j) => add(it, `${source} (document ${i + 1}, item ${j})`));
    } else add(v, docs.length > 1 ? `${source} (document ${i + 1})` : source);
  });
  return out;
}
