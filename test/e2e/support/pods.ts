// The chart's Deployment run for real as podman pods: `helm template` with the chart's defaults,
// each replica's Pod made from the Deployment's pod template, and `podman kube play` of it with
// the image `make image` built (test/lab/image.sh). No kubelet runs here (docs/testing.md says
// why), so this file adds to each Pod exactly what a kubelet would give it and nothing else:
//   - the ServiceAccount token, ca.crt and namespace at /var/run/secrets/kubernetes.io/
//     serviceaccount (a token of the chart's ServiceAccount from `kubectl create token`, ca.crt
//     from the namespace's kube-root-ca.crt ConfigMap, as the projected volume has them);
//   - KUBERNETES_SERVICE_HOST/PORT naming the lab's API server.
// and two corrections where podman 4.3's kube play departs from a kubelet:
//   - containerPorts are not passed on: kube play would publish each on the host's 0.0.0.0
//     (a kubelet publishes only hostPorts), and the two replicas' 8080 would collide;
//   - each emptyDir gets a name of its own pod: kube play makes an emptyDir a named volume of
//     the volume's name ("tmp"), one volume shared by every pod on the machine.
// Each pod gets its own network namespace (slirp4netns), as on a cluster: both replicas listen
// on the chart's port 8080, which on the host's network would collide (and face the machine's
// interfaces). slirp4netns maps the host's loopback to 10.0.2.2 in the pod, so the operator still
// talks only to the lab's 127.0.0.1 API server; KUBERNETES_SERVICE_HOST is kubernetes.default.svc
// (a name in the API server's certificate) pinned to 10.0.2.2 with hostAliases. Probes are run
// from here through each pod's own network namespace (nsenter), with the chart's paths and port.
import { execFile, execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments, stringify } from "yaml";
import { kubectl } from "./kube.js";
import { lab, NAMESPACE, REPO } from "./lab.js";
import { parseMetrics, sumMetric } from "./metrics.js";
import { pending, waitFor } from "./wait.js";

export const CHART = join(REPO, "charts/xrayr-mesh-operator");
export const RELEASE = "xrayr-mesh-operator";
const IMAGE_SH = join(REPO, "test/lab/image.sh");
const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
/** The host's loopback as slirp4netns shows it inside a pod (allow_host_loopback). */
const HOST_LOOPBACK_IN_POD = "10.0.2.2";
const API_HOST_NAME = "kubernetes.default.svc";
const PODMAN_NETWORK = "slirp4netns:allow_host_loopback=true";

// A loose view of the rendered objects: only the fields read or added here are typed.
interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}
interface Container {
  name: string;
  image: string;
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  readinessProbe?: { httpGet?: { path: string; port: number | string } };
  [k: string]: unknown;
}
interface PodSpec {
  containers: Container[];
  volumes?: Record<string, unknown>[];
  hostAliases?: { ip: string; hostnames: string[] }[];
  serviceAccountName?: string;
  [k: string]: unknown;
}
export interface Deployment extends Obj {
  spec: { replicas?: number; template: { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec } };
}

