// An informer's cache held in memory, for unit tests: the same reading side as
// controller/informer.ts's ResilientInformer (get, list, event handlers), fed by the test
// instead of a watch. put() delivers an add or an update (with the object it replaced), as the
// informer does; remove() a delete.
import type { InformerEventHandler } from "../../src/controller/informer.js";

interface Named {
  metadata: { name?: string; namespace?: string };
}

export class MemoryCache<T extends Named> {
  private readonly items = new Map<string, T>();
  private readonly handlers = new Set<InformerEventHandler<T>>();

  get(name: string, namespace?: string): T | undefined {
    return this.items.get(`${namespace ?? ""}/${name}`);
  }

  list(): readonly T[] {
    return [...this.items.values()];
  }

  addEventHandler(handler: InformerEventHandler<T>): () => void {
    this.handlers.add(handler);
    return () => { this.handlers.delete(handler); };
  }

  put(obj: T): void {
    const key = keyOf(obj);
    const old = this.items.get(key);
    this.items.set(key, obj);
    for (const h of this.handlers) {
      if (old === undefined) h.onAdd?.(obj);
      else h.onUpdate?.(obj, old);
    }
  }

  remove(obj: T): void {
    const key = keyOf(obj);
    const last = this.items.get(key) ?? obj;
    if (!this.items.delete(key)) return;
    for (const h of this.handlers) h.onDelete?.(last);
  }
}

function keyOf(obj: Named): string {
  return `${obj.metadata.namespace ?? ""}/${obj.metadata.name ?? ""}`;
}
