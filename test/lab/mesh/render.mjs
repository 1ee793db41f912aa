// Turns what deploy/istio ships into files the mesh lab's processes read, so the lab runs the
// shipped settings rather than a hand-kept copy:
//   node render.mjs istiod MANIFEST OUTDIR
//     MANIFEST is `istioctl manifest generate -f deploy/istio/istiod/istio-operator.yaml`:
//     the ConfigMap "istio" gives mesh.yaml and meshNetworks.yaml, the istiod Deployment's
//     container gives istiod.env (its literal env, one KEY=VALUE a line) and istiod.args.
//   node render.mjs rules PROMETHEUSRULE OUTFILE
//     the PrometheusRule's spec.groups as a Prometheus rule file.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import YAML from "yaml";

function die(msg) {
  process.stderr.write(`render.mjs: ${msg}\n`);
  process.exit(1);
}

function docs(file) {
  return YAML.parseAllDocuments(readFileSync(file, "utf8"))
    .map((d) => d.toJS())
    .filter((d) => d !== null && typeof d === "object");
}

// Set by the lab itself: from the pod (fieldRef), the in-cluster kubeconfig path, CPU limits.
const NOT_LITERAL = new Set(["KUBECONFIG"]);

function istiod(manifest, outDir) {
  const all = docs(manifest);
  const cm = all.find((d) => d.kind === "ConfigMap" && d.metadata?.name === "istio");
  if (cm?.data?.mesh === undefined) die(`no ConfigMap istio with data.mesh in ${manifest}`);
  const dep = all.find((d) => d.kind === "Deployment" && d.metadata?.name === "istiod");
  const c = dep?.spec?.template?.spec?.containers?.find((x) => x.name === "discovery");
  if (c === undefined) die(`no istiod Deployment with a discovery container in ${manifest}`);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "mesh.yaml"), cm.data.mesh);
  writeFileSync(join(outDir, "meshNetworks.yaml"), cm.data.meshNetworks ?? "networks: {}\n");
  const env = [];
  for (const e of c.env ?? []) {
    if (typeof e.value !== "string" || NOT_LITERAL.has(e.name)) continue;
    if (/[\n=]/.test(e.name) || e.value.includes("\n")) die(`env ${e.name} cannot be written as one line`);
    env.push(`${e.name}=${e.value}`);
  }
  writeFileSync(join(outDir, "istiod.env"), `${env.join("\n")}\n`);
  writeFileSync(join(outDir, "istiod.args"), `${(c.args ?? []).join("\n")}\n`);
}

function rules(promRule, outFile) {
  const pr = docs(promRule).find((d) => d.kind === "PrometheusRule");
  if (!Array.isArray(pr?.spec?.groups) || pr.spec.groups.length === 0) die(`no PrometheusRule with spec.groups in ${promRule}`);
  writeFileSync(outFile, YAML.stringify({ groups: pr.spec.groups }, { lineWidth: 0 }));
}

const [what, input, output] = process.argv.slice(2);
if (what === "istiod" && input && output) istiod(input, output);
else if (what === "rules" && input && output) rules(input, output);
else die("usage: render.mjs istiod MANIFEST OUTDIR | rules PROMETHEUSRULE OUTFILE");
