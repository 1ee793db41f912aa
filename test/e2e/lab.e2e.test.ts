// The lab and the operator's permissions, with no operator process running:
//  - the garbage collector deletes a WorkloadEntry whose XrayrNode owner is deleted (what
//    scenario 3 relies on), and it is the controller-manager that does it;
//  - the suite's operator kubeconfig really authenticates as the ServiceAccount;
//  - scenario 12: the RBAC matrix of deploy/operator/rbac.yaml, by kubectl auth can-i.
import * as k8s from "@kubernetes/client-node";
import { auditOffset, auditSince, writesBy } from "./support/audit.js";
import { waitEntryGone } from "./support/fixtures.js";
import { e2eFile, withLogs } from "./support/harness.js";
import { adminClient, kubectl, NODE_API_VERSION, statusOf, ENTRY_GROUP, ENTRY_VERSION } from "./support/kube.js";
import { GC_USER, lab, NAMESPACE, OPERATOR_USER } from "./support/lab.js";
import { note, pool } from "./support/wait.js";

const fleet = e2eFile("lab");
const T = 60_000;

describe("lab", () => {
  it(
    "garbage collector deletes an owned WorkloadEntry within 30 s of its XrayrNode's deletion",
    withLogs("gc", async () => {
      const { nodes, entries } = adminClient();
      const node = await fleet.create("gc");
      const name = node.metadata.name;
      await entries.create({
        apiVersion: `${ENTRY_GROUP}/${ENTRY_VERSION}`,
        kind: "WorkloadEntry",
        metadata: {
          name,
          namespace: NAMESPACE,
          labels: { ...node.metadata.labels },
          ownerReferences: [{ apiVersion: NODE_API_VERSION, kind: "XrayrNode", name, uid: node.metadata.uid, controller: true, blockOwnerDeletion: true }],
        },
        spec: { address: node.spec.address },
      });
      const offset = lab().auditLog !== undefined ? auditOffset() : -1;
      const t0 = Date.now();
      await nodes.delete(name);
      await waitEntryGone(name, 30_000);
      note(`gc: entry collected ${Date.now() - t0} ms after its node was deleted`);
      if (offset >= 0) {
        const deletes = writesBy(auditSince(offset), { verb: "delete", resource: "workloadentries", name });
        expect(deletes.map((e) => e.user.username)).toContain(GC_USER);
      }
    }),
    T,
  );

  it(
    "the operator kubeconfig authenticates as the ServiceAccount, which can list nodes but not read secrets",
    withLogs("sa identity", async () => {
      const who = await kubectl(["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"], { kubeconfig: lab().operatorKubeconfig });
      expect(who.stderr).toBe("");
      expect(who.stdout).toBe(OPERATOR_USER);

      const kc = new k8s.KubeConfig();
      kc.loadFromFile(lab().operatorKubeconfig);
      const custom = kc.makeApiClient(k8s.CustomObjectsApi);
      await expect(custom.listNamespacedCustomObject({ group: "mesh.sigma.io", version: "v1alpha1", namespace: NAMESPACE, plural: "xrayrnodes" })).resolves.toBeDefined();
      const core = kc.makeApiClient(k8s.CoreV1Api);
      const denied = await core.listNamespacedSecret({ namespace: NAMESPACE }).then(
        () => 200,
        (err: unknown) => statusOf(err),
      );
      expect(denied).toBe(403);
    }),
    T,
  );
});

// [verb, resource (resource[/name]), namespace or "" for cluster scope, extra flags]
type Check = readonly [verb: string, resource: string, namespace: string, flags?: readonly string[]];

