// One node's life under one operator (ADDRESS_POLICY=any, no leader election):
//  1) create -> exact entry within 2 s          2) spec changes -> entry and observedGeneration follow
//  3) no operator, node deleted -> GC removes the entry within 30 s
//  4) entry deleted or edited by hand -> restored
//  6) two nodes on one address -> AddressConflict on the newer; the older deleted -> newer served
//  7) a foreign entry with the node's name -> NameTaken, the entry untouched
import { auditOffset, auditSince, summarize, writesBy } from "./support/audit.js";
import {
  MANAGED_BY,
  OPERATOR_NAME,
  probeConverged,
  readyCondition,
  SUITE_LABEL,
  waitConverged,
  waitEntryGone,
  waitReason,
} from "./support/fixtures.js";
import { e2eFile, withLogs } from "./support/harness.js";
import { adminClient, ENTRY_GROUP, ENTRY_VERSION } from "./support/kube.js";
import { GC_USER, lab, NAMESPACE, OPERATOR_USER } from "./support/lab.js";
import { startOperator, type OperatorProcess } from "./support/operator.js";
import { holds, note, pending, sleep, waitFor } from "./support/wait.js";

const fleet = e2eFile("lifecycle");
const T = 90_000;
let op: OperatorProcess;
let operators = 0;

async function freshOperator(): Promise<void> {
  op = await startOperator({ name: `life-${++operators}` });
}

beforeAll(freshOperator, 60_000);

