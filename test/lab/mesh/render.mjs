// Turns what deploy/istio ships into files the mesh lab's processes read, so the lab runs the
// shipped settings rather than a hand-kept copy:
//   node render.mjs istiod MANIFEST OUTDIR
//     MANIFEST is `istioctl manifest generate -f deploy/istio/istiod/istio-operator.yaml`:
//     the ConfigMap "istio" gives mesh.yaml and meshNetworks.yaml, the istiod Deployment's
//     container gives istiod.env (its literal env, one KEY=VALUE a line) and istiod.args.
//   node render.mjs rules PROMETHEUSRULE OUTFILE [SCRAPE_INTERVAL PROMETHEUS_VALUES]
//     the PrometheusRule's spec.groups as a Prometheus rule file; with a scrape interval, the
//     recording groups' interval and rate windows scaled from the shipped scrape interval
//     (PROMETHEUS_VALUES server.global.scrape_interval) to the lab's (alerts as shipped).
//   node render.mjs telemetry TELEMETRY_YAML PROFILE OUTFILE
//     Xboard's Telemetry as deploy/istio ships it (PROFILE project) or without its metrics
//     overrides (PROFILE default: Istio's defaults).
//   node render.mjs xboard DEPLOYMENT_JSON OPTIONS_JSON OUTDIR
//     Xboard's Deployment (test/chart/xboard.yaml with deploy/istio/xboard's patch), and the
//     ReplicaSet and Pods its controllers and Istio's injector would make of it (the lab runs no
//     such controllers): OUTDIR/{deployment,replicaset,pod-N,status-*}.json, pods.tsv.
//   node render.mjs downward POD_JSON OUTDIR
//     the Pod's labels and annotations as the downward API writes them (OUTDIR/labels,
//     OUTDIR/annotations: key="value" lines, sorted), the files pilot-agent reads.
//   node render.mjs prometheus OPTIONS_JSON OUTFILE
//     the lab Prometheus's config: Istio's kubernetes-pods job (samples/addons/prometheus.yaml of
//     the pinned istio.io/istio module) against the lab's API server, istiod, the operators.
import { createHash } from "node:crypto";
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

// Prometheus durations as the rules use them: 30s, 1m, 2s, 500ms.
function ms(d) {
  const m = /^(\d+)(ms|s|m|h)$/.exec(d);
  if (!m) die(`duration ${JSON.stringify(d)}: not a simple Prometheus duration`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2]];
}
const dur = (v) => (v % 1000 === 0 ? `${v / 1000}s` : `${v}ms`);

function rules(promRule, outFile, labScrape, values) {
  const pr = docs(promRule).find((d) => d.kind === "PrometheusRule");
  if (!Array.isArray(pr?.spec?.groups) || pr.spec.groups.length === 0) die(`no PrometheusRule with spec.groups in ${promRule}`);
  let groups = pr.spec.groups;
  if (labScrape !== undefined) {
    const shipped = docs(values)[0]?.server?.global?.scrape_interval;
    if (shipped === undefined) die(`no server.global.scrape_interval in ${values}`);
    const f = ms(labScrape) / ms(shipped);
    // A recording rule's window and interval are multiples of the scrape interval (see
    // src/traffic/queries.ts): they scale with it. Alert windows are what the alert means.
    const scale = (d) => dur(Math.max(1, Math.round(ms(d) * f)));
    groups = groups.map((g) => {
      if (!g.rules.some((r) => r.record !== undefined)) return g;
      if (g.rules.some((r) => r.alert !== undefined)) die(`group ${g.name} mixes alerts and recording rules`);
      if (g.interval === undefined) die(`recording group ${g.name} has no interval`);
      return {
        ...g,
        interval: scale(g.interval),
        rules: g.rules.map((r) => ({ ...r, expr: r.expr.replace(/\[(\d+(?:ms|s|m|h))\]/g, (_, d) => `[${scale(d)}]`) })),
      };
    });
  }
  writeFileSync(outFile, YAML.stringify({ groups }, { lineWidth: 0 }));
}

function telemetry(file, profile, outFile) {
  const t = docs(file).find((d) => d.kind === "Telemetry" && d.spec?.selector?.matchLabels?.app === "xboard");
  if (t === undefined) die(`no Telemetry selecting app=xboard in ${file}`);
  if (profile === "default") delete t.spec.metrics;
  else if (profile !== "project") die(`telemetry profile ${JSON.stringify(profile)}: project or default`);
  writeFileSync(outFile, JSON.stringify(t));
}

