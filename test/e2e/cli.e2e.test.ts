// The fleet CLI (xrayr-mesh) against the lab, with one operator (leader election on):
//  1) sync of 1,000 rows with 50 malformed and 13 that need normalising (host names with '_',
//     upper case, a leading or trailing '-', non-ASCII, over 63 characters; IPv6 expanded or in
//     upper case) -> 950 Ready nodes with entries, the 13 among them under their normalised name
//     and address; each bad row reported with row, field and value, each normalised one as a
//     warning with what it became; only the 50 counted invalid; exit 1
//  2) the same sync again -> 0 create / 0 update, and no write by the CLI reaches the API server
//  3) 100 rows retired, sync --prune -> refused by the prune guard (over 10 %); with
//     --max-prune 100 those 100 deleted, their entries garbage-collected, nodes sync did not
//     create untouched
//  4) register / retire, as sigma-api does them; status
//  5) doctor -> the verdicts the lab deserves, exit 1; a token over plain http is refused
//  6) a node sigma-api registered over a synced one, and a renamed VPS whose new name is held by
//     another node: sync --prune deletes neither; register refuses another VPS's node
//  7) setup errors in one sentence, by their exact text: no kubeconfig at all, a cluster that
//     is down, a Prometheus that does not answer, a cluster without the CRD (the CLI and the
//     operator), credentials in verify's Prometheus URL (never printed), a reserved node name
//  8) the prune guard, with sigma-api's list served over loopback http: an empty list, one with
//     30 % of its rows missing, and first pages (a short `total`, a `next`) delete nothing and
//     exit 1 with the reason; --max-prune 100% carries out the same deletes
//  9) one holder for a contested address: two nodes on one address, the older with the larger
//     name (so list order and creation order differ): the loser's AddressConflict, sync's
//     refusal of a row on the address and doctor all name the older node
// 10) what kubectl and helm users type by habit: -o yaml, --context, `version`, and sync
//     --dry-run=server, whose every write a real admission webhook judges (and refuses) while
//     nothing is stored; a plain --dry-run asks the server nothing
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SYNCED_BY_LABEL, SYNC_MANAGER } from "../../src/fleet/labels.js";
import { retireRows, syntheticFleet, type SyntheticRow } from "../support/synthetic-fleet.js";
import { auditOffset, auditSince, summarize, writesBy } from "./support/audit.js";
import { xrayrMesh } from "./support/cli.js";
import { deleteAndWait, readyCondition, waitConverged, waitNodeEntriesGone } from "./support/fixtures.js";
import { e2eFile, withLogs } from "./support/harness.js";
import { adminClient, type XrayrNode } from "./support/kube.js";
import { ADMIN_USER, lab } from "./support/lab.js";
import { startBareApiServer } from "./support/bare-apiserver.js";
import { freePort, startOperator } from "./support/operator.js";
import { DenyingWebhook } from "./support/webhook.js";
import { note, pending, sleep, waitFor } from "./support/wait.js";

const fleet = e2eFile("cli");
const SYNCED = `${SYNCED_BY_LABEL}=${SYNC_MANAGER}`;
const REGISTERED = "mesh.sigma.io/registered-by=sigma-api";
const synthetic = syntheticFleet({ count: 1000, malformed: true, normalising: true, idBase: 500_000, firstOctet: 46 });
/** The list as test 3 leaves it (100 rows retired), for test 6. */
let prunedRows: SyntheticRow[] = [];
const listFile = (name: string, rows: SyntheticRow[]): string => {
  const f = join(lab().stateDir, name);
  writeFileSync(f, JSON.stringify({ items: rows }));
  return f;
};

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Waits until exactly `n` synced nodes exist, all Ready for their generation, each controlling
 * exactly one entry, the one its status.workloadEntry names.
 */
