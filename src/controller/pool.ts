// Bounded concurrency: the one helper for "these items, at most N calls in flight" (sync's
// writes, the traffic reporter's status writes).

/** Runs fn over items with at most `limit` in flight; fn gets each item's index in `items`. */
export async function pool<I>(items: readonly I[], limit: number, fn: (item: I, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      await fn(items[index] as I, index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}
