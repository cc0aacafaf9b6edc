import { isWharfError } from '../../core/errors.js';
import type { ResourceApi } from '../client/resource-api.js';
import { Controller, type ReconcileResult } from './controller.js';
import type { ControllerContext } from './context.js';
import { Informer } from '../client/informer.js';
import { clone, keyOf, type Obj, type OwnerRef } from './objects.js';

// The garbage collector: objects whose ownerReferences all point at owners that no
// longer exist are deleted (background cascading); dangling references next to live
// owners are dropped. An owner being deleted with the `foregroundDeletion` finalizer
// has its dependents deleted first, then the finalizer removed; with the `orphan`
// finalizer its dependents lose their reference to it, then the finalizer is removed.
// Owner existence is confirmed with a live GET (uid compared) before anything is
// deleted, so a lagging cache never deletes a dependent of a live owner.

export const FOREGROUND = 'foregroundDeletion';
export const ORPHAN = 'orphan';

const gvk = (apiVersion: string, kind: string) => `${apiVersion}|${kind}`;

export class GarbageCollector {
  readonly controller: Controller;
  private readonly byKind = new Map<string, Informer<Obj>>();

  constructor(
    private readonly ctx: ControllerContext,
    informers: readonly Informer<Obj>[],
  ) {
    this.controller = new Controller({ name: 'garbage-collector', clock: ctx.clock, log: ctx.log, reconcile: (k) => this.reconcile(k), ...(ctx.workers ? { workers: ctx.workers } : {}) });
    for (const inf of informers) {
      const kk = gvk(inf.api.apiVersion, inf.api.kind);
      this.byKind.set(kk, inf);
      const enq = (o: Obj) => this.controller.enqueue(`${kk}|${keyOf(o)}`);
      inf.addHandlers({
        onAdd: (o) => {
          if (o.metadata.ownerReferences?.length || o.metadata.deletionTimestamp) enq(o);
        },
        onUpdate: (_old, o) => {
          if (o.metadata.ownerReferences?.length || o.metadata.deletionTimestamp) enq(o);
        },
        onDelete: (o) => {
          // its dependents may now be garbage, and a foreground owner may be waiting on it
          for (const d of this.dependentsOf(o.metadata.uid ?? '')) this.controller.enqueue(`${gvk(d.apiVersion, d.kind)}|${keyOf(d)}`);
          for (const r of o.metadata.ownerReferences ?? []) {
            const owner = this.byKind.get(gvk(r.apiVersion, r.kind))?.list((x) => x.metadata.uid === r.uid)[0];
            if (owner) this.controller.enqueue(`${gvk(r.apiVersion, r.kind)}|${keyOf(owner)}`);
          }
        },
      });
    }
  }

  private dependentsOf(uid: string): Obj[] {
    const out: Obj[] = [];
    for (const inf of this.byKind.values()) for (const o of inf.list((x) => (x.metadata.ownerReferences ?? []).some((r) => r.uid === uid))) out.push(o);
    return out;
  }

