// xrayr-mesh register / retire: exactly what sigma-api's handlers do (see
// src/fleet/register.ts and examples/sigma-api-register): server-side apply of the node by the
// field manager "sigma-api" (a re-register is a no-op), and delete on retire (the operator's
// WorkloadEntry goes with the node by garbage collection). register refuses to take over a node
// that stands for another VPS (a different vps-id) unless --force is given.
// Exit status: 1 when the node is refused (bad input, another VPS's node, the API server's
// refusal of the write); 2 for setup errors (cluster unreachable, credentials refused).
import { XrayrNodeClient } from "../apply/xrayrnodes.js";
import type { AddressPolicy } from "../crd/address.js";
import type { XrayrNode } from "../api/v1alpha1/types.js";
import { SIGMA_API_MANAGER } from "../fleet/labels.js";
import { registrationConflict, registrationNode, registrationProblems, type Registration } from "../fleet/register.js";
import type { Context } from "./context.js";
import { CliError, writeFailure } from "./errors.js";
import { print, type Format, type Printable } from "./output.js";

export interface RegisterOptions {
  addressPolicy: AddressPolicy;
  /** Take the node over even when it stands for another VPS. */
  force: boolean;
  output: Format;
}

export async function runRegister(ctx: Context, reg: Registration, opts: RegisterOptions): Promise<number> {
  const node = registrationNode(reg, ctx.namespace);
  const problems = registrationProblems(node, opts.addressPolicy);
  if (problems.length > 0) throw new CliError(problems.map((p) => p.message).join(" "), 1);
  const nodes = new XrayrNodeClient(ctx.kc, ctx.namespace);
  let live: XrayrNode;
  try {
    if (!opts.force) {
      const conflict = registrationConflict(await nodes.get(reg.name), reg);
      if (conflict !== undefined) throw new CliError(conflict, 1);
    }
    live = await nodes.apply(node, SIGMA_API_MANAGER);
  } catch (err) {
    throw writeFailure(err, ctx.server);
  }
  print(registeredView(live, ctx.namespace, reg.name), opts.output);
  return 0;
}

/** A node as register leaves it: a sentence, or the node itself as data. */
export function registeredView(live: XrayrNode, namespace: string, name: string): Printable {
  return {
    data: () => live,
    table: () => `XrayrNode ${namespace}/${name} registered (address ${live.spec.address}, country ${live.spec.country}, generation ${String(live.metadata.generation ?? "?")}).`,
  };
}

/** What retire did: a sentence, or {namespace, name, retired} (false: it was already gone). */
export function retiredView(namespace: string, name: string, deleted: boolean): Printable {
  return {
    data: () => ({ namespace, name, retired: deleted }),
    table: () =>
      deleted ? `XrayrNode ${namespace}/${name} retired; its WorkloadEntry and WorkloadGroup are garbage-collected with it.` : `XrayrNode ${namespace}/${name} was already gone.`,
  };
}

export async function runRetire(ctx: Context, name: string, output: Format): Promise<number> {
  const nodes = new XrayrNodeClient(ctx.kc, ctx.namespace);
  let deleted: boolean;
  try {
    deleted = await nodes.delete(name);
  } catch (err) {
    throw writeFailure(err, ctx.server);
  }
  print(retiredView(ctx.namespace, name, deleted), output);
  return 0;
}
