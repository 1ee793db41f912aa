// A second kube-apiserver of the lab, on its own port and its own etcd prefix: a real, empty
// cluster (no CRDs, no namespaces of ours) for what a newcomer meets before installing anything.
// Same binary, certificates and etcd as the lab's; the admin kubeconfig works against it.
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { lab } from "./lab.js";
import { freePort } from "./operator.js";
import { pending, waitFor } from "./wait.js";

export interface BareApiServer {
  kubeconfig: string;
  server: string;
  stop(): Promise<void>;
}

export async function startBareApiServer(): Promise<BareApiServer> {
  const { labDir, kubeconfig } = lab();
  if (labDir === undefined) throw new Error("a bare API server needs the suite's own lab");
  const [binary = "", ...args] = readFileSync(join(labDir, "cmd", "kube-apiserver.args"), "utf8").split("\n").filter((l) => l !== "");
  const port = await freePort();
  const kept = args.filter((a) => !/^--(secure-port|audit-[a-z-]+|etcd-prefix)=/.test(a));
  const child = spawn(binary, [...kept, `--secure-port=${port}`, `--etcd-prefix=/bare-${port}`], { stdio: "ignore" });
  const server = `https://127.0.0.1:${port}`;
  const ca = readFileSync(join(labDir, "pki", "ca.crt"));
  await waitFor(
    "the bare API server to be ready",
    () =>
      new Promise<true | ReturnType<typeof pending>>((resolve) => {
        const req = request(`${server}/readyz`, { ca }, (res) => {
          res.resume();
          resolve(res.statusCode === 200 ? true : pending(res.statusCode));
        });
        req.on("error", (err) => { resolve(pending(err.message)); });
        req.end();
      }),
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  const file = join(lab().stateDir, `bare-${port}.kubeconfig`);
  writeFileSync(file, readFileSync(kubeconfig, "utf8").replace(/server: https:\/\/127\.0\.0\.1:\d+/g, `server: ${server}`));
  return {
    kubeconfig: file,
    server,
    stop: () =>
      new Promise((resolve) => {
        child.once("exit", () => { resolve(); });
        child.kill("SIGTERM");
      }),
  };
}
