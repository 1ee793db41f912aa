import { ApiException, KubeConfig, type KubernetesListObject, type KubernetesObject, Watch } from "@kubernetes/client-node";

import { FakeClock } from "./clock.js";
import { compact, pagedList, ResilientInformer, type RestartInfo } from "./informer.js";

// These tests drive client-node's real ListWatch; only the HTTP watch underneath is scripted.

type Obj = KubernetesObject;
type WatchArgs = Parameters<Watch["watch"]>;

interface OpenWatch {
  query: WatchArgs[1];
  send(type: string, obj: object): void;
  end(err: unknown): void;
  controller: AbortController;
}

class ScriptedWatch extends Watch {
  readonly opened: OpenWatch[] = [];
  failNextWith: Error | undefined;

  constructor() {
    super(new KubeConfig());
  }

  override watch(...[, queryParams, callback, done]: WatchArgs): Promise<AbortController> {
    if (this.failNextWith !== undefined) {
      const err = this.failNextWith;
      this.failNextWith = undefined;
      return Promise.reject(err);
    }
    const controller = new AbortController();
    let ended = false;
    const end = (err: unknown): void => {
      if (ended) return;
      ended = true;
      done(err);
    };
    // Like the real Watch, aborting reports an AbortError through done.
    controller.signal.addEventListener("abort", () => { end(new DOMException("aborted", "AbortError")); });
    this.opened.push({ query: queryParams, send: (type, obj) => { callback(type, obj); }, end, controller });
    return Promise.resolve(controller);
  }

  last(): OpenWatch {
    const w = this.opened.at(-1);
    if (w === undefined) throw new Error("no watch opened");
    return w;
  }
}

function obj(name: string, resourceVersion: string): Obj {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "ns", resourceVersion } };
}

function httpError(statusCode: number): Error {
  return Object.assign(new Error(`HTTP ${statusCode}`), { statusCode });
}

function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function setup(hooks: { onListed?: (info: { items: number; durationMs: number }) => void } = {}) {
  const clock = new FakeClock();
  const watch = new ScriptedWatch();
  const server = { items: [obj("a", "1"), obj("b", "2")], resourceVersion: "10", listCalls: 0, listError: undefined as Error | undefined };
  const restarts: RestartInfo[] = [];
  const events: string[] = [];
  const informer = new ResilientInformer<Obj>({
    kubeConfig: new KubeConfig(),
    path: "/api/v1/namespaces/ns/configmaps",
    listPage: (): Promise<KubernetesListObject<Obj>> => {
      server.listCalls++;
      if (server.listError !== undefined) return Promise.reject(server.listError);
      return Promise.resolve({ metadata: { resourceVersion: server.resourceVersion }, items: server.items.map((o) => structuredClone(o)) });
    },
    backoff: { jitterFactor: 0 },
    clock,
    watch,
    hooks: { ...hooks, onRestart: (info) => restarts.push(info), onHandlerError: (err, event) => events.push(`handler-error:${event}:${String(err)}`) },
  });
  informer.addEventHandler({
    onAdd: (o) => events.push(`add:${o.metadata?.name ?? ""}`),
    onUpdate: (o, old) => events.push(`update:${o.metadata?.name ?? ""}:${old?.metadata?.resourceVersion ?? "?"}->${o.metadata?.resourceVersion ?? "?"}`),
    onDelete: (o) => events.push(`delete:${o.metadata?.name ?? ""}`),
  });
  return { clock, watch, server, restarts, events, informer };
}