async function waitSyncedReady(n: number, timeoutMs: number): Promise<XrayrNode[]> {
  const { nodes, entries } = adminClient();
  return waitFor(
    `${n} synced XrayrNodes Ready with entries`,
    async () => {
      const [ns, es] = await Promise.all([nodes.list(SYNCED), entries.list()]);
      const controlled = new Map<string, string[]>();
      for (const e of es) {
        const uid = e.metadata.ownerReferences?.find((r) => r.controller === true && r.kind === "XrayrNode")?.uid;
        if (uid !== undefined) controlled.set(uid, [...(controlled.get(uid) ?? []), e.metadata.name]);
      }
      const own = (x: XrayrNode): string[] => controlled.get(x.metadata.uid ?? "") ?? [];
      const ready = ns.filter(
        (x) => readyCondition(x)?.status === "True" && x.status?.observedGeneration === x.metadata.generation && own(x).length === 1 && own(x)[0] === x.status?.workloadEntry,
      );
      return ns.length === n && ready.length === n ? ns : pending(`${ns.length} synced nodes, ${ready.length} Ready with entries`);
    },
    { timeoutMs, intervalMs: 500 },
  );
}

beforeAll(async () => {
  await deleteAndWait(SYNCED, 120_000);
  await deleteAndWait(REGISTERED, 60_000);
  await startOperator({ name: "cli", leaderElection: true });
}, 180_000);

afterAll(async () => {
  await deleteAndWait(SYNCED, 120_000);
  await deleteAndWait(REGISTERED, 60_000);
}, 180_000);

