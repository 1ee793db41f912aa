// A second ServiceAccount bound to the operator's own Role, and a kubeconfig for it: a replica
// that runs under it writes as a different user, so the audit log tells the replicas apart.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { kubectl } from "./kube.js";
import { lab, NAMESPACE, OPERATOR_SA } from "./lab.js";

export function serviceAccountUser(name: string): string {
  return `system:serviceaccount:${NAMESPACE}:${name}`;
}

async function k(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input !== undefined ? { input } : {});
  if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** Creates ServiceAccount `name` with the operator's Role; returns a kubeconfig file for it. */
export async function operatorLikeServiceAccount(name: string): Promise<string> {
  const manifest = [
    `apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ${name}, namespace: ${NAMESPACE}}`,
    `apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: ${name}, namespace: ${NAMESPACE}}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: ${OPERATOR_SA}}\nsubjects:\n- {kind: ServiceAccount, name: ${name}, namespace: ${NAMESPACE}}`,
  ].join("\n---\n");
  await k(["apply", "--server-side", "--field-manager=xrayr-e2e", "-f", "-"], manifest);
  const token = (await k(["create", "token", name, "-n", NAMESPACE, "--duration=2h"])).trim();
  const doc = parse(readFileSync(lab().operatorKubeconfig, "utf8")) as { users: { name: string; user: Record<string, unknown> }[]; contexts: { context: Record<string, unknown> }[] };
  const copy = { ...doc, users: [{ name, user: { token } }], contexts: doc.contexts.map((c) => ({ ...c, context: { ...c.context, user: name } })) };
  const file = join(lab().stateDir, `${name}.kubeconfig`);
  writeFileSync(file, stringify(copy), { mode: 0o600 });
  return file;
}
