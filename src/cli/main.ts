// xrayr-mesh: the fleet CLI. Commands: sync, register, retire, status, doctor, verify, version (one
// file each beside this one). Global flags, before or after the command as kubectl takes them:
// --kubeconfig / AIRPORT_KUBECONFIG, --context, --namespace / AIRPORT_NAMESPACE (default
// airport-prod). Every command prints through output.ts: -o table|wide|json|yaml. Errors are one
// sentence on stderr.
// Exit status: 0 fine; 1 the command found problems (invalid rows, failed checks, a write the
// API server refused: admission 422, conflict 409, forbidden 403); 2 usage or setup errors (bad
// flag, unreadable input or kubeconfig, cluster unreachable, credentials refused, a read before
// any write failing).
import { Command, InvalidArgumentError, Option } from "commander";
import { ADDRESS_POLICIES, isAddressPolicy, type AddressPolicy } from "../crd/address.js";
import { DEFAULT_XBOARD_WORKLOAD } from "../api/v1alpha1/patterns.js";
import { DEFAULT_MAX_PRUNE_MIN, DEFAULT_MAX_PRUNE_PERCENT, parseMaxPrune, type MaxPrune } from "../fleet/prune-guard.js";
import { loadContext, DEFAULT_NAMESPACE, type GlobalOptions } from "./context.js";
import { runDoctor, type DoctorOptions } from "./doctor.js";
import { CliError, describeError } from "./errors.js";
import { runRegister, runRetire } from "./register.js";
import { DEFAULT_TOKEN_ENV } from "./source.js";
import { outputOption, print, type Format } from "./output.js";
import { runStatus } from "./status.js";
import { runSync, type SyncOptions } from "./sync.js";
import { runVerify, type VerifyOptions } from "./verify.js";
import { versionView } from "./version.js";

function positiveInt(max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`must be a whole number from 1 to ${max}.`);
    return n;
  };
}

function maxPrune(v: string): MaxPrune {
  const m = parseMaxPrune(v);
  if (m === undefined) throw new InvalidArgumentError("must be a number of nodes such as 20, or a share of the synced nodes from 0% to 100% such as 25%.");
  return m;
}

function addressPolicy(v: string): AddressPolicy {
  if (!isAddressPolicy(v)) throw new InvalidArgumentError(`must be one of ${ADDRESS_POLICIES.join(", ")}.`);
  return v;
}

const policyOption = () => new Option("--address-policy <policy>", "public refuses private, loopback, CGNAT, documentation and other special ranges, as the operator's ADDRESS_POLICY does").argParser(addressPolicy).default("public");