// The annotations of the project's profile; Istio's default pod has none of them.
const PROFILE_ANNOTATIONS = ["sidecar.istio.io/statsHistogramBuckets", "sidecar.istio.io/statsEvictionInterval"];

function xboard(deploymentFile, optionsJson, outDir) {
  const o = JSON.parse(optionsJson);
  const dep = JSON.parse(readFileSync(deploymentFile, "utf8"));
  const name = dep.metadata.name;
  const tpl = JSON.parse(JSON.stringify(dep.spec.template));
  if (o.profile !== "project" && o.profile !== "default") die(`telemetry profile ${JSON.stringify(o.profile)}: project or default`);
  const kept = Object.entries(tpl.metadata.annotations ?? {}).filter(([k]) => o.profile === "project" || !PROFILE_ANNOTATIONS.includes(k));
  tpl.metadata.annotations = { ...Object.fromEntries(kept), ...(o.annotations ?? {}) };
  dep.spec.template = tpl;
  dep.spec.replicas = o.replicas;
  delete dep.status;
  // The ReplicaSet's pod-template-hash (the Deployment controller hashes the template).
  const hash = createHash("sha256").update(JSON.stringify(tpl)).digest("hex").slice(0, 10);
  const owner = (kind, apiVersion, ownerName, uid) => [{ apiVersion, kind, name: ownerName, uid, controller: true, blockOwnerDeletion: true }];
  const podLabels = { ...tpl.metadata.labels, "pod-template-hash": hash };
  const rsName = `${name}-${hash}`;
  const rs = {
    apiVersion: "apps/v1",
    kind: "ReplicaSet",
    metadata: { name: rsName, namespace: dep.metadata.namespace, labels: podLabels, ownerReferences: owner("Deployment", "apps/v1", name, "__DEPLOYMENT_UID__") },
    spec: { replicas: o.replicas, selector: { matchLabels: { ...dep.spec.selector.matchLabels, "pod-template-hash": hash } }, template: { ...tpl, metadata: { ...tpl.metadata, labels: podLabels } } },
  };
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "deployment.json"), JSON.stringify(dep));
  writeFileSync(join(outDir, "replicaset.json"), JSON.stringify(rs));
  // What Istio's sidecar injector adds to each pod (the lab runs no webhook): the canonical
  // service labels (from app / version, as the injector defaults them), the tlsMode label,
  // Prometheus's scrape annotations (to the stand-in's admin port: Envoy's /stats/prometheus,
  // which Istio's merged-metrics port also serves), and the istio-proxy container.
  const l = tpl.metadata.labels ?? {};
  const injected = {
    "security.istio.io/tlsMode": "istio",
    "service.istio.io/canonical-name": l["service.istio.io/canonical-name"] ?? l["app.kubernetes.io/name"] ?? l.app ?? name,
    "service.istio.io/canonical-revision": l["service.istio.io/canonical-revision"] ?? l["app.kubernetes.io/version"] ?? l.version ?? "latest",
  };
  const tsv = [];
  o.podIPs.forEach((ip, i) => {
    const podName = `${rsName}-${"bcdfghjklm"[i % 10]}${String(i).padStart(4, "0")}`;
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: podName,
        namespace: dep.metadata.namespace,
        labels: { ...podLabels, ...injected },
        annotations: {
          ...tpl.metadata.annotations,
          "prometheus.io/scrape": "true",
          "prometheus.io/port": String(o.scrapePort),
          "prometheus.io/path": "/stats/prometheus",
          "istio.io/rev": "default",
          "sidecar.istio.io/status": JSON.stringify({ initContainers: ["istio-init"], containers: ["istio-proxy"], volumes: ["istio-envoy", "istio-data", "istio-podinfo", "istio-token", "istiod-ca-cert"], imagePullSecrets: null, revision: "default" }),
        },
        ownerReferences: owner("ReplicaSet", "apps/v1", rsName, "__REPLICASET_UID__"),
      },
      spec: {
        ...tpl.spec,
        containers: [
          ...tpl.spec.containers,
          { name: "istio-proxy", image: `docker.io/istio/proxyv2:${o.istioRelease}`, args: ["proxy", "sidecar"], ports: [{ containerPort: 15090, name: "http-envoy-prom", protocol: "TCP" }] },
        ],
      },
    };
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const cond = (type) => ({ type, status: "True", lastTransitionTime: now });
    const status = {
      status: {
        phase: "Running",
        podIP: ip,
        podIPs: [{ ip }],
        startTime: now,
        conditions: ["PodScheduled", "Initialized", "ContainersReady", "Ready"].map(cond),
        containerStatuses: pod.spec.containers.map((c) => ({ name: c.name, image: c.image, imageID: "", ready: true, started: true, restartCount: 0, state: { running: { startedAt: now } } })),
      },
    };
    writeFileSync(join(outDir, `pod-${i}.json`), JSON.stringify(pod));
    writeFileSync(join(outDir, `status-pod-${i}.json`), JSON.stringify(status));
    tsv.push(`${podName}\t${ip}\t${tpl.spec.containers[0]?.ports?.[0]?.containerPort ?? ""}`);
  });
  const n = o.replicas;
  writeFileSync(join(outDir, "status-replicaset.json"), JSON.stringify({ status: { replicas: n, fullyLabeledReplicas: n, readyReplicas: n, availableReplicas: n, observedGeneration: 1 } }));
  writeFileSync(join(outDir, "status-deployment.json"), JSON.stringify({ status: { replicas: n, updatedReplicas: n, readyReplicas: n, availableReplicas: n, observedGeneration: 1, conditions: [{ type: "Available", status: "True", reason: "MinimumReplicasAvailable" }, { type: "Progressing", status: "True", reason: "NewReplicaSetAvailable" }] } }));
  writeFileSync(join(outDir, "pods.tsv"), `${tsv.join("\n")}\n`);
}

