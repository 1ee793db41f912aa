// Our own writes, remembered until the watch shows them (client-go's expectations). The caches
// lag the API server: right after we create an object the cache does not have it, and right
// after we delete one the cache still does. A plan made in that gap would act on a state that
// is already gone (docs/decisions/0010):
//   - entries, by address: a second entry on an address that already has one would be kept by
//     the sidecars for days, so the planner makes no create on an address with a write of ours
//     still unseen;
//   - groups, by name: one group a node, of the node's name; a create not yet seen must not be
//     sent twice, and its echo need not wake the node.
// The informers' events (reconcile/watches.ts) clear what they show.
import type { Clock } from "../controller/clock.js";

// A write the watch never shows (the object changed again before a relist, say) stops being
// expected after this; the informer's relist has long brought the cache up to date by then.
export const EXPECTATION_TTL_MS = 60_000;

/** Entry creates and deletes of ours, asked about by address. */
export class AddressExpectations {
  // What is expected, by key: "create ns/name" (a create's watch event matches by name) or
  // "delete uid"; and the same keys by address, which is what the planner asks about.
  private readonly expected = new Map<string, { address: string; at: number }>();
  private readonly byAddress = new Map<string, Set<string>>();

  constructor(private readonly clock: Clock) {}

  expectCreate(namespace: string, name: string, address: string): void {
    this.add(`create ${namespace}/${name}`, namespace, address);
  }

  expectDelete(namespace: string, uid: string, address: string): void {
    this.add(`delete ${uid}`, namespace, address);
  }

  /** An entry the watch added or changed: a create of that name has been seen (true if one was expected). */
  observedPresent(namespace: string, name: string): boolean {
    return this.remove(`create ${namespace}/${name}`);
  }

  /** An entry the watch removed: a delete of that uid, and any create of that name, have been seen. */
  observedGone(namespace: string, name: string, uid: string): void {
    this.remove(`delete ${uid}`);
    this.remove(`create ${namespace}/${name}`);
  }

  /**
   * A delete of ours that found the entry already gone (404) or its name taken by another (409):
   * nothing of it will reach the watch. The cache may have shown the entry's end before the
   * delete was even expected (someone else deleted it, the garbage collector say, while an earlier
   * step of the plan was on its way), and the address would then stay blocked for the whole TTL.
   * If the cache still shows the entry, that blocks the address by itself until the watch catches up.
   */
  deleteFoundNothing(uid: string): void {
    this.remove(`delete ${uid}`);
  }

  /** Whether a create or delete of ours on `address` in `namespace` is not yet in the cache. */
  unseenOn(namespace: string, address: string): boolean {
    const keys = this.byAddress.get(`${namespace}/${address}`);
    if (keys === undefined) return false;
    const now = this.clock.now();
    for (const key of keys) {
      const e = this.expected.get(key);
      if (e !== undefined && now - e.at < EXPECTATION_TTL_MS) return true;
      this.remove(key);
    }
    return false;
  }

  private add(key: string, namespace: string, address: string): void {
    this.remove(key);
    const at = `${namespace}/${address}`;
    this.expected.set(key, { address: at, at: this.clock.now() });
    let keys = this.byAddress.get(at);
    if (keys === undefined) this.byAddress.set(at, (keys = new Set()));
    keys.add(key);
  }

  private remove(key: string): boolean {
    const e = this.expected.get(key);
    if (e === undefined) return false;
    this.expected.delete(key);
    const keys = this.byAddress.get(e.address);
    keys?.delete(key);
    if (keys?.size === 0) this.byAddress.delete(e.address);
    return true;
  }
}

/** Group creates of ours, asked about by the group's name. */
export class NameExpectations {
  /** When each expected create was sent, by "namespace/name". */
  private readonly sent = new Map<string, number>();

  constructor(private readonly clock: Clock) {}

  expectCreate(namespace: string, name: string): void {
    this.sent.set(`${namespace}/${name}`, this.clock.now());
  }

  /** The watch shows an object of that name: a create of it has been seen (true if one was expected). */
  observedPresent(namespace: string, name: string): boolean {
    return this.sent.delete(`${namespace}/${name}`);
  }

  /** The watch shows the object gone: whatever create of that name was expected is over. */
  observedGone(namespace: string, name: string): void {
    this.sent.delete(`${namespace}/${name}`);
  }

  /** Whether a create of ours of that name is not yet in the cache. */
  unseen(namespace: string, name: string): boolean {
    const key = `${namespace}/${name}`;
    const at = this.sent.get(key);
    if (at === undefined) return false;
    if (this.clock.now() - at < EXPECTATION_TTL_MS) return true;
    this.sent.delete(key);
    return false;
  }
}