export function buildProgram(exit: (code: number) => void): Command {
  let server: string | undefined;
  const program = new Command("xrayr-mesh")
    .description("The XrayR fleet in airport-prod: sync from sigma-api, register and retire nodes, status, doctor")
    .addOption(new Option("--kubeconfig <file>", "kubeconfig of airport-prod's cluster").env("AIRPORT_KUBECONFIG"))
    .addOption(new Option("--context <name>", "the kubeconfig context to use (default: its current-context)"))
    .addOption(new Option("-n, --namespace <namespace>", "namespace of the XrayrNodes").env("AIRPORT_NAMESPACE").default(DEFAULT_NAMESPACE))
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({ outputError: (s, write) => { write(s.replace(/^error: /, "xrayr-mesh: ")); } })
    .exitOverride();

  const ctx = () => {
    const c = loadContext(program.opts<GlobalOptions>());
    server = c.server;
    return c;
  };
  const act = <A extends unknown[]>(fn: (...a: A) => Promise<number>) =>
    async (...a: A): Promise<void> => {
      try {
        exit(await fn(...a));
      } catch (err) {
        process.stderr.write(`xrayr-mesh: ${describeError(err, server)}\n`);
        if (process.env.XRAYR_MESH_DEBUG === "1" && err instanceof Error) process.stderr.write(`${err.stack ?? ""}\n`);
        exit(err instanceof CliError ? err.exitCode : 2);
      }
    };

  program
    .command("sync")
    .description("make the synced XrayrNodes match sigma-api's VPS list (docs/fleet-format.md)")
    .requiredOption("--from <file|url|->", "the VPS list: a JSON file, - for standard input, or an http(s) URL")
    .option("--prune", "delete synced XrayrNodes whose VPS is retired, provisioning or absent", false)
    .addOption(
      new Option(
        "--max-prune <n|percent>",
        `with --prune, the most nodes one sync may delete (default ${DEFAULT_MAX_PRUNE_PERCENT}% of the synced nodes, at least ${DEFAULT_MAX_PRUNE_MIN}); 100% also accepts a list that looks partial`,
      ).argParser(maxPrune),
    )
    .addOption(
      new Option("--dry-run [mode]", "client (or no value): print the plan and stop; server: send every write as a server-side dry run (admission judges it, nothing is stored)")
        .choices(["client", "server"])
        .preset("client")
        .default(false),
    )
    .addOption(outputOption())
    .addOption(policyOption())
    .addOption(new Option("--concurrency <n>", "API calls in flight at once").argParser(positiveInt(64)).default(8))
    .addOption(new Option("--token-env <name>", "environment variable holding the bearer token for an http(s) --from").default(DEFAULT_TOKEN_ENV))
    .action(act(async (opts: SyncOptions) => runSync(ctx(), opts)));

  program
    .command("register <name>")
    .description("register a VPS as sigma-api does: server-side apply of its XrayrNode (a repeat is a no-op)")
    .requiredOption("--address <ip>", "the VPS's public IP (canonical form)")
    .requiredOption("--country <code>", "ISO 3166-1 alpha-2 country code, any case")
    .option("--version <version>", "XrayR version (default v1)")
    .option("--vps-id <id>", "sigma-api's id of the VPS")
    .option("--force", "take the node over even when it stands for another VPS (a different vps-id)", false)
    .addOption(policyOption())
    .addOption(outputOption())
    .action(
      act(async (name: string, o: { address: string; country: string; version?: string; vpsId?: string; addressPolicy: AddressPolicy; force: boolean; output: Format }) =>
        runRegister(
          ctx(),
          { name, address: o.address, country: o.country, ...(o.version !== undefined ? { version: o.version } : {}), ...(o.vpsId !== undefined ? { vpsId: o.vpsId } : {}) },
          { addressPolicy: o.addressPolicy, force: o.force, output: o.output },
        ),
      ),
    );

  program
    .command("retire <name>")
    .description("retire a VPS as sigma-api does: delete its XrayrNode (its WorkloadEntry and WorkloadGroup are garbage-collected)")
    .addOption(outputOption())
    .action(act(async (name: string, o: { output: Format }) => runRetire(ctx(), name, o.output)));

  program
    .command("status")
    .description("one line a node: name, address, country, ready and reason, entry present, age")
    .option("--country <code>", "only nodes of this country")
    .addOption(outputOption())
    .action(act(async (o: { country?: string; output: Format }) => runStatus(ctx(), o)));

  program
    .command("doctor")
    .description("check the cluster for everything per-VPS attribution needs; pass / warn / fail with fixes")
    .addOption(outputOption())
    .option("--xboard-selector <selector>", "label selector of the Xboard pods", "app=xboard")
    .option("--xboard-service <name>", "the Service in front of Xboard", "xboard")
    .option("--istio-namespace <namespace>", "where istiod runs", "istio-system")
    .option("--lease-name <name>", "the operator's leader-election Lease", "xrayr-mesh-operator")
    .addOption(policyOption())
    .action(act(async (o: DoctorOptions) => runDoctor(ctx(), o)));

  program
    .command("verify")
    .description("the xrayr -> xboard edge as Kiali shows it, from Prometheus; exit 1 when attribution is broken")
    .addOption(new Option("--prometheus <url>", "Prometheus base URL").env("PROMETHEUS_URL"))
    .option("--window <duration>", "rate window (PromQL duration)", "10m")
    .option("--xboard-workload <name>", "destination_workload of the Xboard pods", DEFAULT_XBOARD_WORKLOAD)
    .option("--app <name>", "the entries' app label (source_app)", "xrayr")
    .addOption(outputOption())
    .action(act(async (o: VerifyOptions) => runVerify(ctx(), o)));

  program
    .command("version")
    .description("this CLI's release, the API it speaks and the Node it runs on (asks no cluster)")
    .addOption(outputOption())
    .action(act(async (o: { output: Format }) => {
      print(versionView(), o.output);
      return Promise.resolve(0);
    }));

  return program;
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = buildProgram((c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    // commander's own exits (--help, --version, usage errors) after exitOverride
    const e = err as { exitCode?: number; code?: string };
    if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return 0;
    return typeof e.exitCode === "number" && e.exitCode !== 0 ? 2 : 0;
  }
  return code;
}