describe("lifecycle", () => {
  it(
    "1) a new XrayrNode gets its exact WorkloadEntry (address, labels, serviceAccount, ownerReference) within 2 s",
    withLogs("1 create", async () => {
      const created = await fleet.create("create", {
        labels: { team: "core", "example.com/tier": "edge", empty: "" },
        locality: "eu-central/fsn1",
        vpsId: "hetzner-42",
      });
      const t0 = Date.now();
      const { node, entry } = await waitConverged(created.metadata.name, 2_000);
      note(`1: entry exact ${Date.now() - t0} ms after the node was created`);
      expect(entry.spec.address).toBe(created.spec.address);
      expect(entry.spec.labels).toEqual({
        team: "core",
        "example.com/tier": "edge",
        empty: "",
        app: "xrayr",
        version: "v1",
        country: "de",
        "security.istio.io/tlsMode": "disabled",
      });
      expect(entry.spec.serviceAccount).toBe("xrayr-vm");
      expect(entry.spec.locality).toBe("eu-central/fsn1");
      expect(entry.metadata.labels?.[MANAGED_BY]).toBe(OPERATOR_NAME);
      expect(entry.metadata.ownerReferences).toEqual([
        { apiVersion: "mesh.sigma.io/v1alpha1", kind: "XrayrNode", name: node.metadata.name, uid: created.metadata.uid, controller: true, blockOwnerDeletion: true },
      ]);
      expect(readyCondition(node)).toMatchObject({ status: "True", reason: "Reconciled" });
      expect(node.status?.observedGeneration).toBe(1);
      expect(node.status?.workloadEntry).toBe(node.metadata.name);
    }),
    T,
  );

  it(
    "2) changes of address, version and labels are followed by the entry (updated in place) and by status.observedGeneration",
    withLogs("2 update", async () => {
      const { nodes } = adminClient();
      const n = await fleet.create("update", { labels: { team: "core", keep: "yes" } });
      const name = n.metadata.name;
      const first = await waitConverged(name, 5_000);
      const steps: [string, unknown][] = [
        ["address", { spec: { address: fleet.address() } }],
        ["version", { spec: { version: "v2" } }],
        ["labels", { spec: { labels: { team: null, zone: "fsn1-dc14" } } }],
        ["address+version+labels", { spec: { address: fleet.address(), version: "2024.06-rc_1", labels: { keep: null, "example.com/owner": "ops" } } }],
        ["country", { spec: { country: "jp" } }],
      ];
      let generation = first.node.metadata.generation ?? 1;
      for (const [what, patch] of steps) {
        const patched = await nodes.patch(name, patch);
        expect(patched.metadata.generation).toBe(++generation);
        const t0 = Date.now();
        const { node, entry } = await waitConverged(name, 5_000);
        note(`2: ${what} followed in ${Date.now() - t0} ms (generation ${generation})`);
        expect(node.metadata.generation).toBe(generation);
        expect(node.status?.observedGeneration).toBe(generation);
        const cond = readyCondition(node);
        if (cond?.observedGeneration !== undefined) expect(cond.observedGeneration).toBe(generation);
        expect(entry.metadata.uid).toBe(first.entry.metadata.uid);
      }
      const { entry } = await waitConverged(name, 5_000);
      expect(entry.spec.labels).toEqual({
        zone: "fsn1-dc14",
        "example.com/owner": "ops",
        app: "xrayr",
        version: "2024.06-rc_1",
        country: "jp",
        "security.istio.io/tlsMode": "disabled",
      });
    }),
    T,
  );

  it(
    "3) with no operator running, deleting the node gets its entry removed by the garbage collector within 30 s",
    withLogs("3 gc", async () => {
      const n = await fleet.create("gc");
      const name = n.metadata.name;
      await waitConverged(name, 5_000);
      const exit = await op.stop();
      expect(exit).toEqual({ code: 0, signal: null });
      const offset = lab().auditLog !== undefined ? auditOffset() : -1;
      await adminClient().nodes.delete(name);
      const t0 = Date.now();
      await waitEntryGone(name, 30_000);
      note(`3: entry removed ${Date.now() - t0} ms after the node's deletion, no operator running`);
      if (offset >= 0) {
        const events = auditSince(offset);
        const deletes = writesBy(events, { verb: "delete", resource: "workloadentries", name });
        expect(deletes.map((e) => e.user.username)).toEqual([GC_USER]);
        expect(summarize(writesBy(events, { user: OPERATOR_USER }))).toEqual({});
      }
      await freshOperator();
    }),
    T,
  );

  it(
    "4) an entry deleted by hand, or with its address or labels edited by hand, is restored",
    withLogs("4 drift", async () => {
      const { nodes, entries } = adminClient();
      const n = await fleet.create("drift", { labels: { team: "core" } });
      const name = n.metadata.name;
      const before = await waitConverged(name, 5_000);

      let t0 = Date.now();
      await entries.delete(name);
      const recreated = await waitFor(
        "a new entry after the manual delete",
        async () => {
          const r = await probeConverged(name);
          return "entry" in r && r.entry.metadata.uid !== before.entry.metadata.uid ? r : pending(r);
        },
        { timeoutMs: 10_000 },
      );
      note(`4: deleted entry re-created in ${Date.now() - t0} ms`);

      t0 = Date.now();
      expect((await entries.patch(name, { spec: { address: "192.0.2.99" } })).spec.address).toBe("192.0.2.99");
      await waitConverged(name, 10_000);
      note(`4: hand-edited address restored in ${Date.now() - t0} ms`);

      t0 = Date.now();
      const hijacked = await entries.patch(name, { spec: { labels: { team: "hijacked", app: null, country: "xx" } } });
      expect(hijacked.spec.labels).toMatchObject({ team: "hijacked", country: "xx" });
      await waitConverged(name, 10_000);
      note(`4: hand-edited labels restored in ${Date.now() - t0} ms`);

      t0 = Date.now();
      const unlabelled = await entries.patch(name, { metadata: { labels: { [MANAGED_BY]: null } }, spec: { serviceAccount: "someone-else" } });
      expect(unlabelled.spec.serviceAccount).toBe("someone-else");
      const final = await waitConverged(name, 10_000);
      note(`4: hand-edited managed-by label and serviceAccount restored in ${Date.now() - t0} ms`);

      // Repairs are not spec changes.
      expect(final.node.metadata.generation).toBe(before.node.metadata.generation);
      expect(final.entry.metadata.uid).toBe(recreated.entry.metadata.uid);
      expect((await nodes.get(name)).status?.observedGeneration).toBe(before.node.metadata.generation);
    }),
    T,
  );

  it(
    "6) two nodes on one address: the newer gets AddressConflict and no entry; deleting the older gives the newer its entry",
    withLogs("6 conflict", async () => {
      const { nodes, entries } = adminClient();
      const address = fleet.address();
      const older = await fleet.create("older", { address });
      await waitConverged(older.metadata.name, 5_000);
      // creationTimestamp has one-second resolution: make "newer" unambiguous.
      const createdAt = Date.parse(older.metadata.creationTimestamp ?? "");
      await sleep(Math.max(0, createdAt + 1_100 - Date.now()));
      const newer = await fleet.create("newer", { address });

      const conflicted = await waitReason(newer.metadata.name, "AddressConflict", 5_000);
      expect(readyCondition(conflicted)?.message).toContain(older.metadata.name);
      const onAddress = async () => (await entries.list()).filter((e) => e.spec.address === address);
      await holds(
        "one entry on the address, the older node's",
        async () => {
          const list = await onAddress();
          const newerEntry = await entries.find(newer.metadata.name);
          return list.length === 1 && list[0]?.metadata.name === older.metadata.name && newerEntry === undefined
            ? true
            : pending({ onAddress: list.map((e) => e.metadata.name), newerEntry: newerEntry?.metadata.name });
        },
        2_000,
      );
      await waitConverged(older.metadata.name, 1_000);

      const t0 = Date.now();
      await nodes.delete(older.metadata.name);
      await waitConverged(newer.metadata.name, 10_000);
      note(`6: newer node served ${Date.now() - t0} ms after the older one was deleted`);
      await waitEntryGone(older.metadata.name, 30_000);
      expect((await onAddress()).map((e) => e.metadata.name)).toEqual([newer.metadata.name]);
    }),
    T,
  );

  it(
    "7) an existing entry not owned by the node gets NameTaken and is left untouched; once it is gone the node is served",
    withLogs("7 name taken", async () => {
      const { entries } = adminClient();
      const name = fleet.name("taken");
      const foreign = await entries.create({
        apiVersion: `${ENTRY_GROUP}/${ENTRY_VERSION}`,
        kind: "WorkloadEntry",
        metadata: { name, namespace: NAMESPACE, labels: { [SUITE_LABEL]: fleet.tag, owner: "someone-else" } },
        spec: { address: "192.0.2.200", labels: { app: "other" } },
      });
      await adminClient().nodes.create(fleet.manifest(name));
      const node = await waitReason(name, "NameTaken", 5_000);
      expect(node.status?.workloadEntry).toBeUndefined();
      await holds(
        "the foreign entry to stay untouched",
        async () => {
          const e = await entries.get(name);
          return e.metadata.resourceVersion === foreign.metadata.resourceVersion ? true : pending(e);
        },
        3_000,
      );
      expect((await entries.get(name)).metadata.ownerReferences).toBeUndefined();

      await entries.delete(name);
      await waitConverged(name, 10_000);
    }),
    T,
  );
});
