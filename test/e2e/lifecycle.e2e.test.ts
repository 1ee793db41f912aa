// One node's life under one operator (ADDRESS_POLICY=any, no leader election). A node's entry is
// named <node>-<8 hex> (a digest of address, app, version, serviceAccount) and found by its label
// mesh.sigma.io/xrayr-node=<node>; exactly one exists per served node.
//  1) create -> exact entry within 2 s;  1b) a 63-character node name gets its 72-character entry
//  2) address/version changes -> the entry is replaced: the old one deleted first, then one under
//     the new name, never two at once (watched); labels/country changes -> updated in place
//  2b) an entry of the old naming (named <node>) is replaced the same way
//  3) no operator, node deleted -> GC removes the entry within 30 s
//  4) entry deleted by hand -> re-created under the same name; edited by hand -> restored in place
//  6) two nodes on one address -> AddressConflict on the newer; the older deleted -> newer served
//  6b) addresses swapped and rotated in a circle while no operator runs -> all served on start
//  7) a foreign entry under the node's entry name -> NameTaken, the entry untouched; a foreign
//     entry named exactly <node> blocks nothing
import { auditOffset, auditSince, summarize, writesBy } from "./support/audit.js";
import { EntryWatch } from "./support/entry-watch.js";
import {
  ENTRY_SERVICE_ACCOUNT,
  expectedEntryName,
  MANAGED_BY,
  NODE_LABEL,
  nodeEntries,
  ofNode,
  OPERATOR_NAME,
  probeConverged,
  readyCondition,
  SUITE_LABEL,
  waitConverged,
  waitEntryGone,
  waitNodeEntriesGone,
  waitReason,
  WORKLOAD_NAME_LABEL,
} from "./support/fixtures.js";
import { e2eFile, withLogs } from "./support/harness.js";
import { adminClient, ENTRY_GROUP, ENTRY_VERSION, NODE_API_VERSION, type WorkloadEntry } from "./support/kube.js";
import { GC_USER, lab, NAMESPACE, OPERATOR_USER } from "./support/lab.js";
import { startOperator, type OperatorProcess } from "./support/operator.js";
import { holds, note, pending, sleep, waitFor } from "./support/wait.js";

const fleet = e2eFile("lifecycle");
const T = 90_000;
const ENTRY_NAME = /^(.+)-([0-9a-f]{8})$/;
let op: OperatorProcess;
let operators = 0;

async function freshOperator(): Promise<void> {
  op = await startOperator({ name: `life-${++operators}` });
}

beforeAll(freshOperator, 60_000);

