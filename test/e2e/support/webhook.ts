// A real validating admission webhook, served over TLS on loopback, that refuses creates (of
// WorkloadEntries unless told another resource) while it is set to deny; it records the calls it
// answered, each with the object's name and whether it was a dry run.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kubectl } from "./kube.js";

export class DenyingWebhook {
  deny = false;
  readonly calls: { name: string; dryRun: boolean; denied: boolean; at: number }[] = [];
  private constructor(
    private readonly server: Server,
    readonly name: string,
    readonly message: string,
  ) {}

  static async start(name: string, message: string, rule: { apiGroups: string[]; resources: string[] } = { apiGroups: ["networking.istio.io"], resources: ["workloadentries"] }): Promise<DenyingWebhook> {
    const dir = mkdtempSync(join(tmpdir(), "xrayr-webhook-"));
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
      "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
    ], { stdio: "ignore" });
    const cert = readFileSync(join(dir, "cert.pem"));
    const key = readFileSync(join(dir, "key.pem"));
    rmSync(dir, { recursive: true, force: true });
    // The server's handler needs the instance, which needs the server: filled in just below.
    const ref: { hook?: DenyingWebhook } = {};
    const server = createServer({ cert, key }, (req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        const review = JSON.parse(body) as { request: { uid: string; name?: string; dryRun?: boolean; object?: { metadata?: { name?: string } } } };
        const r = review.request;
        const denied = ref.hook?.deny ?? false;
        ref.hook?.calls.push({ name: r.object?.metadata?.name ?? r.name ?? "", dryRun: r.dryRun === true, denied, at: Date.now() });
        res.setHeader("Content-Type", "application/json");
        res.end(JSON.stringify({
          apiVersion: "admission.k8s.io/v1",
          kind: "AdmissionReview",
          response: { uid: r.uid, allowed: !denied, ...(denied ? { status: { code: 403, message } } : {}) },
        }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    const hook = new DenyingWebhook(server, name, message);
    ref.hook = hook;
    const config = {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingWebhookConfiguration",
      metadata: { name },
      webhooks: [{
        name: `${name}.e2e.mesh.sigma.io`,
        clientConfig: { url: `https://127.0.0.1:${port}/validate`, caBundle: cert.toString("base64") },
        rules: [{ ...rule, apiVersions: ["*"], operations: ["CREATE"] }],
        admissionReviewVersions: ["v1"],
        // None: the API server calls it for dry runs too, which is what the operator's check needs.
        sideEffects: "None",
        failurePolicy: "Fail",
        timeoutSeconds: 5,
      }],
    };
    const applied = await kubectl(["apply", "-f", "-"], { input: JSON.stringify(config) });
    if (applied.code !== 0) throw new Error(`could not register webhook ${name}: ${applied.stderr}`);
    return hook;
  }

  async stop(): Promise<void> {
    await kubectl(["delete", "validatingwebhookconfiguration", this.name, "--ignore-not-found"]);
    await new Promise<void>((resolve) => this.server.close(() => { resolve(); }));
  }
}
