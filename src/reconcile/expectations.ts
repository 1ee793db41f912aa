// Our own writes, remembered until the watch shows them (client-go's expectations, by address).
// The caches lag the API server: right after we create an entry the cache does not have it,
// and right after we delete one the cache still does. A plan made in that gap could put a
// second entry on an address that already has one, which the sidecars would keep for days
// (docs/decisions/0010). So every create and delete of ours is recorded with its address, the
// entries informer's events clear them, and the planner makes no create on an address with a
// write of ours still unseen.
import type { Clock } from "../controller/clock.js";

// A write the watch never shows (the object changed again before a relist, say) stops holding
// its address after this; the informer's relist has long brought the cache up to date by then.
export const EXPECTATION_TTL_MS = 60_000;

export class Expectations {
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