function run(cmd: string, args: string[], { input, timeoutMs = 60_000 }: { input?: string; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: timeoutMs, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

async function must(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}:\n${r.stderr.slice(-3000)}`);
  return r.stdout;
}

/**
 * Installs podman if missing (as root) and checks that it can run containers here; returns why
 * not, or undefined when it can. Synchronous: test files decide at load time whether to skip.
 */
export function podmanProblem(): string | undefined {
  try {
    execFileSync(IMAGE_SH, ["--prepare"], { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  } catch (err) {
    return `test/lab/image.sh --prepare failed: ${(err as { stderr?: string }).stderr ?? String(err)}`;
  }
  try {
    execFileSync("podman", ["info", "--format", "{{.Host.OCIRuntime.Name}}"], { stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
  } catch (err) {
    return `podman cannot run here: ${(err as { stderr?: string }).stderr ?? String(err)}`;
  }
  return undefined;
}

/** Builds (or reuses) the image with make image's script; returns the chart's image reference and its image id. */
export async function buildImage(): Promise<{ ref: string; id: string; ms: number }> {
  const t0 = Date.now();
  const ref = (await must(IMAGE_SH, [], { timeoutMs: 900_000 })).trim();
  const id = (await must("podman", ["image", "inspect", "--format", "{{.Id}}", ref])).trim();
  return { ref, id, ms: Date.now() - t0 };
}

/** The helm binary test/lab/build.sh builds (cached). */
export async function helmBin(): Promise<string> {
  return (await must(join(REPO, "test/lab/build.sh"), ["helm"], { timeoutMs: 900_000 })).trim();
}

function parseObjects(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

/** `helm template` of the chart with its defaults, as parsed objects. */
export async function renderChart(extra: string[] = []): Promise<Obj[]> {
  return parseObjects(await must(await helmBin(), ["template", RELEASE, CHART, "--namespace", NAMESPACE, ...extra]));
}

/** Real helm against the lab API server as its admin; stdout. */
export async function helm(args: string[]): Promise<string> {
  return must(await helmBin(), ["--kubeconfig", lab().kubeconfig, "--namespace", NAMESPACE, ...args], { timeoutMs: 180_000 });
}

/** The objects of a release's current revision, as helm installed them (`helm get manifest`). */
export async function releaseObjects(release: string): Promise<Obj[]> {
  return parseObjects(await helm(["get", "manifest", release]));
}

export function deploymentOf(objects: readonly Obj[]): Deployment {
  const d = objects.find((o) => o.kind === "Deployment");
  if (d === undefined) throw new Error("the chart rendered no Deployment");
  return d as Deployment;
}

/** Applies rendered objects (server-side, as helm's would be) with the lab admin's kubectl. */
export async function applyObjects(objects: readonly Obj[]): Promise<void> {
  const r = await kubectl(["apply", "--server-side", "--force-conflicts", "--field-manager=xrayr-e2e-pods", "-f", "-"], { input: objects.map((o) => stringify(o)).join("---\n") });
  if (r.code !== 0) throw new Error(`kubectl apply failed: ${r.stderr}`);
}

/** What a kubelet puts in the service-account volume, written to `dir` for a bind mount. */
export async function serviceAccountVolume(dir: string, serviceAccount: string): Promise<void> {
  const token = await kubectl(["-n", NAMESPACE, "create", "token", serviceAccount, "--duration=1h"]);
  if (token.code !== 0) throw new Error(`kubectl create token ${serviceAccount}: ${token.stderr}`);
  const ca = await waitFor(
    `ConfigMap kube-root-ca.crt in ${NAMESPACE}`,
    async () => {
      const r = await kubectl(["-n", NAMESPACE, "get", "configmap", "kube-root-ca.crt", "-o", "jsonpath={.data.ca\\.crt}"]);
      return r.code === 0 && r.stdout.includes("BEGIN CERTIFICATE") ? r.stdout : pending(r.stderr);
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  writeFileSync(join(dir, "token"), token.stdout.trim(), { mode: 0o644 });
  writeFileSync(join(dir, "ca.crt"), ca, { mode: 0o644 });
  writeFileSync(join(dir, "namespace"), NAMESPACE, { mode: 0o644 });
}

const NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";
function kubeSuffix(bytes: Buffer, n: number): string {
  return Array.from(bytes.subarray(0, n), (b) => NAME_ALPHABET[b % NAME_ALPHABET.length] ?? "x").join("");
}

/**
 * The Pod a ReplicaSet of `d` would create (named <deployment>-<template hash>-<5 random>,
 * labelled pod-template-hash), with what a kubelet adds: the service-account volume from
 * `saDir` and the in-cluster environment pointing at `apiPort` on the host's loopback.
 */
export function podFromDeployment(d: Deployment, saDir: string, apiPort: number): Obj & { spec: PodSpec } {
  const template = structuredClone(d.spec.template);
  const hash = kubeSuffix(createHash("sha256").update(JSON.stringify(template)).digest(), 10);
  const name = `${d.metadata.name}-${hash}-${kubeSuffix(randomBytes(5), 5)}`;
  const spec = template.spec;
  const volume = "kube-api-access";
  const renamed = new Map<string, string>();
  spec.volumes = (spec.volumes ?? []).map((v) => {
    if (!("emptyDir" in v) || typeof v.name !== "string") return v;
    renamed.set(v.name, `${name}-${v.name}`);
    return { ...v, name: `${name}-${v.name}` };
  });
  spec.volumes.push({ name: volume, hostPath: { path: saDir, type: "Directory" } });
  spec.hostAliases = [...(spec.hostAliases ?? []), { ip: HOST_LOOPBACK_IN_POD, hostnames: [API_HOST_NAME] }];
  for (const c of spec.containers) {
    delete c.ports;
    c.env = [...(c.env ?? []), { name: "KUBERNETES_SERVICE_HOST", value: API_HOST_NAME }, { name: "KUBERNETES_SERVICE_PORT", value: String(apiPort) }];
    c.volumeMounts = (c.volumeMounts ?? []).map((m) => ({ ...m, name: renamed.get(m.name) ?? m.name }));
    c.volumeMounts.push({ name: volume, mountPath: SA_DIR, readOnly: true });
  }
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: d.metadata.namespace ?? NAMESPACE, labels: { ...(template.metadata.labels ?? {}), "pod-template-hash": hash }, annotations: template.metadata.annotations ?? {} },
    spec,
  };
}

function ownLabDir(): string {
  const { labDir } = lab();
  if (labDir === undefined) throw new Error("the pods e2e needs a lab of test/lab (its API server on loopback)");
  return labDir;
}

/** The lab API server's port (it listens on 127.0.0.1 only). */
export function labApiPort(): number {
  const url = new URL((JSON.parse(readFileSync(join(ownLabDir(), "lab.json"), "utf8")) as { apiserver: string }).apiserver);
  return Number(url.port);
}

/** Where the pods' manifests and ServiceAccount files go and their names are recorded (lab-down.sh removes those pods). */
export function labPodDir(): string {
  return join(ownLabDir(), "podman");
}

const played = new Set<PodmanPod>();
let exitHook = false;

/** One replica as a podman pod, started with `podman kube play`. */
export class PodmanPod {
  readonly container: string;
  /** Date.now() just before `podman kube play`. */
  playedAt = 0;
  private netnsPid: number | undefined;

  private constructor(
    readonly name: string,
    readonly manifest: Obj & { spec: PodSpec },
    /** The chart's container as rendered (ports and probes, which the played manifest lacks). */
    readonly chartContainer: Container,
    readonly file: string,
  ) {
    // kube play names a container <pod>-<container>.
    this.container = `${name}-${chartContainer.name}`;
  }

  /** Plays `manifest`, made by podFromDeployment from `d`. */
  static async play(manifest: Obj & { spec: PodSpec }, d: Deployment, dir: string): Promise<PodmanPod> {
    const chartContainer = d.spec.template.spec.containers[0];
    if (chartContainer === undefined) throw new Error("the chart's pod template has no container");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${manifest.metadata.name}.yaml`);
    writeFileSync(file, stringify(manifest));
    const pod = new PodmanPod(manifest.metadata.name, manifest, chartContainer, file);
    played.add(pod);
    if (!exitHook) {
      exitHook = true;
      // Last resort if the file dies without its afterAll: no pod outlives the runner.
      process.on("exit", () => {
        for (const p of played) p.removeNow();
      });
    }
    pod.playedAt = Date.now();
    await must("podman", ["kube", "play", "--network", PODMAN_NETWORK, file], { timeoutMs: 120_000 });
    return pod;
  }

  /** The container's port for `name` (e.g. http-metrics) or number. */
  port(p: number | string): number {
    if (typeof p === "number") return p;
    const found = this.chartContainer.ports?.find((x) => x.name === p);
    if (found === undefined) throw new Error(`no container port named ${p}`);
    return found.containerPort;
  }

  /** Runs a command in the operator's container (as its user); its trimmed stdout. */
  async exec(cmd: string[]): Promise<string> {
    return (await must("podman", ["exec", this.container, ...cmd])).trim();
  }

  async inspect(format: string): Promise<string> {
    return (await must("podman", ["inspect", "--format", format, this.container])).trim();
  }

  /** GET http://127.0.0.1:<port><path> inside the pod's own network namespace. */
  async get(path: string, port: number | string = "http-metrics"): Promise<{ status: number; body: string }> {
    // The infra container holds the pod's network namespace for the pod's whole life, even
    // while the operator's container is stopped.
    if (this.netnsPid === undefined) {
      const infra = (await must("podman", ["pod", "inspect", "--format", "{{.InfraContainerID}}", this.name])).trim();
      this.netnsPid = Number((await must("podman", ["inspect", "--format", "{{.State.Pid}}", infra])).trim());
    }
    const r = await run("nsenter", [`--net=/proc/${this.netnsPid}/ns/net`, "curl", "-sS", "--max-time", "2", "-w", "\n%{http_code}", `http://127.0.0.1:${this.port(port)}${path}`], { timeoutMs: 5000 });
    if (r.code !== 0) throw new Error(`GET ${path} in pod ${this.name}: ${r.stderr.trim() || `exit ${r.code}`}`);
    const cut = r.stdout.lastIndexOf("\n");
    return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) };
  }

  /** Waits for the readiness probe's path to answer 200, failing early if the container exits. */
  async waitReady(timeoutMs: number): Promise<void> {
    const probe = this.chartContainer.readinessProbe?.httpGet;
    if (probe === undefined) throw new Error("the chart's container has no httpGet readinessProbe");
    await waitFor(
      `pod ${this.name} ${probe.path}`,
      async () => {
        if (!(await this.running())) throw new Error(`container ${this.container} is not running:\n${await this.logTail()}`);
        const r = await this.get(probe.path, probe.port);
        return r.status === 200 ? true : pending(`HTTP ${r.status}`);
      },
      { timeoutMs, intervalMs: 200 },
    );
  }

  async running(): Promise<boolean> {
    return (await this.inspect("{{.State.Running}}")) === "true";
  }

  async isLeader(): Promise<boolean> {
    const r = await this.get("/metrics");
    return r.status === 200 && sumMetric(parseMetrics(r.body), "xrayr_mesh_leader") === 1;
  }

  async writes(): Promise<number> {
    const r = await this.get("/metrics");
    if (r.status !== 200) throw new Error(`pod ${this.name} /metrics: HTTP ${r.status}`);
    return sumMetric(parseMetrics(r.body), "xrayr_mesh_kube_writes_total");
  }

  /**
   * What a kubelet does to a deleted pod's container: SIGTERM (the image's stop signal), SIGKILL
   * after `graceSeconds`, no restart. Resolves when the container has exited.
   */
  async stop(graceSeconds: number): Promise<void> {
    await must("podman", ["stop", "--time", String(graceSeconds), this.container], { timeoutMs: (graceSeconds + 30) * 1000 });
  }

  /** The container's last exit code (137 after a SIGKILL). */
  async exitCode(): Promise<number> {
    return Number(await this.inspect("{{.State.ExitCode}}"));
  }

  /** When the container last exited (ms since the epoch; the host's clock). */
  async finishedAtMs(): Promise<number> {
    return Number(await this.inspect("{{.State.FinishedAt.UnixMilli}}"));
  }

  /** The container's log records (pino JSON lines), across restarts. */
  async logRecords(): Promise<Record<string, unknown>[]> {
    const r = await run("podman", ["logs", this.container]);
    const out: Record<string, unknown>[] = [];
    for (const line of `${r.stdout}\n${r.stderr}`.split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a JSON line
      }
    }
    return out;
  }

  async logTail(lines = 40): Promise<string> {
    const r = await run("podman", ["logs", "--tail", String(lines), this.container]);
    return `--- pod ${this.name} (${this.container}), last ${lines} lines:\n${r.stdout}${r.stderr}`;
  }

  /** Where the container's output is kept after the pod is gone (globalTeardown copies it to .reports/e2e-logs). */
  get logFile(): string {
    return join(lab().stateDir, "logs", `pod-${this.name}.log`);
  }

  /** The pod and its emptyDir volumes (named after the pod, see podFromDeployment); its log kept first. */
  async remove(): Promise<void> {
    const out = await run("podman", ["logs", this.container]);
    if (out.code === 0) writeFileSync(this.logFile, out.stdout + out.stderr);
    await run("podman", ["pod", "rm", "--force", "--time", "10", this.name], { timeoutMs: 60_000 });
    await run("podman", ["volume", "rm", "--force", ...this.volumes()]);
    played.delete(this);
  }

  removeNow(): void {
    for (const args of [["pod", "rm", "--force", "--time", "1", this.name], ["volume", "rm", "--force", ...this.volumes()]]) {
      try {
        execFileSync("podman", args, { stdio: "ignore" });
      } catch {
        // already gone
      }
    }
    played.delete(this);
  }

  private volumes(): string[] {
    return (this.manifest.spec.volumes ?? []).filter((v) => "emptyDir" in v).map((v) => String(v.name));
  }
}