  /** Whether the owner named by ref exists with that uid (live read). */
  private async ownerAlive(ref: OwnerRef, namespace: string | undefined): Promise<boolean> {
    const inf = this.byKind.get(gvk(ref.apiVersion, ref.kind));
    if (!inf) return true; // a kind the collector does not watch: never assume it is gone
    try {
      const o = await inf.api.get(inf.api.namespaced ? namespace : undefined, ref.name);
      return o.metadata.uid === ref.uid;
    } catch (err) {
      if (isWharfError(err, 'NotFound')) return false;
      throw err;
    }
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const [apiVersion, kind, k] = key.split('|') as [string, string, string];
    const inf = this.byKind.get(gvk(apiVersion, kind));
    const cached = inf?.get(k);
    if (!inf || !cached) return;
    const o = clone(cached);
    const api = inf.api;
    const ns = o.metadata.namespace;
    const name = o.metadata.name ?? '';
    const fins = o.metadata.finalizers ?? [];

    if (o.metadata.deletionTimestamp && fins.includes(ORPHAN)) {
      for (const d of this.dependentsOf(o.metadata.uid ?? '')) {
        const dinf = this.byKind.get(gvk(d.apiVersion, d.kind))!;
        const nd = clone(d);
        nd.metadata.ownerReferences = (nd.metadata.ownerReferences ?? []).filter((r) => r.uid !== o.metadata.uid);
        try {
          await dinf.api.update(nd);
        } catch (err) {
          if (!isWharfError(err, 'NotFound')) throw err;
        }
      }
      o.metadata.finalizers = fins.filter((f) => f !== ORPHAN);
      await ignoreGone(api.update(o));
      return;
    }
    if (o.metadata.deletionTimestamp && fins.includes(FOREGROUND)) {
      const deps = this.dependentsOf(o.metadata.uid ?? '');
      for (const d of deps) {
        if (d.metadata.deletionTimestamp) continue;
        const dinf = this.byKind.get(gvk(d.apiVersion, d.kind))!;
        await ignoreGone(dinf.api.delete(d.metadata.namespace, d.metadata.name ?? '', { propagationPolicy: 'Foreground', uid: d.metadata.uid ?? '' }));
      }
      const blocking = deps.filter((d) => (d.metadata.ownerReferences ?? []).some((r) => r.uid === o.metadata.uid && r.blockOwnerDeletion === true));
      if (blocking.length > 0) return { requeueAfterMs: 1000 }; // wait for them to go
      o.metadata.finalizers = fins.filter((f) => f !== FOREGROUND);
      await ignoreGone(api.update(o));
      return;
    }
    const refs = o.metadata.ownerReferences ?? [];
    if (refs.length === 0) return;
    const alive: OwnerRef[] = [];
    for (const r of refs) if (await this.ownerAlive(r, ns)) alive.push(r);
    if (alive.length === refs.length) return;
    if (alive.length === 0) {
      if (o.metadata.deletionTimestamp) return;
      this.ctx.log.debug({ object: key }, 'garbage collecting: every owner is gone');
      await ignoreGone(api.delete(ns, name, { propagationPolicy: 'Background', uid: o.metadata.uid ?? '' }));
      return;
    }
    o.metadata.ownerReferences = alive;
    await ignoreGone(api.update(o));
  }
}

async function ignoreGone<T>(p: Promise<T>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!isWharfError(err, 'NotFound')) throw err;
  }
}

/**
 * Namespace deletion: a namespace being deleted (phase Terminating, `kubernetes` in
 * spec.finalizers) has every namespaced object in it deleted; when none is left, the
 * `kubernetes` finalizer is removed through the finalize subresource and the API server
 * removes the namespace.
 */
export class NamespaceController {
  readonly controller: Controller;

  constructor(
    private readonly ctx: ControllerContext,
    private readonly nsInf: Informer<Obj>,
    private readonly contents: readonly ResourceApi<Obj>[],
    private readonly finalize: (ns: Obj) => Promise<unknown>,
  ) {
    this.controller = new Controller({ name: 'namespace', clock: ctx.clock, log: ctx.log, reconcile: (k) => this.reconcile(k), ...(ctx.workers ? { workers: ctx.workers } : {}) });
    nsInf.addHandlers({
      onAdd: (n) => n.metadata.deletionTimestamp && this.controller.enqueue(keyOf(n)),
      onUpdate: (_o, n) => n.metadata.deletionTimestamp && this.controller.enqueue(keyOf(n)),
    });
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const cached = this.nsInf.get(key);
    if (!cached?.metadata.deletionTimestamp) return;
    let left = 0;
    for (const api of this.contents) {
      if (!api.namespaced) continue;
      const items = (await api.list({ namespace: key })).items;
      left += items.length;
      for (const o of items) {
        if (o.metadata.deletionTimestamp) continue;
        await ignoreGone(api.delete(key, o.metadata.name ?? '', { propagationPolicy: 'Background' }));
      }
    }
    if (left > 0) return { requeueAfterMs: 1000 };
    const ns = clone(cached);
    const spec = (ns.spec ?? {}) as { finalizers?: string[] };
    if (!(spec.finalizers ?? []).includes('kubernetes')) return;
    ns.spec = { ...spec, finalizers: (spec.finalizers ?? []).filter((f) => f !== 'kubernetes') };
    await this.finalize(ns);
  }
}