describe("ResilientInformer", () => {
  it("lists, syncs, then watches from the list's resourceVersion; updates carry the old object", async () => {
    const { watch, events, informer } = setup();
    expect(informer.hasSynced()).toBe(false);
    const synced = informer.waitForSync();
    informer.start();
    expect(await synced).toBe(true);
    expect(informer.hasSynced()).toBe(true);
    expect(events).toEqual(["add:a", "add:b"]);
    expect(watch.last().query).toMatchObject({ resourceVersion: "10" });
    watch.last().send("MODIFIED", obj("a", "11"));
    watch.last().send("ADDED", obj("c", "12"));
    watch.last().send("DELETED", obj("b", "13"));
    expect(events.slice(2)).toEqual(["update:a:1->11", "add:c", "delete:b"]);
    expect(informer.get("a", "ns")?.metadata?.resourceVersion).toBe("11");
    expect(informer.list().map((o) => o.metadata?.name).sort()).toEqual(["a", "c"]);
    await informer.stop();
  });

  it("restarts after a watch failure, and delivers deletes that happened during the outage", async () => {
    const { clock, watch, server, restarts, events, informer } = setup();
    informer.start();
    await tick();
    watch.last().send("MODIFIED", obj("a", "11"));

    // A 500 from the watch: client-node emits 'error' and stops.
    watch.last().end(httpError(500));
    expect(restarts).toMatchObject([{ attempt: 1, delayMs: 200 }]);
    // While it is down, b is deleted and the history it would resume from is compacted away.
    server.items = [obj("a", "11")];
    server.resourceVersion = "20";
    await clock.advance(199);
    expect(watch.opened).toHaveLength(1);
    await clock.advance(1);

    // The restart resumes from the last resourceVersion rather than relisting...
    expect(watch.opened).toHaveLength(2);
    expect(watch.last().query).toMatchObject({ resourceVersion: "11" });
    expect(server.listCalls).toBe(1);
    // ...the server says it is too old, so ListWatch relists and diffs against its cache.
    watch.last().send("ERROR", { code: 410, message: "too old resource version" });
    watch.last().end(null);
    await tick();
    expect(server.listCalls).toBe(2);
    expect(events).toEqual(["add:a", "add:b", "update:a:1->11", "delete:b"]);
    expect(informer.list().map((o) => o.metadata?.name)).toEqual(["a"]);
    expect(watch.last().query).toMatchObject({ resourceVersion: "20" });
    expect(restarts).toHaveLength(1);
    await informer.stop();
  });

  it("retries a failing initial list with growing delays, never in a tight loop", async () => {
    const { clock, server, restarts, informer } = setup();
    server.listError = httpError(503);
    let synced: boolean | undefined;
    void informer.waitForSync().then((s) => { synced = s; });
    informer.start();
    await clock.advance(200 + 400 + 800 + 1600 - 1);
    expect(server.listCalls).toBe(4);
    expect(restarts.map((r) => r.delayMs)).toEqual([200, 400, 800, 1600]);
    expect(synced).toBeUndefined();
    server.listError = undefined;
    await clock.advance(1);
    expect(synced).toBe(true);
    await informer.stop();
  });

  it("waits at least the server's Retry-After after a 429 on the list", async () => {
    const { clock, server, restarts, informer } = setup();
    server.listError = new ApiException(429, "too many requests", "{}", { "retry-after": "5" });
    informer.start();
    await clock.advance(4999);
    expect(server.listCalls).toBe(1);
    expect(restarts).toMatchObject([{ attempt: 1, delayMs: 5000, retryAfterMs: 5000 }]);
    server.listError = undefined;
    await clock.advance(1);
    expect(server.listCalls).toBe(2);
    expect(informer.hasSynced()).toBe(true);
    await informer.stop();
  });

  it("waits a second after a 429 on the watch, whose headers client-node drops", async () => {
    const { clock, watch, restarts, informer } = setup();
    informer.start();
    await tick();
    watch.last().end(httpError(429));
    expect(restarts).toMatchObject([{ attempt: 1, delayMs: 1000, retryAfterMs: 1000 }]);
    await clock.advance(999);
    expect(watch.opened).toHaveLength(1);
    await clock.advance(1);
    expect(watch.opened).toHaveLength(2);
    await informer.stop();
  });

  it("caps the delay, and starts over after a healthy period", async () => {
    const { clock, watch, restarts, informer } = setup();
    informer.start();
    await tick();
    for (let i = 0; i < 10; i++) {
      watch.last().end(httpError(500));
      await clock.advance(restarts.at(-1)?.delayMs ?? 0);
    }
    expect(restarts.map((r) => r.delayMs)).toEqual([200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000]);
    await clock.advance(120_000);
    watch.last().end(httpError(500));
    expect(restarts.at(-1)).toMatchObject({ attempt: 1, delayMs: 200 });
    await informer.stop();
  });

  it("turns a Watch that throws (e.g. an auth provider failing) into a restart, not a crash", async () => {
    const { clock, watch, restarts, informer } = setup();
    watch.failNextWith = new Error("exec credential plugin failed");
    informer.start();
    await tick();
    expect(restarts).toHaveLength(1);
    expect(String(restarts[0]?.error)).toContain("exec credential plugin failed");
    await clock.advance(200);
    expect(watch.opened).toHaveLength(1);
    await informer.stop();
  });

  it("reconnects on its own after a clean stream end, without counting a restart", async () => {
    const { clock, watch, restarts, informer } = setup();
    informer.start();
    await tick();
    watch.last().end(null);
    await tick();
    expect(watch.opened).toHaveLength(2);
    // A second quiet close makes ListWatch wait 1 s itself (on our clock) before reconnecting.
    watch.last().end(null);
    await clock.advance(999);
    expect(watch.opened).toHaveLength(2);
    await clock.advance(1);
    expect(watch.opened).toHaveLength(3);
    expect(restarts).toHaveLength(0);
    await informer.stop();
  });

  it("isolates a throwing handler from the informer and from other handlers", async () => {
    const { watch, events, informer } = setup();
    informer.addEventHandler({ onUpdate: () => { throw new Error("bad handler"); } });
    informer.start();
    await tick();
    watch.last().send("MODIFIED", obj("a", "11"));
    expect(events).toContain("update:a:1->11");
    expect(events).toContain("handler-error:update:Error: bad handler");
    await informer.stop();
  });

  it("replays the cache to a handler registered late, and unregisters", async () => {
    const { watch, informer } = setup();
    informer.start();
    await tick();
    const late: string[] = [];
    const off = informer.addEventHandler({ onAdd: (o) => late.push(o.metadata?.name ?? "") });
    expect(late.sort()).toEqual(["a", "b"]);
    off();
    watch.last().send("ADDED", obj("c", "12"));
    expect(late).toHaveLength(2);
    await informer.stop();
  });

  it("stop() closes the watch, cancels restarts, and silences handlers", async () => {
    const { clock, watch, server, restarts, events, informer } = setup();
    server.listError = httpError(500);
    let synced: boolean | undefined;
    void informer.waitForSync().then((s) => { synced = s; });
    informer.start();
    await tick();
    expect(restarts).toHaveLength(1);
    await informer.stop();
    expect(synced).toBe(false);
    expect(clock.pending()).toBe(0);
    server.listError = undefined;
    await clock.advance(60_000);
    expect(server.listCalls).toBe(1);
    expect(watch.opened).toHaveLength(0);
    expect(events).toEqual([]);
    expect(await informer.waitForSync()).toBe(false);
  });

  it("stop() during a list keeps ListWatch from opening a watch afterwards", async () => {
    const { watch, informer } = setup();
    informer.start();
    const stopping = informer.stop();
    await tick();
    await stopping;
    expect(watch.opened).toHaveLength(0);
  });

  it("stop() aborts the open watch and ignores the AbortError it reports", async () => {
    const { watch, restarts, informer } = setup();
    informer.start();
    await tick();
    const open = watch.last();
    await informer.stop();
    expect(open.controller.signal.aborted).toBe(true);
    expect(restarts).toHaveLength(0);
  });

  it("waitForSync gives up when its signal aborts", async () => {
    const { server, informer } = setup();
    server.listError = httpError(500);
    informer.start();
    const abort = new AbortController();
    const waiting = informer.waitForSync(abort.signal);
    abort.abort();
    expect(await waiting).toBe(false);
    await informer.stop();
  });

  it("caches objects without managedFields or kubectl's last-applied copy, from the list and the watch, and asks for bookmarks", async () => {
    const { server, watch, informer } = setup();
    const heavy = (name: string, rv: string): Obj => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name,
        namespace: "ns",
        resourceVersion: rv,
        managedFields: [{ manager: "kubectl", operation: "Apply" }],
        annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{...}", keep: "me" },
      },
    });
    server.items = [heavy("a", "1")];
    informer.start();
    await tick();
    watch.last().send("ADDED", heavy("c", "11"));
    for (const name of ["a", "c"]) {
      expect(informer.get(name, "ns")?.metadata).toEqual({ name, namespace: "ns", resourceVersion: name === "a" ? "1" : "11", annotations: { keep: "me" } });
    }
    expect(watch.last().query).toMatchObject({ allowWatchBookmarks: true, resourceVersion: "10" });
    await informer.stop();
  });

  it("reports each full list with its size, the first and every relist after 410", async () => {
    const listed: number[] = [];
    const { server, watch, informer } = setup({ onListed: ({ items }) => { listed.push(items); } });
    informer.start();
    await tick();
    server.items = [obj("a", "1")];
    watch.last().end(httpError(410));
    await tick();
    await tick();
    expect(listed).toEqual([2, 1]);
    await informer.stop();
  });
});