/**
 * Plays the Deployment's replicas (spec.replicas pods) with tokens of its ServiceAccount;
 * records them in `dir` for removeLeftoverPods.
 */
export async function playReplicas(d: Deployment, dir: string): Promise<PodmanPod[]> {
  const sa = d.spec.template.spec.serviceAccountName ?? "default";
  const apiPort = labApiPort();
  const manifests = await Promise.all(
    Array.from({ length: d.spec.replicas ?? 1 }, async () => {
      const saDir = join(dir, `serviceaccount-${randomBytes(4).toString("hex")}`);
      await serviceAccountVolume(saDir, sa);
      return podFromDeployment(d, saDir, apiPort);
    }),
  );
  return Promise.all(
    manifests.map(async (m) => {
      const p = await PodmanPod.play(m, d, dir);
      recordPod(dir, p);
      return p;
    }),
  );
}

/** Pods this file played that are not removed yet. */
export function playedPods(): PodmanPod[] {
  return [...played];
}

export async function removeAllPods(): Promise<void> {
  await Promise.all([...played].map((p) => p.remove()));
}

/** Removes the pods an earlier run of this file recorded in `dir` and left behind. */
export async function removeLeftoverPods(dir: string): Promise<void> {
  const record = join(dir, "pods.txt");
  let names: string[] = [];
  try {
    names = readFileSync(record, "utf8").split("\n").filter((n) => n !== "");
  } catch {
    // no earlier run
  }
  for (const n of names) {
    await run("podman", ["pod", "rm", "--force", "--time", "1", n]);
    const vols = (await run("podman", ["volume", "ls", "--quiet", "--filter", `name=^${n}-`])).stdout.split("\n").filter((v) => v !== "");
    if (vols.length > 0) await run("podman", ["volume", "rm", "--force", ...vols]);
  }
  rmSync(record, { force: true });
}

function recordPod(dir: string, pod: PodmanPod): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "pods.txt"), `${pod.name}\n`, { flag: "a" });
}
