// Object keys grouped by one value each (nodes by address, entries by their controlling node),
// kept up to date from informer events, so that a reconcile looks at the few objects of its
// group instead of scanning the fleet (a full resync would otherwise cost O(n^2)), and an event
// can name the peers it concerns.

export class GroupIndex {
  private readonly groupOf = new Map<string, string>();
  private readonly keysOf = new Map<string, Set<string>>();

  /** Records `key` in group `group` and returns the group it was in before, if any. */
  set(key: string, group: string): string | undefined {
    const before = this.groupOf.get(key);
    if (before === group) return before;
    if (before !== undefined) this.remove(key);
    this.groupOf.set(key, group);
    let keys = this.keysOf.get(group);
    if (keys === undefined) this.keysOf.set(group, (keys = new Set()));
    keys.add(key);
    return before;
  }

  delete(key: string): void {
    if (this.groupOf.has(key)) this.remove(key);
  }

  keys(group: string): readonly string[] {
    return [...(this.keysOf.get(group) ?? [])];
  }

  private remove(key: string): void {
    const group = this.groupOf.get(key);
    this.groupOf.delete(key);
    if (group === undefined) return;
    const keys = this.keysOf.get(group);
    keys?.delete(key);
    if (keys?.size === 0) this.keysOf.delete(group);
  }
}
