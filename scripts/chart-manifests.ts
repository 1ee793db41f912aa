// deploy/operator/ is the chart's default render, as plain manifests for kustomize. This script
// turns a `helm template` output into those files (--write, used by `make manifests`) or checks
// that the committed files are exactly that render (--check, used by `make chart-check`).
// One object kind per file; helm.sh/chart and managed-by labels dropped (only Helm may set them).
//   node scripts/chart-manifests.ts --check|--write RENDER.yaml   (Node 24 strips the types)
import { readFileSync, writeFileSync } from "node:fs";
import { parseAllDocuments, stringify } from "yaml";

const OUT = "deploy/operator";
interface K8sObject {
  kind?: string;
  metadata?: { labels?: Record<string, string> };
}

const FILES: Record<string, string[]> = {
  "rbac.yaml": ["ServiceAccount", "Role", "RoleBinding"],
  "deployment.yaml": ["Deployment"],
  "service.yaml": ["Service"],
  "pdb.yaml": ["PodDisruptionBudget"],
  "fencing.yaml": ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"],
};
const HEADERS: Record<string, string[]> = {
  "rbac.yaml": [
    "The operator's identity and least-privilege access in the namespace it watches (airport-prod):",
    "it reads XrayrNodes and writes only their status; it owns WorkloadEntries; it holds one Lease.",
    "The e2e suite and `make demo` run the operator under exactly this Role.",
  ],
  "deployment.yaml": ["Two replicas behind a Lease; Pod Security \"restricted\"; no Istio sidecar."],
  "service.yaml": ["/metrics for Prometheus."],
  "pdb.yaml": ["Keeps one replica through voluntary disruptions."],
  "fencing.yaml": [
    "Fencing (docs/decisions/0009): refuses entry and status writes from a replica that no longer holds the Lease.",
    "Cluster-scoped; bound to the watched namespace. Leave it out only together with leader election.",
  ],
};
const DROP_LABELS = ["helm.sh/chart", "app.kubernetes.io/managed-by"];

const [mode, render] = process.argv.slice(2);
if ((mode !== "--check" && mode !== "--write") || !render) {
  console.error("usage: chart-manifests.ts --check|--write RENDER.yaml");
  process.exit(2);
}

const objects = parseAllDocuments(readFileSync(render, "utf8"))
  .map((d) => d.toJS() as K8sObject | null)
  .filter((o): o is K8sObject => o !== null && typeof o === "object");
for (const o of objects) {
  for (const l of DROP_LABELS) delete o.metadata?.labels?.[l];
}

const placed = new Set<K8sObject>();
let stale = 0;
for (const [file, kinds] of Object.entries(FILES)) {
  const mine = kinds.flatMap((k) => objects.filter((o) => o.kind === k));
  mine.forEach((o) => placed.add(o));
  const head = [
    `# Generated from charts/xrayr-mesh-operator (its default render, release namespace airport-prod)`,
    `# by \`make manifests\`; DO NOT EDIT. make chart-check fails when it differs from the chart.`,
    ...(HEADERS[file] ?? []).map((l) => `# ${l}`),
  ].join("\n");
  const text = `${head}\n${mine.map((o) => stringify(o, { lineWidth: 0 })).join("---\n")}`;
  const path = `${OUT}/${file}`;
  if (mode === "--write") {
    writeFileSync(path, text);
  } else {
    let have = "";
    try {
      have = readFileSync(path, "utf8");
    } catch {
      /* missing: stale */
    }
    if (have !== text) {
      console.error(`${path} differs from the chart's default render (run: make generate)`);
      stale++;
    }
  }
}
const unplaced = objects.filter((o) => !placed.has(o)).map((o) => o.kind ?? "?");
if (unplaced.length > 0) {
  console.error(`chart render has objects with no file in ${OUT}: ${unplaced.join(", ")}`);
  process.exit(1);
}
if (stale > 0) process.exit(1);
console.log(mode === "--write" ? `wrote ${OUT}/ from ${render}` : `${OUT}/ equals the chart's default render`);