describe("xrayr-mesh", () => {
  it(
    "1) sync of 1,000 rows with 50 malformed and 13 to normalise: 950 Ready nodes with entries, every bad row reported, every normalised one warned, exit 1",
    withLogs("cli 1 sync", async () => {
      const r = await xrayrMesh(["sync", "--from", listFile("fleet.json", synthetic.rows)]);
      note(`1: sync of 1,000 rows took ${r.ms} ms`);
      expect(r.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
      expect(r.code).toBe(1);
      expect(r.stdout).toContain("Plan: 950 to create, 0 to update, 0 to delete, 0 unchanged, 50 invalid, 13 normalised, 0 not active.");
      expect(r.stdout).toContain("Applied: 950 created, 0 updated, 0 deleted, 0 failed.");
      const lines = r.stdout.split("\n");
      expect(synthetic.malformed).toHaveLength(50);
      for (const m of synthetic.malformed) {
        const value = synthetic.rows[m.row - 1]?.[m.field];
        const shown = value === undefined ? "(missing)" : JSON.stringify(value).slice(0, 30);
        const line = lines.find((l) => new RegExp(`^${m.row}\\s+\\S+\\s+${m.field}\\s`).test(l));
        expect({ row: m.row, kind: m.kind, line }).toEqual({ row: m.row, kind: m.kind, line: expect.stringContaining(shown) as unknown });
      }
      // Each normalised row: one warning line naming row, VPS, field, value and what it became.
      expect(synthetic.normalising).toHaveLength(13);
      expect(r.stdout).toContain("Normalised rows (13; applied as normalised, fix them in sigma-api):");
      for (const n of synthetic.normalising) {
        const shown = JSON.stringify(n.value).slice(0, 30);
        const line = lines.find((l) => new RegExp(`^${n.row}\\s+${n.id}\\s+${n.field}\\s`).test(l));
        expect({ row: n.row, line }).toEqual({ row: n.row, line: expect.stringMatching(new RegExp(`${escape(shown)}.*\\s${escape(n.became)}\\s`)) as unknown });
      }
      const t0 = Date.now();
      const ready = await waitSyncedReady(950, 120_000);
      note(`1: 950 nodes Ready with entries ${Date.now() - t0} ms after sync returned`);
      // The normalised rows are Ready nodes (waitSyncedReady: all 950 are) under the name and address they became.
      const byId = new Map(ready.map((x) => [x.spec.vpsId, x]));
      expect(synthetic.normalising.map((n) => ({ row: n.row, name: byId.get(n.id)?.metadata.name, address: byId.get(n.id)?.spec.address }))).toEqual(
        synthetic.normalising.map((n) => ({ row: n.row, name: n.name, address: n.address })),
      );
    }),
    240_000,
  );

  it(
    "2) the same sync again: 0 create / 0 update and no write reaches the API server",
    withLogs("cli 2 resync", async () => {
      const off = auditOffset();
      const r = await xrayrMesh(["sync", "--from", listFile("fleet.json", synthetic.rows)]);
      expect(r.code).toBe(1); // the 50 bad rows are still bad
      expect(r.stdout).toContain("Plan: 0 to create, 0 to update, 0 to delete, 950 unchanged, 50 invalid, 13 normalised, 0 not active.");
      const writes = writesBy(auditSince(off), { user: ADMIN_USER });
      expect(summarize(writes)).toEqual({});
    }),
    60_000,
  );

  it(
    "3) 100 rows retired, sync --prune: over the guard's bound, refused; with --max-prune 100 those 100 deleted, entries collected, other nodes untouched",
    withLogs("cli 3 prune", async () => {
      const bystanders = await Promise.all([fleet.create("hand-made"), fleet.create("hand-made")]);
      const registered = await xrayrMesh(["register", "sigma-registered", "--address", "47.0.0.1", "--country", "SG", "--vps-id", "999999"]);
      expect(registered).toMatchObject({ code: 0 });
      const rows = structuredClone(synthetic.rows);
      // Neither a bad row nor the row a duplicate-IP row repeats (retiring it would free the IP for the duplicate).
      const retired = new Set(retireRows(rows, 100, new Set(synthetic.malformed.flatMap((m) => [m.row, m.row - 1]))));
      prunedRows = rows;
      expect(retired.size).toBe(100);
      const before = await adminClient().nodes.list(SYNCED);
      const doomed = before.filter((n) => retired.has(n.spec.vpsId ?? "")).map((n) => n.metadata.name);
      expect(doomed).toHaveLength(100);

      const dry = await xrayrMesh(["sync", "--from", listFile("fleet-retired.json", rows), "--dry-run", "-o", "json"]);
      const plan = JSON.parse(dry.stdout) as { counts: Record<string, number> };
      expect(plan.counts).toMatchObject({ create: 0, update: 0, delete: 0, prunable: 100, unchanged: 850 });

      // 100 of 950 is over the prune guard's default bound (10 %): a retirement this large is said out loud.
      const guarded = await xrayrMesh(["sync", "--from", listFile("fleet-retired.json", rows), "--prune"]);
      expect(guarded.code).toBe(1);
      expect(guarded.stderr).toContain("refusing to delete 100 of the 950 synced nodes: the bound is 95");
      expect(await adminClient().nodes.list(SYNCED)).toHaveLength(950);

      const r = await xrayrMesh(["sync", "--from", listFile("fleet-retired.json", rows), "--prune", "--max-prune", "100"]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain("Applied: 0 created, 0 updated, 100 deleted, 0 failed.");
      await Promise.all(doomed.map((name) => waitNodeEntriesGone(name, 60_000)));
      await waitSyncedReady(850, 60_000);
      for (const b of bystanders) expect((await adminClient().nodes.get(b.metadata.name)).metadata.uid).toBe(b.metadata.uid);
      expect(await adminClient().nodes.find("sigma-registered")).toBeDefined();
    }),
    180_000,
  );

  it(
    "4) register twice is one write's worth of change; status shows it; retire removes node and entry",
    withLogs("cli 4 register", async () => {
      const args = ["register", "cli-reg-1", "--address", "47.0.0.2", "--country", "JP", "--version", "v25.3.6", "--vps-id", "424242"];
      expect(await xrayrMesh(args)).toMatchObject({ code: 0 });
      const first = await waitConverged("cli-reg-1", 30_000);
      expect(await xrayrMesh(args)).toMatchObject({ code: 0 });
      expect((await adminClient().nodes.get("cli-reg-1")).metadata.resourceVersion).toBe(first.node.metadata.resourceVersion);

      const status = await xrayrMesh(["status", "--country", "jp", "-o", "json"]);
      const rows = JSON.parse(status.stdout) as { name: string; ready: string; entry: boolean; entries: string[]; country: string }[];
      const entryName = first.entry.metadata.name;
      expect(entryName).toMatch(/^cli-reg-1-[0-9a-f]{8}$/);
      expect(rows.find((x) => x.name === "cli-reg-1")).toMatchObject({ ready: "True", entry: true, entries: [entryName], country: "jp" });
      expect(rows.every((x) => x.country === "jp")).toBe(true);
      const table = await xrayrMesh(["status"]);
      expect(table.stdout.split("\n")[0]).toMatch(/^NAME\s+ADDRESS\s+COUNTRY\s+READY\s+REASON\s+ENTRY\s+AGE$/);
      expect(table.stdout).toMatch(/^cli-reg-1\s+47\.0\.0\.2\s+jp\s+True\s+Reconciled\s+yes\s/m);
      const wide = await xrayrMesh(["status", "--country", "jp", "-o", "wide"]);
      expect(wide.stdout.split("\n")[0]).toMatch(/^NAME\s+ADDRESS\s+COUNTRY\s+READY\s+REASON\s+ENTRY\s+AGE\s+VERSION\s+VPS\s+SOURCE\s+WORKLOADENTRY\s+GROUP\s+MESSAGE$/);
      expect(wide.stdout).toMatch(new RegExp(`^cli-reg-1\\s.*\\sv25\\.3\\.6\\s+424242\\s+\\S+\\s+${entryName}\\s+yes\\s`, "m"));

      const bad = await xrayrMesh(["register", "cli-reg-2", "--address", "10.0.0.1", "--country", "jp"]);
      expect(bad.code).toBe(1);
      expect(bad.stderr.trim().split("\n")).toHaveLength(1);
      expect(bad.stderr).toContain("private range");

      expect(await xrayrMesh(["retire", "cli-reg-1"])).toMatchObject({ code: 0 });
      await waitNodeEntriesGone("cli-reg-1", 60_000);
      expect((await xrayrMesh(["retire", "cli-reg-1"])).stdout).toContain("already gone");
    }),
    120_000,
  );

  it(
    "5) doctor: what the lab has passes (no fleet-wide ServiceEntry: optional), what it lacks (Xboard, istiod, injection, ...) fails, exit 1",
    withLogs("cli 5 doctor", async () => {
      const r = await xrayrMesh(["doctor", "-o", "json"]);
      expect(r.code).toBe(1);
      const { results } = JSON.parse(r.stdout) as { results: { check: string; verdict: string; fix: string }[] };
      const verdicts = Object.fromEntries(results.map((x) => [x.check, x.verdict]));
      expect(verdicts).toEqual({
        "istio-crds": "pass",
        "xrayrnode-crd": "pass",
        "namespace-injection": "fail",
        "xboard-sidecar": "fail",
        "istiod-ambient": "fail",
        "peer-metadata-discovery": "fail",
        "xboard-client-ip": "fail",
        workloadgroup: "fail",
        "node-workloadgroups": "pass",
        serviceentry: "pass",
        "operator-lease": "pass",
        "nodes-ready": "pass",
        "address-conflicts": "pass",
        "workload-entries": "pass",
      });
      expect(results.filter((x) => x.verdict !== "pass").every((x) => x.fix !== "")).toBe(true);
      const table = await xrayrMesh(["doctor"]);
      expect(table.stdout).toMatch(/^FAIL\s+istiod-ambient\s+istiod does not run/m);

      const unreachable = await xrayrMesh(["status"], { env: { AIRPORT_KUBECONFIG: "/nonexistent/kubeconfig" } });
      expect(unreachable).toMatchObject({ code: 2, stderr: "xrayr-mesh: kubeconfig /nonexistent/kubeconfig does not exist (from --kubeconfig or AIRPORT_KUBECONFIG).\n" });

      const cleartext = await xrayrMesh(["sync", "--from", "http://sigma-api.invalid/api/vps"], { env: { SIGMA_API_TOKEN: "t0ken-e2e" } });
      expect(cleartext.code).toBe(2);
      expect(cleartext.stderr.trim().split("\n")).toHaveLength(1);
      expect(cleartext.stderr).toContain("refusing to send the token in cleartext");
      expect(cleartext.stderr + cleartext.stdout).not.toContain("t0ken-e2e");
    }),
    60_000,
  );

  it(
    "6) sigma-api's registration over a synced node and a refused rename survive sync --prune; register refuses another VPS's node",
    withLogs("cli 6 ownership", async () => {
      expect(prunedRows).toHaveLength(1000);
      const rows = structuredClone(prunedRows);
      const synced = await adminClient().nodes.list(SYNCED);
      const avoid = new Set(synthetic.malformed.flatMap((m) => [m.row, m.row - 1, m.row + 1]));
      const withNode = rows
        .map((r, i) => ({ r, row: i + 1, node: synced.find((n) => n.spec.vpsId === String(r.id)) }))
        .filter((x) => x.r.status === "active" && !avoid.has(x.row) && x.node !== undefined);
      const [taken, renamed] = withNode;
      if (taken?.node === undefined || renamed?.node === undefined) throw new Error("no synced nodes to work with");
      const takenName = taken.node.metadata.name;
      const { address, country, vpsId } = taken.node.spec;

      // sigma-api registers the VPS over the node sync created for it (same id): allowed.
      expect(await xrayrMesh(["register", takenName, "--address", address, "--country", country, "--vps-id", vpsId ?? ""])).toMatchObject({ code: 0 });
      // ... but not as another VPS, unless forced.
      const refused = await xrayrMesh(["register", takenName, "--address", address, "--country", country, "--vps-id", "1"]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toBe(
        `xrayr-mesh: XrayrNode airport-prod/${takenName} already stands for VPS ${vpsId ?? ""}, not VPS 1: pick the name of this VPS (docs/fleet-format.md's naming rule), or pass --force to take the node over.\n`,
      );
      expect((await adminClient().nodes.get(takenName)).spec.vpsId).toBe(vpsId);

      // The renamed VPS's new name is held by a node sync did not create.
      const newName = `cli-renamed-${String(renamed.r.id)}`;
      expect(await xrayrMesh(["register", newName, "--address", "47.0.0.9", "--country", "de"])).toMatchObject({ code: 0 });

      taken.r.status = "retired";
      renamed.r.hostname = "cli-renamed";
      const r = await xrayrMesh(["sync", "--from", listFile("fleet-6.json", rows), "--prune", "-o", "json"]);
      expect(r.code).toBe(1);
      const out = JSON.parse(r.stdout) as { counts: Record<string, number>; invalid: { id?: string; field: string; message: string }[] };
      expect(out.counts).toMatchObject({ create: 0, update: 0, delete: 0 });
      expect(out.invalid.find((i) => i.id === String(renamed.r.id))).toMatchObject({ field: "hostname", message: expect.stringContaining(`the node name ${newName} is taken`) as unknown });
      expect((await adminClient().nodes.get(takenName)).metadata.uid).toBe(taken.node.metadata.uid);
      expect((await adminClient().nodes.get(renamed.node.metadata.name)).metadata.uid).toBe(renamed.node.metadata.uid);
    }),
    120_000,
  );

  it(
    "7) setup errors are one sentence, by their exact text: no kubeconfig anywhere, a cluster that is down, a Prometheus that does not answer, a cluster without the CRD (CLI and operator), credentials in the Prometheus URL (not printed), a reserved node name",
    withLogs("cli 7 setup errors", async () => {
      const home = mkdtempSync(join(tmpdir(), "xrayr-mesh-nohome-"));
      const none = await xrayrMesh(["status"], { env: { AIRPORT_KUBECONFIG: "", HOME: home } });
      rmSync(home, { recursive: true });
      expect(none).toMatchObject({
        code: 2,
        stderr:
          "xrayr-mesh: no kubeconfig: pass --kubeconfig FILE or set AIRPORT_KUBECONFIG or KUBECONFIG (there is no ~/.kube/config, and this is not a pod with a service account).\n",
      });

      const creds = await xrayrMesh(["verify", "--prometheus", "https://admin:hunter2@127.0.0.1:9/prometheus"]);
      expect(creds.code).toBe(2);
      expect(creds.stderr.trim().split("\n")).toHaveLength(1);
      expect(creds.stderr).toContain('--prometheus / PROMETHEUS_URL "https://127.0.0.1:9/prometheus" must not carry credentials');
      expect(creds.stderr + creds.stdout).not.toMatch(/hunter2|admin/);

      // A cluster that is down: one sentence naming the server and what to check.
      const port = await freePort();
      const downConfig = join(lab().stateDir, "down.kubeconfig");
      writeFileSync(downConfig, readFileSync(lab().kubeconfig, "utf8").replace(/server: https:\/\/127\.0\.0\.1:\d+/g, `server: https://127.0.0.1:${port}`));
      expect(await xrayrMesh(["status"], { env: { AIRPORT_KUBECONFIG: downConfig } })).toMatchObject({
        code: 2,
        stderr: `xrayr-mesh: cannot reach the API server at https://127.0.0.1:${port}/ (connection refused): is the cluster up, and is this the kubeconfig for it?\n`,
      });

      // A Prometheus that does not answer.
      const silent = await xrayrMesh(["verify", "--prometheus", `http://127.0.0.1:${port}`]);
      expect(silent.stderr).toBe(`xrayr-mesh: Prometheus at http://127.0.0.1:${port}/ did not answer (connection refused): check --prometheus / PROMETHEUS_URL and that Prometheus is running.\n`);
      expect(silent.code).toBe(2);

      // A cluster without the CRD (a real, empty API server): the CLI and the operator say so at once.
      const bare = await startBareApiServer();
      try {
        const missing = `the XrayrNode CRD (xrayrnodes.mesh.sigma.io) is not installed in the cluster`;
        expect(await xrayrMesh(["status"], { env: { AIRPORT_KUBECONFIG: bare.kubeconfig } })).toMatchObject({
          code: 2,
          stderr: `xrayr-mesh: ${missing} at ${bare.server}/: install it with kubectl apply --server-side -k deploy/crds (the Helm chart installs it too).\n`,
        });
        const t0 = Date.now();
        const op = await startOperator({ name: "no-crd", env: { AIRPORT_KUBECONFIG: bare.kubeconfig } }, { ready: false });
        const exit = await op.exited;
        note(`cli 7: the operator on a cluster without the CRD exited ${String(exit.code)} after ${Date.now() - t0} ms`);
        expect(exit.code).toBe(1);
        // One line naming every missing CRD, ours first (this cluster has Istio's neither).
        const last = readFileSync(op.logFile, "utf8").trim().split("\n").at(-1) ?? "";
        expect(last.startsWith(`xrayr-mesh-operator: ${missing}: install it with kubectl apply --server-side -k deploy/crds (the Helm chart installs it too); `)).toBe(true);
        expect(last).toContain("Istio's WorkloadEntry CRD (workloadentries.networking.istio.io) is not installed in the cluster");
      } finally {
        await bare.stop();
      }

      for (const name of ["unknown", "xboard"]) {
        const r = await xrayrMesh(["register", name, "--address", "47.0.0.3", "--country", "de"]);
        expect(r.code).toBe(1);
        expect(r.stderr).toContain(`metadata.name "${name}" is reserved`);
        expect(await adminClient().nodes.find(name)).toBeUndefined();
      }
    }),
    60_000,
  );

  describe("8) the prune guard", () => {
    const rows = syntheticFleet({ count: 60, idBase: 700_000, firstOctet: 52 }).rows;
    let body = "[]";
    let server: Server | undefined;
    let url = "";
    beforeAll(async () => {
      server = createServer((_req, res) => {
        res.setHeader("content-type", "application/json");
        res.end(body);
      });
      await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/vps`;
    });
    afterAll(async () => {
      const s = server;
      if (s !== undefined) await new Promise<void>((r) => s.close(() => { r(); }));
    });

    const sync = async (doc: unknown, ...flags: string[]) => {
      body = JSON.stringify(doc);
      return xrayrMesh(["sync", "--from", url, ...flags]);
    };
    /** The uid of every synced node, by name: what "nothing deleted" is checked against. */
    const syncedUids = async () => new Map((await adminClient().nodes.list(SYNCED)).map((n) => [n.metadata.name, n.metadata.uid]));

    /** The whole list synced and every node Ready, so no status write races a delete's resourceVersion. */
    const restore = async (): Promise<void> => {
      const r = await sync({ total: rows.length, items: rows }, "--prune");
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
      await waitSyncedReady(60, 60_000);
    };

    const cut = structuredClone(rows.slice(0, 42)); // 30 % missing: 18 deletes against a bound of 6
    const updated = cut[0];
    if (updated !== undefined) updated.xrayr_version = "v99.0.0";
    const cases = [
      {
        what: "a list with 30 % of its rows missing (deletes refused, the update applied)",
        doc: cut,
        deletes: 18,
        sentence: "refusing to delete 18 of the 60 synced nodes: the bound is 6 (the default: 10% of them, at least 5)",
        stdout: "Applied: 0 created, 1 updated, 0 deleted (18 deletes refused), 0 failed.",
        updated: String(updated?.id),
      },
      {
        what: 'a first page: {"items": [20 rows], "total": 200}',
        doc: { items: rows.slice(0, 20), total: 200 },
        deletes: 40,
        sentence: `refusing to sync with --prune: the VPS list from URL says "total": 200 but holds 20 rows`,
        stdout: "Nothing was written.",
      },
      {
        what: 'a first page with "next"',
        doc: { items: rows.slice(0, 20), next: "/api/vps?page=2" },
        deletes: 40,
        sentence: `refusing to sync with --prune: the VPS list from URL has the field "next" ("/api/vps?page=2")`,
        stdout: "Nothing was written.",
      },
      {
        what: "an empty list []",
        doc: [],
        deletes: 60,
        sentence: `refusing to sync with --prune: the VPS list from URL has no rows, so it would delete all 60 synced nodes; if sigma-api really has no active VPS, pass --max-prune 100%.`,
        stdout: "Nothing was written.",
      },
    ];

    beforeAll(async () => {
      await deleteAndWait(SYNCED, 120_000); // earlier scenarios' nodes: the bound is a share of exactly these 60
      await restore();
    }, 180_000);

    it.each(cases)(
      "$what: nothing deleted, exit 1, the reason in one sentence; --max-prune 100% carries out the deletes",
      async ({ what, doc, deletes, sentence, stdout, updated: updatedId }) => {
        await withLogs(`cli 8 ${what}`, async () => {
          const before = await syncedUids();
          expect(before.size).toBe(60);
          const want = `xrayr-mesh: ${sentence.replace("URL", url)}`;

          const dry = await sync(doc, "--prune", "--dry-run");
          expect(dry.code).toBe(1);
          expect(dry.stderr.split("\n").filter((l) => l !== "")).toEqual([expect.stringContaining(want)]);

          const r = await sync(doc, "--prune");
          expect(r.code).toBe(1);
          expect(r.stderr.split("\n").filter((l) => l !== "")).toEqual([expect.stringContaining(want)]);
          expect(r.stdout).toContain(`${deletes} to delete`);
          expect(r.stdout).toContain(stdout);
          expect(await syncedUids()).toEqual(before);
          if (updatedId !== undefined) {
            const node = (await adminClient().nodes.list(SYNCED)).find((n) => n.spec.vpsId === updatedId);
            expect(node?.spec.version).toBe("v99.0.0");
          }

          const forced = await sync(doc, "--prune", "--max-prune", "100%");
          expect({ code: forced.code, stderr: forced.stderr }).toEqual({ code: 0, stderr: "" });
          expect(forced.stdout).toContain(`${deletes} deleted, 0 failed.`);
          const after = await syncedUids();
          expect(after.size).toBe(60 - deletes);
          for (const [name, uid] of after) expect(before.get(name)).toBe(uid);
          await restore();
        })();
      },
      180_000,
    );
  });

  it(
    "9) one holder for a contested address: the loser's AddressConflict, sync's refusal and doctor name the older node, not the first listed",
    withLogs("cli 9 contested address", async () => {
      const address = "47.0.0.77";
      // The older node gets the larger name: the API server lists by name, so list order and
      // creation order differ. creationTimestamp has whole seconds: more than one apart.
      const older = await fleet.create("zz-old", { address });
      await sleep(1_100);
      const newer = await fleet.create("aa-new", { address });
      const holder = older.metadata.name;
      try {
        expect((await adminClient().nodes.list(fleet.selector)).map((n) => n.metadata.name).filter((n) => n === holder || n === newer.metadata.name)).toEqual([newer.metadata.name, holder]);
        await waitConverged(holder, 30_000);
        const conflict = await waitFor(
          `${newer.metadata.name} AddressConflict`,
          async () => {
            const c = readyCondition(await adminClient().nodes.get(newer.metadata.name));
            return c?.reason === "AddressConflict" ? c : pending(c);
          },
          { timeoutMs: 30_000, intervalMs: 200 },
        );
        const operatorSays = /already used by XrayrNode [^/\s]+\/(\S+),/.exec(conflict.message)?.[1];

        const rows = [{ id: 990_001, hostname: "contested", ip: address, country: "de", status: "active" }];
        const sync = await xrayrMesh(["sync", "--from", listFile("fleet-9.json", rows), "--dry-run", "-o", "json"]);
        expect(sync.code).toBe(1);
        const invalid = (JSON.parse(sync.stdout) as { invalid: { field: string; message: string }[] }).invalid;
        const syncSays = /is used by XrayrNode (\S+)/.exec(invalid.find((i) => i.field === "ip")?.message ?? "")?.[1];

        const doctor = await xrayrMesh(["doctor", "-o", "json"]);
        const check = (JSON.parse(doctor.stdout) as { results: { check: string; verdict: string; detail: string }[] }).results.find((x) => x.check === "address-conflicts");
        expect(check?.verdict).toBe("fail");
        const doctorSays = new RegExp(`${escape(address)}: held by (\\S+), also claimed by ${escape(newer.metadata.name)}`).exec(check?.detail ?? "")?.[1];

        note(`9: holder of ${address}: operator ${String(operatorSays)}, sync ${String(syncSays)}, doctor ${String(doctorSays)}`);
        expect({ operator: operatorSays, sync: syncSays, doctor: doctorSays }).toEqual({ operator: holder, sync: holder, doctor: holder });
      } finally {
        await adminClient().nodes.delete(newer.metadata.name);
        await adminClient().nodes.delete(holder);
      }
    }),
    90_000,
  );

  it(
    "10) kubectl and helm habits: -o yaml, --context, version; sync --dry-run=server is judged by admission and stores nothing",
    withLogs("cli 10 habits", async () => {
      const version = await xrayrMesh(["version", "-o", "json"]);
      expect(version.code).toBe(0);
      expect(JSON.parse(version.stdout)).toMatchObject({ version: expect.stringMatching(/^\d+\.\d+\.\d+/) as unknown, api: "mesh.sigma.io/v1alpha1" });

      const yaml = await xrayrMesh(["status", "--country", "jp", "-o", "yaml"]);
      expect(yaml.code).toBe(0);
      expect(yaml.stdout).toMatch(/^- name: \S+\n {2}address: /);

      // The lab's kubeconfig names one context; asking for another is one sentence naming it.
      const context = await xrayrMesh(["status", "--context", "no-such-context"]);
      expect(context.code).toBe(2);
      expect(context.stderr).toMatch(/^xrayr-mesh: --context "no-such-context" is not in the kubeconfig \(its contexts: \S+\)\.\n$/);

      const rows = [
        { id: 991_001, hostname: "dry-a", ip: "47.0.0.91", country: "de", status: "active" },
        { id: 991_002, hostname: "dry-b", ip: "47.0.0.92", country: "de", status: "active" },
      ];
      const hook = await DenyingWebhook.start("xrayr-e2e-deny-nodes", "new XrayrNodes are frozen for maintenance", { apiGroups: ["mesh.sigma.io"], resources: ["xrayrnodes"] });
      try {
        hook.deny = true;
        const client = await xrayrMesh(["sync", "--from", listFile("fleet-10.json", rows), "--dry-run"]);
        expect(client.code).toBe(0);
        expect(client.stdout).toContain("Dry run: nothing was written.");
        expect(hook.calls).toEqual([]);

        const server = await xrayrMesh(["sync", "--from", listFile("fleet-10.json", rows), "--dry-run=server", "-o", "json"]);
        const doc = JSON.parse(server.stdout) as { dryRun: string; applied: { created: number }; failures: { name: string; error: string }[] };
        expect(server.code).toBe(1);
        expect(doc.dryRun).toBe("server");
        expect(doc.failures.map((f) => f.name).sort()).toEqual(["dry-a-991001", "dry-b-991002"]);
        for (const f of doc.failures) expect(f.error).toContain("new XrayrNodes are frozen for maintenance");
        expect(hook.calls.map((c) => [c.name, c.dryRun]).sort()).toEqual([["dry-a-991001", true], ["dry-b-991002", true]]);

        hook.deny = false;
        const allowed = await xrayrMesh(["sync", "--from", listFile("fleet-10.json", rows), "--dry-run=server"]);
        expect(allowed.code).toBe(0);
        expect(allowed.stdout).toContain("Server dry run (admission ran on every write, nothing was stored): 2 created, 0 updated, 0 deleted, 0 failed.");
        for (const name of ["dry-a-991001", "dry-b-991002"]) expect(await adminClient().nodes.find(name)).toBeUndefined();
      } finally {
        await hook.stop();
      }
    }),
    90_000,
  );
});