describe("lifecycle", () => {
  it(
    "1) a new XrayrNode gets its exact WorkloadEntry <node>-<hash> (address, labels, serviceAccount, ownerReference) within 2 s",
    withLogs("1 create", async () => {
      const created = await fleet.create("create", {
        labels: { team: "core", "example.com/tier": "edge", empty: "" },
        locality: "eu-central/fsn1",
        vpsId: "hetzner-42",
      });
      const name = created.metadata.name;
      const t0 = Date.now();
      const { node, entry } = await waitConverged(name, 2_000);
      note(`1: entry ${entry.metadata.name} exact ${Date.now() - t0} ms after the node was created`);
      expect(entry.metadata.name).toMatch(ENTRY_NAME);
      expect(ENTRY_NAME.exec(entry.metadata.name)?.[1]).toBe(name);
      expect(entry.metadata.name).toBe(expectedEntryName(created));
      expect(entry.spec.address).toBe(created.spec.address);
      expect(entry.spec.labels).toEqual({
        team: "core",
        "example.com/tier": "edge",
        empty: "",
        app: "xrayr",
        version: "v1",
        country: "de",
        "security.istio.io/tlsMode": "disabled",
        [WORKLOAD_NAME_LABEL]: name,
      });
      expect(entry.spec.serviceAccount).toBe(ENTRY_SERVICE_ACCOUNT);
      expect(entry.spec.locality).toBe("eu-central/fsn1");
      expect(entry.metadata.labels?.[MANAGED_BY]).toBe(OPERATOR_NAME);
      expect(entry.metadata.labels?.[NODE_LABEL]).toBe(name);
      expect(entry.metadata.ownerReferences).toEqual([
        { apiVersion: "mesh.sigma.io/v1alpha1", kind: "XrayrNode", name, uid: created.metadata.uid, controller: true, blockOwnerDeletion: true },
      ]);
      expect(readyCondition(node)).toMatchObject({ status: "True", reason: "Reconciled" });
      expect(readyCondition(node)?.message).toContain(entry.metadata.name);
      expect(node.status?.observedGeneration).toBe(1);
      expect(node.status?.workloadEntry).toBe(entry.metadata.name);
      expect(await nodeEntries(name)).toHaveLength(1);
    }),
    T,
  );

  it(
    "1b) the longest node name (63 characters) gets its 72-character entry, named in its status",
    withLogs("1b long name", async () => {
      const base = fleet.name("long");
      const long = `${base}-${"x".repeat(63 - base.length - 1)}`;
      expect(long).toHaveLength(63);
      await adminClient().nodes.create(fleet.manifest(long));
      const longest = await waitConverged(long, 5_000);
      expect(longest.entry.metadata.name).toHaveLength(72);
      expect(longest.entry.spec.labels?.[WORKLOAD_NAME_LABEL]).toBe(long);
    }),
    T,
  );

  it(
    "2) address/version changes replace the entry (old deleted first, new name, never two at once); labels/country changes update it in place; observedGeneration follows",
    withLogs("2 update", async () => {
      const { nodes, entries } = adminClient();
      const n = await fleet.create("update", { labels: { team: "core", keep: "yes" } });
      const name = n.metadata.name;
      const first = await waitConverged(name, 5_000);
      const steps: [string, unknown, "replaced" | "in place"][] = [
        ["address", { spec: { address: fleet.address() } }, "replaced"],
        ["version", { spec: { version: "v2" } }, "replaced"],
        ["labels", { spec: { labels: { team: null, zone: "fsn1-dc14" } } }, "in place"],
        ["address+version+labels", { spec: { address: fleet.address(), version: "2024.06-rc_1", labels: { keep: null, "example.com/owner": "ops" } } }, "replaced"],
        ["country", { spec: { country: "jp" } }, "in place"],
        ["locality", { spec: { locality: "ap-northeast/nrt1" } }, "in place"],
      ];
      let generation = first.node.metadata.generation ?? 1;
      let prev: WorkloadEntry = first.entry;
      let replacements = 0;
      const watch = await EntryWatch.start();
      try {
        for (const [what, patch, how] of steps) {
          const patched = await nodes.patch(name, patch);
          expect(patched.metadata.generation).toBe(++generation);
          const t0 = Date.now();
          const { node, entry } = await waitConverged(name, 5_000);
          note(`2: ${what} followed in ${Date.now() - t0} ms (generation ${generation}, ${how}: ${prev.metadata.name} -> ${entry.metadata.name})`);
          expect(node.metadata.generation).toBe(generation);
          expect(node.status?.observedGeneration).toBe(generation);
          expect(node.status?.workloadEntry).toBe(entry.metadata.name);
          const cond = readyCondition(node);
          if (cond?.observedGeneration !== undefined) expect(cond.observedGeneration).toBe(generation);
          if (how === "replaced") {
            replacements++;
            expect({ what, name: entry.metadata.name === prev.metadata.name, uid: entry.metadata.uid === prev.metadata.uid }).toEqual({ what, name: false, uid: false });
            expect(await entries.find(prev.metadata.name)).toBeUndefined();
          } else {
            expect({ what, name: entry.metadata.name, uid: entry.metadata.uid }).toEqual({ what, name: prev.metadata.name, uid: prev.metadata.uid });
          }
          expect(await nodeEntries(name)).toHaveLength(1);
          prev = entry;
        }
        await sleep(500); // a late second entry would show in the record
      } finally {
        watch.stop();
      }
      const mine = ofNode(first.node);
      const story = watch.story(mine);
      // Every state the API server went through: never two entries of the node at once.
      expect({ peak: watch.peak(mine), story }).toEqual({ peak: { count: 1, names: [expect.any(String) as unknown] }, story });
      expect(story.filter((l) => l.startsWith("ADDED"))).toHaveLength(replacements);
      expect(story.filter((l) => l.startsWith("DELETED"))).toHaveLength(replacements);
      const { entry } = await waitConverged(name, 5_000);
      expect(entry.spec.labels).toEqual({
        zone: "fsn1-dc14",
        "example.com/owner": "ops",
        app: "xrayr",
        version: "2024.06-rc_1",
        country: "jp",
        "security.istio.io/tlsMode": "disabled",
        [WORKLOAD_NAME_LABEL]: name,
      });
      expect(entry.spec.locality).toBe("ap-northeast/nrt1");
    }),
    T,
  );

  it(
    "2b) an entry of the old naming (named like its node) is replaced: deleted first, then created as <node>-<hash>",
    withLogs("2b upgrade", async () => {
      const { entries } = adminClient();
      expect(await op.stop()).toEqual({ code: 0, signal: null });
      const node = await fleet.create("upgrade", { version: "v3" });
      const name = node.metadata.name;
      // What the previous operator wrote: the node's name, no workload-name label.
      await entries.create({
        apiVersion: `${ENTRY_GROUP}/${ENTRY_VERSION}`,
        kind: "WorkloadEntry",
        metadata: {
          name,
          namespace: NAMESPACE,
          labels: { [MANAGED_BY]: OPERATOR_NAME, [NODE_LABEL]: name, app: "xrayr", country: "de", "security.istio.io/tlsMode": "disabled" },
          ownerReferences: [{ apiVersion: NODE_API_VERSION, kind: "XrayrNode", name, uid: node.metadata.uid, controller: true, blockOwnerDeletion: true }],
        },
        spec: { address: node.spec.address, serviceAccount: ENTRY_SERVICE_ACCOUNT, labels: { app: "xrayr", version: "v3", country: "de", "security.istio.io/tlsMode": "disabled" } },
      });
      const watch = await EntryWatch.start();
      try {
        await freshOperator();
        const { entry } = await waitConverged(name, 10_000);
        expect(entry.metadata.name).toBe(expectedEntryName(node));
        expect(await entries.find(name)).toBeUndefined();
        await sleep(500);
      } finally {
        watch.stop();
      }
      const mine = ofNode(node);
      const story = watch.story(mine);
      expect({ peak: watch.peak(mine).count, story }).toEqual({ peak: 1, story: [`DELETED ${name}`, `ADDED ${expectedEntryName(node)}`] });
    }),
    T,
  );

  it(
    "3) with no operator running, deleting the node gets its entry and its WorkloadGroup removed by the garbage collector within 30 s",
    withLogs("3 gc", async () => {
      const n = await fleet.create("gc");
      const name = n.metadata.name;
      const { entry } = await waitConverged(name, 5_000);
      const exit = await op.stop();
      expect(exit).toEqual({ code: 0, signal: null });
      const offset = lab().auditLog !== undefined ? auditOffset() : -1;
      await adminClient().nodes.delete(name);
      const t0 = Date.now();
      await waitEntryGone(entry.metadata.name, 30_000);
      await waitNodeEntriesGone(name, 1_000);
      const tEntry = Date.now() - t0;
      await waitFor("the node's WorkloadGroup collected", async () => ((await adminClient().groups.find(name)) === undefined ? true : pending("still there")), { timeoutMs: 30_000, intervalMs: 100 });
      note(`3: entry removed ${tEntry} ms and group ${Date.now() - t0} ms after the node's deletion, no operator running`);
      if (offset >= 0) {
        const events = auditSince(offset);
        const deletes = writesBy(events, { verb: "delete", resource: "workloadentries", name: entry.metadata.name });
        expect(deletes.map((e) => e.user.username)).toEqual([GC_USER]);
        expect(writesBy(events, { verb: "delete", resource: "workloadgroups", name }).map((e) => e.user.username)).toEqual([GC_USER]);
        expect(summarize(writesBy(events, { user: OPERATOR_USER }))).toEqual({});
      }
      await freshOperator();
    }),
    T,
  );

  it(
    "4) an entry deleted by hand is re-created under the same name; its address, labels or serviceAccount edited by hand are restored in place",
    withLogs("4 drift", async () => {
      const { nodes, entries } = adminClient();
      const n = await fleet.create("drift", { labels: { team: "core" } });
      const name = n.metadata.name;
      const before = await waitConverged(name, 5_000);
      const entryName = before.entry.metadata.name;

      let t0 = Date.now();
      await entries.delete(entryName);
      const recreated = await waitFor(
        "a new entry after the manual delete",
        async () => {
          const r = await probeConverged(name);
          return "entry" in r && r.entry.metadata.uid !== before.entry.metadata.uid ? r : pending(r);
        },
        { timeoutMs: 10_000 },
      );
      note(`4: deleted entry re-created in ${Date.now() - t0} ms`);
      expect(recreated.entry.metadata.name).toBe(entryName);
      const uid = recreated.entry.metadata.uid;
      const sameEntry = async (what: string): Promise<void> => {
        const { entry } = await waitConverged(name, 10_000);
        expect({ what, name: entry.metadata.name, uid: entry.metadata.uid }).toEqual({ what, name: entryName, uid });
        note(`4: hand-edited ${what} restored in place in ${Date.now() - t0} ms`);
      };

      t0 = Date.now();
      expect((await entries.patch(entryName, { spec: { address: "192.0.2.99" } })).spec.address).toBe("192.0.2.99");
      await sameEntry("address");

      t0 = Date.now();
      const hijacked = await entries.patch(entryName, { spec: { labels: { team: "hijacked", app: null, country: "xx", version: "v0", [WORKLOAD_NAME_LABEL]: "someone" } } });
      expect(hijacked.spec.labels).toMatchObject({ team: "hijacked", country: "xx", version: "v0" });
      await sameEntry("labels");

      t0 = Date.now();
      const unlabelled = await entries.patch(entryName, { metadata: { labels: { [MANAGED_BY]: null } }, spec: { serviceAccount: "someone-else" } });
      expect(unlabelled.spec.serviceAccount).toBe("someone-else");
      await sameEntry("managed-by label and serviceAccount");

      // Repairs are not spec changes.
      const final = await waitConverged(name, 10_000);
      expect(final.node.metadata.generation).toBe(before.node.metadata.generation);
      expect((await nodes.get(name)).status?.observedGeneration).toBe(before.node.metadata.generation);
      expect(await nodeEntries(name)).toHaveLength(1);
    }),
    T,
  );

  it(
    "6) two nodes on one address: the newer gets AddressConflict and no entry; deleting the older gives the newer its entry, never two on the address",
    withLogs("6 conflict", async () => {
      const { nodes, entries } = adminClient();
      const address = fleet.address();
      const older = await fleet.create("older", { address });
      const olderEntry = (await waitConverged(older.metadata.name, 5_000)).entry;
      // creationTimestamp has one-second resolution: make "newer" unambiguous.
      const createdAt = Date.parse(older.metadata.creationTimestamp ?? "");
      await sleep(Math.max(0, createdAt + 1_100 - Date.now()));
      const newer = await fleet.create("newer", { address });

      const conflicted = await waitReason(newer.metadata.name, "AddressConflict", 5_000);
      expect(readyCondition(conflicted)?.message).toContain(older.metadata.name);
      expect(conflicted.status?.workloadEntry).toBeUndefined();
      const onAddress = async () => (await entries.list()).filter((e) => e.spec.address === address);
      await holds(
        "one entry on the address, the older node's",
        async () => {
          const list = await onAddress();
          const newerEntries = await nodeEntries(newer.metadata.name);
          return list.length === 1 && list[0]?.metadata.name === olderEntry.metadata.name && newerEntries.length === 0
            ? true
            : pending({ onAddress: list.map((e) => e.metadata.name), newerEntries: newerEntries.map((e) => e.metadata.name) });
        },
        2_000,
      );
      await waitConverged(older.metadata.name, 1_000);

      const watch = await EntryWatch.start();
      let newerEntry: WorkloadEntry;
      const t0 = Date.now();
      try {
        await nodes.delete(older.metadata.name);
        newerEntry = (await waitConverged(newer.metadata.name, 10_000)).entry;
        note(`6: newer node served ${Date.now() - t0} ms after the older one was deleted`);
        await waitEntryGone(olderEntry.metadata.name, 30_000);
        await sleep(300);
      } finally {
        watch.stop();
      }
      expect(newerEntry.metadata.name).toBe(expectedEntryName(newer));
      expect((await onAddress()).map((e) => e.metadata.name)).toEqual([newerEntry.metadata.name]);
      // The sidecar cannot take an address another workload still holds, and the later removal
      // of that one clears it (docs/attribution.md): the older's entry must be gone first.
      const onIt = (e: WorkloadEntry) => e.spec.address === address;
      const story = watch.events.filter((ev) => onIt(ev.entry)).map((ev) => `${ev.type} ${ev.entry.metadata.name} +${ev.at - t0} ms`);
      note(`6: on ${address}: ${story.join(", ")}`);
      expect({ peak: watch.peak(onIt).count, story }).toEqual({ peak: 1, story });
    }),
    T,
  );

  it(
    "6b) addresses exchanged while no operator runs (two nodes swap, three rotate in a circle): on start every node gets its entry, never two on an address",
    withLogs("6b swap", async () => {
      const { nodes } = adminClient();
      const pair = [await fleet.create("swap-a"), await fleet.create("swap-b")];
      const circle = [await fleet.create("ring-a"), await fleet.create("ring-b"), await fleet.create("ring-c")];
      for (const n of [...pair, ...circle]) await waitConverged(n.metadata.name, 5_000);
      // All moves are in the cache at once when the operator starts: each node's new address is
      // held by the entry of a node that is itself waiting to move, the case a plan that only
      // waits for the holder never gets out of.
      expect(await op.stop()).toEqual({ code: 0, signal: null });
      const moves = [
        ...pair.map((n, i) => [n, pair[1 - i]] as const),
        ...circle.map((n, i) => [n, circle[(i + 1) % circle.length]] as const),
      ];
      for (const [n, to] of moves) await nodes.patch(n.metadata.name, { spec: { address: to?.spec.address } });
      const addresses = new Set([...pair, ...circle].map((n) => n.spec.address));
      const watch = await EntryWatch.start();
      const t0 = Date.now();
      try {
        await freshOperator();
        for (const [n, to] of moves) {
          const { entry } = await waitConverged(n.metadata.name, 10_000);
          expect(entry.spec.address).toBe(to?.spec.address);
        }
        note(`6b: ${moves.length} exchanged addresses served ${Date.now() - t0} ms after the operator started`);
        await sleep(300);
      } finally {
        watch.stop();
      }
      const peak = watch.peakPerAddress((a) => addresses.has(a));
      if (peak.count > 1 && peak.address !== undefined) note(`6b: ${peak.address}: ${watch.story((e) => e.spec.address === peak.address).join(", ")}`);
      expect(peak.count > 1 ? { address: peak.address, entries: peak.names } : {}).toEqual({});
      for (const n of [...pair, ...circle]) expect(await nodeEntries(n.metadata.name)).toHaveLength(1);
    }),
    T,
  );

  it(
    "7) a foreign entry under the node's entry name gets NameTaken and is left untouched; once it is gone the node is served; one named exactly like the node blocks nothing",
    withLogs("7 name taken", async () => {
      const { entries, nodes } = adminClient();
      const foreignEntry = (entryName: string) =>
        entries.create({
          apiVersion: `${ENTRY_GROUP}/${ENTRY_VERSION}`,
          kind: "WorkloadEntry",
          metadata: { name: entryName, namespace: NAMESPACE, labels: { [SUITE_LABEL]: fleet.tag, owner: "someone-else" } },
          spec: { address: "192.0.2.200", labels: { app: "other" } },
        });
      const untouched = (foreign: WorkloadEntry) =>
        holds(
          `the foreign entry ${foreign.metadata.name} to stay untouched`,
          async () => {
            const e = await entries.get(foreign.metadata.name);
            return e.metadata.resourceVersion === foreign.metadata.resourceVersion ? true : pending(e);
          },
          3_000,
        );

      // Under the name the operator would pick.
      const manifest = fleet.manifest(fleet.name("taken"));
      const name = manifest.metadata.name;
      const taken = expectedEntryName(manifest);
      const foreign = await foreignEntry(taken);
      await nodes.create(manifest);
      const node = await waitReason(name, "NameTaken", 5_000);
      expect(readyCondition(node)?.message).toContain(taken);
      expect(node.status?.workloadEntry).toBeUndefined();
      await untouched(foreign);
      expect((await entries.get(taken)).metadata.ownerReferences).toBeUndefined();
      expect(await nodeEntries(name)).toEqual([]);
      await entries.delete(taken);
      const served = await waitConverged(name, 10_000);
      expect(served.entry.metadata.name).toBe(taken);

      // Named exactly like the node (as entries were before <node>-<hash>): not the node's entry.
      const other = fleet.name("exact");
      const lookalike = await foreignEntry(other);
      await nodes.create(fleet.manifest(other));
      const { entry } = await waitConverged(other, 5_000);
      expect(entry.metadata.name).not.toBe(other);
      await untouched(lookalike);
      expect((await entries.get(other)).metadata.ownerReferences).toBeUndefined();
    }),
    T,
  );
});
