// xrayr-mesh register / retire: exactly what sigma-api's handlers do (see
// src/fleet/register.ts and examples/sigma-api-register): server-side apply of the node by the
// field manager "sigma-api" (a re-register is a no-op), and delete on retire (the operator's
// WorkloadEntry goes with the node by garbage collection).
import { XrayrNodeClient } from "../apply/xrayrnodes.js";
import type { AddressPolicy } from "../crd/address.js";
import { SIGMA_API_MANAGER } from "../fleet/labels.js";
import { registrationNode, registrationProblems, type Registration } from "../fleet/register.js";
import type { Context } from "./context.js";
import { CliError } from "./errors.js";

export async function runRegister(ctx: Context, reg: Registration, policy: AddressPolicy): Promise<number> {
  const node = registrationNode(reg, ctx.namespace);
  const problems = registrationProblems(node, policy);
  if (problems.length > 0) throw new CliError(problems.map((p) => p.message).join(" "), 1);
  const nodes = new XrayrNodeClient(ctx.kc, ctx.namespace);
  const live = await nodes.apply(node, SIGMA_API_MANAGER);
  process.stdout.write(
    `XrayrNode ${ctx.namespace}/${reg.name} registered (address ${node.spec.address}, country ${node.spec.country}, generation ${String(live.metadata.generation ?? "?")}).\n`,
  );
  return 0;
}

export async function runRetire(ctx: Context, name: string): Promise<number> {
  const nodes = new XrayrNodeClient(ctx.kc, ctx.namespace);
  const deleted = await nodes.delete(name);
  process.stdout.write(
    deleted
      ? `XrayrNode ${ctx.namespace}/${name} retired; its WorkloadEntry is garbage-collected with it.\n`
      : `XrayrNode ${ctx.namespace}/${name} was already gone.\n`,
  );
  return 0;
}