// kubelet's downward-API file format (pkg/fieldpath FormatMap): sorted `key="value"` lines, the
// value quoted as Go's %q does (JSON string escaping for what pods carry).
function downward(podFile, outDir) {
  const pod = JSON.parse(readFileSync(podFile, "utf8"));
  const fmt = (m) => Object.keys(m ?? {}).sort().map((k) => `${k}=${JSON.stringify(m[k])}\n`).join("");
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "labels"), fmt(pod.metadata.labels));
  writeFileSync(join(outDir, "annotations"), fmt(pod.metadata.annotations));
}

function prometheus(optionsJson, outFile) {
  const o = JSON.parse(optionsJson);
  const sample = docs(o.istioSample).find((d) => d.kind === "ConfigMap" && d.metadata?.name === "prometheus");
  const cfg = YAML.parse(sample?.data?.["prometheus.yml"] ?? "");
  const job = cfg?.scrape_configs?.find((j) => j.job_name === "kubernetes-pods");
  if (job === undefined) die(`no job kubernetes-pods in ${o.istioSample}`);
  // In a cluster Prometheus finds the API server in-cluster; the lab points it at its own.
  job.kubernetes_sd_configs = job.kubernetes_sd_configs.map((sd) => ({ ...sd, kubeconfig_file: o.kubeconfig }));
  const out = {
    global: { scrape_interval: o.scrapeInterval, evaluation_interval: o.evalInterval },
    rule_files: ["rules/*.yml"],
    scrape_configs: [
      job,
      { job_name: "pilot", static_configs: [{ targets: [o.pilot], labels: { namespace: "istio-system", app: "istiod" } }] },
      { job_name: "xrayr-mesh-operator", file_sd_configs: [{ files: ["targets/*.json"], refresh_interval: "5s" }] },
    ],
  };
  const header = [
    "# The lab's Prometheus: Xboard's sidecars through Istio's own kubernetes-pods job (pinned",
    "# istio.io/istio samples/addons/prometheus.yaml) against the lab's API server, istiod, and the",
    "# operators that register in targets/ (mesh_scrape in lib.sh). Rules: deploy/istio's.",
  ];
  writeFileSync(outFile, `${header.join("\n")}\n${YAML.stringify(out, { lineWidth: 0 })}`);
}

const [what, ...args] = process.argv.slice(2);
if (what === "istiod" && args.length === 2) istiod(args[0], args[1]);
else if (what === "rules" && (args.length === 2 || args.length === 4)) rules(args[0], args[1], args[2], args[3]);
else if (what === "telemetry" && args.length === 3) telemetry(args[0], args[1], args[2]);
else if (what === "xboard" && args.length === 3) xboard(args[0], args[1], args[2]);
else if (what === "downward" && args.length === 2) downward(args[0], args[1]);
else if (what === "prometheus" && args.length === 2) prometheus(args[0], args[1]);
else die("usage: render.mjs istiod MANIFEST OUTDIR | rules PROMETHEUSRULE OUTFILE [SCRAPE_INTERVAL PROMETHEUS_VALUES] | telemetry FILE PROFILE OUTFILE | xboard DEPLOYMENT_JSON OPTIONS_JSON OUTDIR | downward POD_JSON OUTDIR | prometheus OPTIONS_JSON OUTFILE");