const NODES = "xrayrnodes.mesh.sigma.io";
const ENTRIES = "workloadentries.networking.istio.io";
const LEASES = "leases.coordination.k8s.io";
const STATUS = ["--subresource=status"] as const;
const ALLOWED: readonly Check[] = [
  ["list", NODES, NAMESPACE],
  ["watch", NODES, NAMESPACE],
  ["patch", NODES, NAMESPACE, STATUS],
  ["update", NODES, NAMESPACE, ["--subresource=finalizers"]],
  ["get", ENTRIES, NAMESPACE], // an in-place update reads the entry's managedFields
  ["list", ENTRIES, NAMESPACE],
  ["watch", ENTRIES, NAMESPACE],
  ["create", ENTRIES, NAMESPACE],
  ["patch", ENTRIES, NAMESPACE],
  ["delete", ENTRIES, NAMESPACE],
  ["create", "events", NAMESPACE],
  ["create", LEASES, NAMESPACE],
  ["get", `${LEASES}/xrayr-mesh-operator`, NAMESPACE],
  ["update", `${LEASES}/xrayr-mesh-operator`, NAMESPACE],
];
const DENIED: readonly Check[] = [
  // it reads nodes through informers only
  ["get", NODES, NAMESPACE],
  // other namespaces
  ["list", NODES, "default"],
  ["watch", NODES, "default"],
  ["patch", NODES, "default", STATUS],
  ["create", ENTRIES, "default"],
  ["patch", ENTRIES, "default"],
  ["delete", ENTRIES, "default"],
  ["create", "events", "default"],
  ["create", LEASES, "default"],
  ["update", `${LEASES}/xrayr-mesh-operator`, "default"],
  ["list", NODES, "kube-system"],
  ["create", ENTRIES, "kube-system"],
  // other resources in its own namespace
  ["get", "secrets", NAMESPACE],
  ["list", "secrets", NAMESPACE],
  ["get", "pods", NAMESPACE],
  ["create", "pods", NAMESPACE],
  ["get", "configmaps", NAMESPACE],
  ["create", "configmaps", NAMESPACE],
  ["create", "serviceaccounts", NAMESPACE, ["--subresource=token"]],
  ["create", "rolebindings.rbac.authorization.k8s.io", NAMESPACE],
  ["update", "roles.rbac.authorization.k8s.io", NAMESPACE],
  // the nodes' spec is the admin's
  ["create", NODES, NAMESPACE],
  ["delete", NODES, NAMESPACE],
  ["deletecollection", NODES, NAMESPACE],
  ["update", NODES, NAMESPACE],
  ["patch", NODES, NAMESPACE],
  ["update", NODES, NAMESPACE, STATUS],
  // entries: only what creates, merge patches and deletes need
  ["update", ENTRIES, NAMESPACE],
  ["deletecollection", ENTRIES, NAMESPACE],
  // events are only created
  ["delete", "events", NAMESPACE],
  // cluster-scoped writes
  ["create", "namespaces", ""],
  ["delete", "namespaces", ""],
  ["create", "clusterroles.rbac.authorization.k8s.io", ""],
  ["create", "clusterrolebindings.rbac.authorization.k8s.io", ""],
  ["create", "customresourcedefinitions.apiextensions.k8s.io", ""],
  ["update", "customresourcedefinitions.apiextensions.k8s.io", ""],
  // other leases by name, and its own lease beyond get/update
  ["get", `${LEASES}/kube-controller-manager`, NAMESPACE],
  ["update", `${LEASES}/someone-else`, NAMESPACE],
  ["delete", `${LEASES}/xrayr-mesh-operator`, NAMESPACE],
  ["patch", `${LEASES}/xrayr-mesh-operator`, NAMESPACE],
];

async function canI([verb, resource, namespace, flags = []]: Check): Promise<{ check: string; answer: string; error: string }> {
  const args = ["auth", "can-i", verb, resource, ...flags, `--as=${OPERATOR_USER}`];
  if (namespace !== "") args.push("-n", namespace);
  const r = await kubectl(args);
  const answer = r.stdout.trim();
  // exit 0: yes, exit 1: no; anything else (or other output) is an error of the check itself
  const consistent = (r.code === 0 && answer === "yes") || (r.code === 1 && answer === "no");
  return { check: `${verb} ${resource}${flags.length > 0 ? ` ${flags.join(" ")}` : ""} -n ${namespace || "(cluster)"}`, answer, error: consistent ? "" : `exit ${r.code}: ${r.stderr.trim()}` };
}

describe("scenario 12: RBAC of the operator's ServiceAccount (kubectl auth can-i --as)", () => {
  it(
    "allows exactly what the operator needs",
    withLogs("12 allowed", async () => {
      const results = await pool(ALLOWED, 6, canI);
      expect(results.filter((r) => r.error !== "")).toEqual([]);
      expect(results.filter((r) => r.answer !== "yes").map((r) => r.check)).toEqual([]);
    }),
    T,
  );

  it(
    "denies everything else: other namespaces, secrets, pods, configmaps, node spec writes, cluster-scoped writes, other leases",
    withLogs("12 denied", async () => {
      const results = await pool(DENIED, 6, canI);
      expect(results.filter((r) => r.error !== "")).toEqual([]);
      expect(results.filter((r) => r.answer !== "no").map((r) => r.check)).toEqual([]);
    }),
    T,
  );
});
