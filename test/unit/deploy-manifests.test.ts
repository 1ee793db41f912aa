// What ships: the chart's render (deploy/operator/ is its default render, proven equal by
// `make chart-check`, which also runs this file on fresh `helm template` outputs through
// CHART_RENDERS), the Dockerfile, and the Istio side in deploy/istio/. No helm binary needed here.
// The chart-installed Prometheus's copy of the alert rules is generated (make generate): test/unit/generated.test.ts.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse, parseAllDocuments } from "yaml";
import { loadConfig } from "../../src/config.js";
import { validateXrayrNode } from "../../src/crd/validate.js";
import { desiredWorkloadEntry } from "../../src/desired/workloadentry.js";
import { RECORD_INTERVAL, RECORDED_LABELS, RECORDING_GROUP, RECORDING_RULES } from "../../src/traffic/queries.js";

const repo = (p: string): string => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const read = (p: string): string => readFileSync(repo(p), "utf8");

// Loose shapes: the tests assert on them and fail loudly if a path is missing.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-return --
   parsed manifests are untyped YAML; walking them by path is the point, and every value read is asserted */
type Obj = Record<string, any>;
const docs = (text: string): Obj[] =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null && typeof o === "object");
const one = (objs: Obj[], kind: string, name?: string): Obj => {
  const found = objs.filter((o) => o["kind"] === kind && (name === undefined || o["metadata"]?.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ""}, found ${found.length}`);
  return found[0] as Obj;
};

/** Exactly the calls the operator makes in the watched namespace; nothing more. */
const OPERATOR_RULES = [
  { apiGroups: ["mesh.sigma.io"], resources: ["xrayrnodes"], verbs: ["list", "watch"] },
  { apiGroups: ["mesh.sigma.io"], resources: ["xrayrnodes/status"], verbs: ["patch"] },
  { apiGroups: ["mesh.sigma.io"], resources: ["xrayrnodes/finalizers"], verbs: ["update"] },
  { apiGroups: ["networking.istio.io"], resources: ["workloadentries"], verbs: ["get", "list", "watch", "create", "patch", "delete"] },
  { apiGroups: ["networking.istio.io"], resources: ["workloadgroups"], verbs: ["get", "list", "watch", "create", "patch", "delete"] },
  { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
  { apiGroups: ["coordination.k8s.io"], resources: ["leases"], resourceNames: ["xrayr-mesh-operator"], verbs: ["get", "update"] },
  { apiGroups: [""], resources: ["events"], verbs: ["create"] },
];

const pkg = JSON.parse(read("package.json")) as { version: string; bin: Record<string, string>; devDependencies: Record<string, string> };
const chart = parse(read("charts/xrayr-mesh-operator/Chart.yaml")) as Obj;

// deploy/operator (the committed default render) always; fresh helm renders under chart-check.
const operatorFiles = (parse(read("deploy/operator/kustomization.yaml")) as Obj)["resources"] as string[];
const committed = docs(operatorFiles.filter((f) => f.endsWith(".yaml")).map((f) => read(`deploy/operator/${f}`)).join("\n---\n"));
const renders: [string, Obj[]][] = [["deploy/operator", committed]];
for (const file of (process.env["CHART_RENDERS"] ?? "").split(":").filter(Boolean)) {
  renders.push([file, docs(readFileSync(file, "utf8"))]);
}

describe.each(renders)("operator manifests: %s", (_name, objs) => {
  const deploy = one(objs, "Deployment");
  const pod = deploy["spec"].template.spec as Obj;
  const container = pod["containers"][0] as Obj;
  const env = Object.fromEntries((container["env"] as Obj[]).map((e) => [e["name"] as string, e]));

  it("runs two replicas with leader election", () => {
    expect(deploy["spec"].replicas).toBe(2);
    expect(pod["containers"]).toHaveLength(1);
    expect(env["LEADER_ELECTION"]?.value).toBe("true");
    expect(env["POD_NAME"]?.valueFrom).toEqual({ fieldRef: { fieldPath: "metadata.name" } });
    expect(deploy["spec"].strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
  });

  it("meets Pod Security restricted: non-root, RuntimeDefault seccomp, no escalation, read-only root, no capabilities", () => {
    expect(pod["securityContext"]).toEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(container["securityContext"]).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(container["volumeMounts"]).toEqual([{ name: "tmp", mountPath: "/tmp" }]);
    expect(pod["volumes"]).toEqual([{ name: "tmp", emptyDir: { sizeLimit: "64Mi" } }]);
    expect(pod["hostNetwork"] ?? false).toBe(false);
    expect(pod["hostPID"] ?? false).toBe(false);
  });

  it("probes /healthz (startup, liveness) and /readyz (readiness) on the metrics port", () => {
    const port = container["ports"][0] as Obj;
    expect(port).toEqual({ name: "http-metrics", containerPort: 8080, protocol: "TCP" });
    expect(env["METRICS_ADDR"]?.value).toBe("0.0.0.0:8080");
    expect(container["startupProbe"].httpGet).toEqual({ path: "/healthz", port: "http-metrics" });
    expect(container["livenessProbe"].httpGet).toEqual({ path: "/healthz", port: "http-metrics" });
    expect(container["readinessProbe"].httpGet).toEqual({ path: "/readyz", port: "http-metrics" });
    expect(container["livenessProbe"].failureThreshold).toBeGreaterThanOrEqual(3);
  });

  it("sets requests and limits, and keeps Istio's sidecar out", () => {
    expect(container["resources"].requests).toEqual(expect.objectContaining({ cpu: expect.any(String), memory: expect.any(String) }));
    expect(container["resources"].limits).toEqual(expect.objectContaining({ memory: expect.any(String) }));
    expect(deploy["spec"].template.metadata.annotations["sidecar.istio.io/inject"]).toBe("false");
  });

  it("passes the operator's own config validation with the env it sets", () => {
    const values: NodeJS.ProcessEnv = {};
    for (const [name, e] of Object.entries(env)) values[name] = (e["value"] as string | undefined) ?? "pod-0";
    const config = loadConfig(values);
    expect(config.namespace).toBe("airport-prod");
    expect(config.serviceAccount).toBe("xrayr-vm");
    expect(config.leaderElection.leaseName).toBe("xrayr-mesh-operator");
    // The chart's default is the operator's: a render without the value changes nothing.
    expect(config.entryWritesPerSecond).toBe(loadConfig({}).entryWritesPerSecond);
  });

  it("runs the image the Dockerfile builds, tagged with the chart's appVersion", () => {
    expect(container["image"]).toBe(`ghcr.io/sigma/xrayr-mesh-operator:${pkg.version}`);
  });

  it("grants exactly the operator's verbs, in the watched namespace, to its ServiceAccount", () => {
    const sa = one(objs, "ServiceAccount");
    const role = one(objs, "Role");
    const binding = one(objs, "RoleBinding");
    expect(role["rules"]).toEqual(OPERATOR_RULES);
    expect(role["metadata"].namespace).toBe(env["AIRPORT_NAMESPACE"]?.value);
    expect(binding["metadata"].namespace).toBe(role["metadata"].namespace);
    expect(binding["roleRef"]).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role["metadata"].name });
    expect(binding["subjects"]).toEqual([{ kind: "ServiceAccount", name: sa["metadata"].name, namespace: sa["metadata"].namespace }]);
    expect(pod["serviceAccountName"]).toBe(sa["metadata"].name);
    expect(sa["metadata"].namespace).toBe(deploy["metadata"].namespace);
    expect(env["LEASE_NAME"]?.value).toBe(OPERATOR_RULES.find((r) => r.resourceNames !== undefined)?.resourceNames[0]);
  });

  it("fences every object the operator writes with a leader stamp: entries, groups, node status", () => {
    const policy = one(objs, "ValidatingAdmissionPolicy");
    expect(policy["spec"].matchConstraints.resourceRules).toEqual([
      { apiGroups: ["networking.istio.io"], apiVersions: ["*"], resources: ["workloadentries", "workloadgroups"], operations: ["CREATE", "UPDATE"] },
      { apiGroups: ["mesh.sigma.io"], apiVersions: ["*"], resources: ["xrayrnodes/status"], operations: ["UPDATE"] },
    ]);
    const stamped = (policy["spec"].variables as Obj[]).find((v) => v["name"] === "stampedByAnnotations");
    expect(stamped?.["expression"]).toBe("request.resource.resource in ['workloadentries', 'workloadgroups']");
  });

  it("creates no cluster-wide access, no Secret and no Namespace", () => {
    const kinds = objs.map((o) => o["kind"] as string);
    for (const k of ["ClusterRole", "ClusterRoleBinding", "Secret", "Namespace"]) expect(kinds).not.toContain(k);
  });

  it("keeps a PodDisruptionBudget and a metrics Service on the pod's labels", () => {
    const pdb = one(objs, "PodDisruptionBudget");
    expect(pdb["spec"].minAvailable).toBe(1);
    expect(pdb["spec"].selector.matchLabels).toEqual(deploy["spec"].selector.matchLabels);
    const svc = one(objs, "Service");
    expect(svc["spec"].selector).toEqual(deploy["spec"].selector.matchLabels);
    expect(svc["spec"].ports).toEqual([{ name: "http-metrics", port: 8080, targetPort: "http-metrics", protocol: "TCP" }]);
  });
});

describe("packaging", () => {
  it("keeps chart appVersion = package.json version", () => {
    expect(chart["appVersion"]).toBe(pkg.version);
    expect(chart["apiVersion"]).toBe("v2");
  });

  it("builds the image on Node 24 (the version package.json pins), ships the bundles alone, non-root", () => {
    const df = read("Dockerfile");
    const froms = [...df.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const f of froms) expect(f).toBe(`node:${pkg.devDependencies["node"]}-bookworm-slim`);
    const runtime = df.slice(df.lastIndexOf("\nFROM "));
    expect(runtime).not.toMatch(/npm ci|node_modules/);
    expect(runtime).toMatch(/^COPY --from=build \/src\/dist\/bundle \.\/dist\/bundle$/m);
    expect(df).toMatch(/^USER 1000:1000$/m);
    const entry = /^ENTRYPOINT (.+)$/m.exec(df)?.[1] ?? "";
    const argv = JSON.parse(entry) as string[];
    expect([argv[0], argv.at(-1)]).toEqual(["node", pkg.bin["xrayr-mesh-operator"]]);
    // Node's own flags only, e.g. the heap's share of the container's memory limit.
    for (const flag of argv.slice(1, -1)) expect(flag).toMatch(/^--[a-z-]+=\S+$/);
  });

  it("ships one CRD, generated: the chart's crds/ equals deploy/crds byte for byte", () => {
    const a = read("deploy/crds/mesh.sigma.io_xrayrnodes.yaml");
    expect(read("charts/xrayr-mesh-operator/crds/mesh.sigma.io_xrayrnodes.yaml")).toBe(a);
  });
});

describe("deploy/istio", () => {
  const istio = docs(
    ((parse(read("deploy/istio/kustomization.yaml")) as Obj)["resources"] as string[]).map((f) => read(`deploy/istio/${f}`)).join("\n---\n"),
  );
  const envFile = Object.fromEntries(
    read("deploy/istio/istio-version.env")
      .split("\n")
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => l.split("=", 2) as [string, string]),
  );

  it("injects sidecars in airport-prod", () => {
    expect(one(istio, "Namespace", "airport-prod")["metadata"].labels["istio-injection"]).toBe("enabled");
  });

  it("has a WorkloadGroup whose labels and service account match the operator's entries", () => {
    const cfg = loadConfig({});
    const v = validateXrayrNode({ metadata: { name: "jp-tokyo-01" }, spec: { address: "45.76.83.243", country: "jp" } });
    if (!v.ok) throw new Error("sample node invalid");
    const entry = desiredWorkloadEntry(
      { metadata: { name: "jp-tokyo-01", namespace: cfg.namespace, uid: "u1" }, spec: v.spec },
      v.spec,
      { appLabel: cfg.appLabel, serviceAccount: cfg.serviceAccount },
    );
    const wg = one(istio, "WorkloadGroup", "xrayr");
    expect(wg["metadata"].namespace).toBe(cfg.namespace);
    for (const [k, val] of Object.entries(wg["spec"].metadata.labels as Record<string, string>)) {
      expect(entry.spec.labels?.[k]).toBe(val);
    }
    for (const [k, val] of Object.entries(wg["spec"].template.labels as Record<string, string>)) {
      expect(entry.spec.labels?.[k]).toBe(val);
    }
    expect(wg["spec"].template.serviceAccount).toBe(entry.spec.serviceAccount);
    expect(wg["spec"].probe).toBeUndefined();
    expect(one(istio, "ServiceAccount", cfg.serviceAccount)["metadata"].namespace).toBe(cfg.namespace);
  });

  // docs/install.md "istiod at fleet scale": each entry change would resend its N endpoints to
  // every airport-prod sidecar, so the fleet-wide ServiceEntry is not applied by -k deploy/istio.
  it("ships no ServiceEntry; the optional xrayr-nodes one (MESH_INTERNAL, STATIC, app=xrayr, airport-prod only) is in optional/", () => {
    expect(istio.map((o) => o["kind"])).not.toContain("ServiceEntry");
    const optional = docs(read("deploy/istio/optional/serviceentry.yaml"));
    const se = one(optional, "ServiceEntry", "xrayr-nodes");
    expect(se["metadata"].namespace).toBe("airport-prod");
    expect(se["spec"]).toEqual(
      expect.objectContaining({ location: "MESH_INTERNAL", resolution: "STATIC", workloadSelector: { labels: { app: "xrayr" } }, exportTo: ["."] }),
    );
    // A TCP port on an address-less entry would capture airport-prod's outbound TCP (IST0134).
    expect((se["spec"].ports as Obj[]).map((p) => p["protocol"])).toEqual(["HTTP"]);
  });

  it("lets sigma-api manage XrayrNodes in airport-prod and nothing else", () => {
    const role = one(istio, "Role", "sigma-api-xrayrnodes");
    expect(role["metadata"].namespace).toBe("airport-prod");
    expect(role["rules"]).toEqual([
      { apiGroups: ["mesh.sigma.io"], resources: ["xrayrnodes"], verbs: ["create", "get", "list", "watch", "patch", "delete"] },
    ]);
    expect(one(istio, "RoleBinding", "sigma-api-xrayrnodes")["roleRef"].name).toBe("sigma-api-xrayrnodes");
    expect(istio.map((o) => o["kind"])).not.toContain("ClusterRoleBinding");
  });

  it("keeps XrayR's token (in the query string) out of Xboard's access logs and traces", () => {
    const t = one(istio, "Telemetry");
    expect(t["spec"].selector.matchLabels).toEqual({ app: "xboard" });
    expect(t["spec"].accessLogging).toEqual([
      { providers: [{ name: "xboard-access-log" }] },
      { providers: [{ name: "envoy" }], disabled: true },
    ]);
    expect(t["spec"].tracing).toEqual([{ disableSpanReporting: true }]);
    const iop = parse(read("deploy/istio/istiod/istio-operator.yaml")) as Obj;
    expect(iop["spec"].meshConfig.accessLogFile).toBe("");
    const provider = (iop["spec"].meshConfig.extensionProviders as Obj[]).find((p) => p["name"] === "xboard-access-log");
    const format = provider?.["envoyFileAccessLog"].logFormat.text as string;
    expect(format).toContain("%REQ_WITHOUT_QUERY(X-ENVOY-ORIGINAL-PATH?:PATH)%");
    // No operator that prints the path or the whole request line with its query.
    expect(format.replaceAll("%REQ_WITHOUT_QUERY(X-ENVOY-ORIGINAL-PATH?:PATH)%", "")).not.toMatch(/PATH|%REQ\(:PATH|ORIGINAL-PATH/);
  });

  it("installs istiod with the workload index on, scoped pushes off, and no mesh-wide HBONE", () => {
    const iop = parse(read("deploy/istio/istiod/istio-operator.yaml")) as Obj;
    expect(iop["spec"].profile).toBe("default");
    expect(iop["spec"].values.global).toEqual({ meshID: "airport-mesh", multiCluster: { clusterName: "airport-prod" } });
    expect(iop["spec"].values.pilot.env).toEqual({ PILOT_ENABLE_AMBIENT: "true", AMBIENT_SCOPED_ADDRESS_PUSHES: "false" });
    expect(JSON.stringify(iop)).not.toContain("ISTIO_META_ENABLE_HBONE");
  });

  it("patches only Xboard's pods with PEER_METADATA_DISCOVERY", () => {
    const patch = parse(read("deploy/istio/xboard/deployment-peer-metadata.patch.yaml")) as Obj;
    const config = JSON.parse(patch["spec"].template.metadata.annotations["proxy.istio.io/config"] as string) as unknown;
    expect(config).toEqual({ proxyMetadata: { PEER_METADATA_DISCOVERY: "true" } });
  });

  // The fleet-scale profile (docs/install.md "Prometheus at fleet scale"): its promise of at
  // most 40 series per VPS at 3 Xboard pods, and what it must keep.
  it("ships the fleet-scale telemetry profile for Xboard's inbound side only: <= 40 series per VPS at 3 pods", () => {
    const t = one(istio, "Telemetry");
    const overrides = (t["spec"].metrics as Obj[]).flatMap((m) => m["overrides"] as Obj[]);
    for (const o of overrides) expect(o["match"].mode).toBe("SERVER");
    const dropped = overrides.filter((o) => o["disabled"] === true).map((o) => o["match"].metric as string).sort();
    expect(dropped).toEqual(["REQUEST_SIZE", "RESPONSE_SIZE"]);
    // Never a label Kiali's graph or health needs: only response_code is rewritten, nothing removed.
    const tags = overrides.flatMap((o) => Object.entries((o["tagOverrides"] ?? {}) as Record<string, Obj>));
    expect(tags.every(([tag, v]) => tag === "response_code" && v["operation"] !== "REMOVE")).toBe(true);
    expect(new Set(tags.map(([, v]) => v["value"] as string)).size).toBe(1);
    expect(overrides.filter((o) => o["tagOverrides"] !== undefined).map((o) => o["match"].metric as string).sort()).toEqual(["REQUEST_COUNT", "REQUEST_DURATION"]);

    const annotations = (parse(read("deploy/istio/xboard/deployment-peer-metadata.patch.yaml")) as Obj)["spec"].template.metadata.annotations as Record<string, string>;
    const buckets = JSON.parse(annotations["sidecar.istio.io/statsHistogramBuckets"] ?? "{}") as Record<string, number[]>;
    expect(Object.keys(buckets)).toEqual(["istiocustom"]);
    const bounds = buckets["istiocustom"] ?? [];
    // The p99 alert's threshold is a bound, and a finite bound lies above it (histogram_quantile
    // caps a quantile in the +Inf bucket at the highest finite bound).
    const groups = (parse(read("deploy/istio/observability/prometheusrule.yaml")) as Obj)["spec"].groups as Obj[];
    const p99 = groups.flatMap((g) => g["rules"] as Obj[]).find((r) => r["alert"] === "XrayrToXboardLatencyP99High");
    const threshold = Number(/>\s*(\d+)\s*$/.exec(p99?.["expr"] as string)?.[1]);
    expect(bounds).toContain(threshold);
    expect(Math.max(...bounds)).toBeGreaterThan(threshold);
    expect([...bounds].sort((a, b) => a - b)).toEqual(bounds);
    const eviction = annotations["sidecar.istio.io/statsEvictionInterval"] ?? "";
    expect(eviction).toMatch(/^\d+m$/);
    // A VPS calling every 60 s is never idle for a whole eviction interval.
    expect(Number(eviction.replace("m", "")) * 60).toBeGreaterThanOrEqual(2 * 60);

    // Series per (VPS, pod, code): the counter, and the duration histogram's buckets, +Inf, _sum, _count.
    const perPod = 1 + bounds.length + 3;
    expect(perPod * 3).toBeLessThanOrEqual(40);
  });

  it("keeps client addresses: NLB IP targets with client IP preservation, or externalTrafficPolicy Local", () => {
    const nlb = parse(read("deploy/istio/xboard/service-nlb-ip.patch.yaml")) as Obj;
    expect(nlb["metadata"].annotations).toEqual(
      expect.objectContaining({
        "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
        "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes": "preserve_client_ip.enabled=true",
      }),
    );
    expect((parse(read("deploy/istio/xboard/service-local.patch.yaml")) as Obj)["spec"].externalTrafficPolicy).toBe("Local");
  });

  it("names one Istio version, used by the istioctl build and the lab's CRDs", () => {
    expect(envFile["ISTIO_RELEASE"]).toMatch(/^1\.30\.\d+$/);
    const gomod = read("test/lab/istioctl/go.mod");
    expect(gomod).toMatch(new RegExp(`\\bistio\\.io/istio ${envFile["ISTIO_GO_MODULE"] ?? "?"}\\b`));
    expect(gomod).toMatch(new RegExp(`\\bistio\\.io/api ${envFile["ISTIO_API"] ?? "?"}\\b`));
    expect(read("test/lab/lab-up.sh")).toContain(`ISTIO_API_VERSION:-${envFile["ISTIO_API"] ?? "?"}}`);
  });
});

describe("alerts", () => {
  const rulePath = "deploy/istio/observability/prometheusrule.yaml";
  it("records the per-pod-summed series src/traffic/queries.ts reads (make generate writes the group)", () => {
    const want = { name: RECORDING_GROUP, interval: RECORD_INTERVAL, rules: RECORDING_RULES.map((r) => ({ record: r.record, expr: r.expr })) };
    const groups = (parse(read(rulePath)) as Obj)["spec"].groups as Obj[];
    expect(groups.find((g) => g["name"] === RECORDING_GROUP)).toEqual(want);
  });

  const rule = (): Obj => parse(read(rulePath)) as Obj;
  const alerts = (): Obj[] => (rule()["spec"].groups as Obj[]).flatMap((g) => g["rules"] as Obj[]).filter((r) => r["alert"] !== undefined);

  it("alert on a silent node, 5xx > 1 %, p99 > 1 s and traffic from unknown sources", () => {
    const byName = Object.fromEntries(alerts().map((a) => [a["alert"] as string, a["expr"] as string]));
    expect(Object.keys(byName).sort()).toEqual(
      ["XboardTrafficFromUnknownSource", "XrayrNodeSilent", "XrayrToXboard5xxRatioHigh", "XrayrToXboardLatencyP99High"],
    );
    expect(byName["XrayrNodeSilent"]).toContain("[5m]");
    expect(byName["XrayrToXboard5xxRatioHigh"]).toMatch(/response_code=~"5\.\."[\s\S]*> 0\.01\s*$/);
    expect(byName["XrayrToXboardLatencyP99High"]).toMatch(/histogram_quantile\(0\.99,[\s\S]*> 1000\s*$/);
    expect(byName["XboardTrafficFromUnknownSource"]).toContain('source_workload="unknown"');
  });

  it("alerts read only the recorded series, on labels they keep", () => {
    for (const a of alerts()) {
      const expr = a["expr"] as string;
      expect({ alert: a["alert"], raw: /(^|[^:_a-z])istio_[a-z_]+\{/.test(expr) }).toEqual({ alert: a["alert"], raw: false });
      const used = [...expr.matchAll(/(xrayr_mesh:[a-z_:0-9]+)\{([^}]*)\}/g)];
      expect(used.length).toBeGreaterThan(0);
      for (const m of used) {
        const kept = RECORDED_LABELS[m[1] ?? ""] ?? [];
        const selected = [...(m[2] ?? "").matchAll(/([a-z_]+)\s*(=~|!~|!=|=)/g)].map((x) => x[1] ?? "");
        expect({ alert: a["alert"], family: m[1], unknown: kept.length === 0 ? ["<not recorded>"] : selected.filter((l) => !kept.includes(l)) }).toEqual({ alert: a["alert"], family: m[1], unknown: [] });
      }
    }
  });

  it("has the files the runbook names", () => {
    for (const f of ["docs/install.md", "deploy/istio/observability/kiali-values.yaml"]) expect(existsSync(repo(f))).toBe(true);
  });
});