describe("ResilientInformer health", () => {
  it("counts how long it has been failing, and is healthy again after a successful list", async () => {
    const { clock, server, informer } = setup();
    server.listError = httpError(500);
    informer.start();
    await tick();
    expect(informer.downForMs()).toBe(0);
    await clock.advance(100);
    expect(informer.downForMs()).toBe(100);
    server.listError = undefined;
    await clock.advance(1_000); // past the first restart's backoff
    await tick();
    expect(informer.hasSynced()).toBe(true);
    expect(informer.downForMs()).toBe(0);
    await informer.stop();
  });
});

describe("ResilientInformer relist", () => {
  it("keeps the cached object for every unchanged resourceVersion (the peak is the cache plus what changed)", async () => {
    const { server, watch, events, informer } = setup();
    informer.start();
    await tick();
    const a = informer.get("a", "ns");
    const b = informer.get("b", "ns");
    server.items = [obj("a", "1"), obj("b", "3")];
    events.length = 0;
    watch.last().end(httpError(410));
    await tick();
    await tick();
    expect(informer.get("a", "ns")).toBe(a);
    expect(informer.get("b", "ns")).not.toBe(b);
    expect(events).toEqual(["update:b:2->3"]);
    await informer.stop();
  });
});

describe("compact", () => {
  it("leaves an object without the dropped fields as it is", () => {
    const o = obj("a", "1");
    expect(compact(structuredClone(o))).toEqual(o);
  });
});

describe("pagedList", () => {
  const page = (items: string[], next: string | undefined, rv: string): KubernetesListObject<Obj> => ({
    metadata: { resourceVersion: rv, ...(next !== undefined ? { continue: next } : {}) },
    items: items.map((n) => obj(n, rv)),
  });

  it("follows continue tokens (raw `continue` and typed `_continue`) and ends on an empty one", async () => {
    const calls: (string | undefined)[] = [];
    const pages: Record<string, KubernetesListObject<Obj>> = {
      first: page(["a", "b"], "t1", "7"),
      t1: { ...page(["c"], undefined, "7"), metadata: { resourceVersion: "7", _continue: "t2" } },
      t2: page(["d"], "", "7"),
    };
    const list = pagedList<Obj>((token, limit) => {
      calls.push(token);
      expect(limit).toBe(2);
      const p = pages[token ?? "first"];
      return p === undefined ? Promise.reject(new Error(`no page ${String(token)}`)) : Promise.resolve(p);
    }, 2);
    const all = await list();
    expect(calls).toEqual([undefined, "t1", "t2"]);
    expect(all.items.map((o) => o.metadata?.name)).toEqual(["a", "b", "c", "d"]);
    expect(all.metadata?.resourceVersion).toBe("7");
  });
});
