// Which nodes claim which address, kept up to date from the node informer's events, so that a
// reconcile looks at the few nodes on its address instead of scanning the fleet (a full resync
// would otherwise cost O(n^2)), and an event can name the peers it concerns.

export class AddressIndex {
  private readonly addressOf = new Map<string, string>();
  private readonly keysOf = new Map<string, Set<string>>();

  /** Records `key` on `address` and returns the address it had before, if any. */
  set(key: string, address: string): string | undefined {
    const before = this.addressOf.get(key);
    if (before === address) return before;
    if (before !== undefined) this.remove(key);
    this.addressOf.set(key, address);
    let keys = this.keysOf.get(address);
    if (keys === undefined) this.keysOf.set(address, (keys = new Set()));
    keys.add(key);
    return before;
  }

  delete(key: string): void {
    if (this.addressOf.has(key)) this.remove(key);
  }

  keys(address: string): readonly string[] {
    return [...(this.keysOf.get(address) ?? [])];
  }

  private remove(key: string): void {
    const address = this.addressOf.get(key);
    this.addressOf.delete(key);
    if (address === undefined) return;
    const keys = this.keysOf.get(address);
    keys?.delete(key);
    if (keys?.size === 0) this.keysOf.delete(address);
  }
}
