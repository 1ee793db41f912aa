// A memory cgroup for one process, so a test or the benchmark can run the operator under the
// chart's memory limit the way a container runtime would: the kernel OOM-kills it past the
// limit. Made as a child of this process's own memory cgroup (v2, or v1's memory hierarchy as
// on the project's machines), which needs root or a delegated cgroup; memoryCgroup() returns
// undefined, with the reason, where neither is writable. Uses node: modules only, so the
// benchmark (plain Node) can import it too.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface MemoryCgroup {
  readonly dir: string;
  readonly limitBytes: number;
  /** argv that runs `argv` inside the cgroup (the shell joins it, then execs: same pid). */
  readonly wrap: (argv: readonly string[]) => string[];
  /** Times the kernel OOM-killed a process here. */
  readonly oomKills: () => number;
  /** Peak memory charged to the cgroup (v1 max_usage_in_bytes, v2 memory.peak), if known. */
  readonly peakBytes: () => number | undefined;
  /** Removes the cgroup (its processes must have exited). */
  readonly remove: () => void;
}

function ownCgroup(): { version: 1 | 2; base: string } | undefined {
  const lines = readFileSync("/proc/self/cgroup", "utf8").split("\n");
  const v1 = lines.find((l) => l.split(":")[1]?.split(",").includes("memory") === true);
  if (v1 !== undefined && existsSync("/sys/fs/cgroup/memory")) {
    return { version: 1, base: join("/sys/fs/cgroup/memory", v1.slice(v1.indexOf(":", v1.indexOf(":") + 1) + 1)) };
  }
  const v2 = lines.find((l) => l.startsWith("0::"));
  if (v2 !== undefined && readFileSync("/sys/fs/cgroup/cgroup.controllers", "utf8").includes("memory")) {
    return { version: 2, base: join("/sys/fs/cgroup", v2.slice(3)) };
  }
  return undefined;
}

/** A new memory cgroup limited to `limitBytes`, or the reason it cannot be made here. */
export function memoryCgroup(name: string, limitBytes: number): MemoryCgroup | { unavailable: string } {
  let own: ReturnType<typeof ownCgroup>;
  try {
    own = ownCgroup();
  } catch (err) {
    return { unavailable: `cannot read this process's cgroups: ${String(err)}` };
  }
  if (own === undefined) return { unavailable: "no memory cgroup controller is mounted" };
  const dir = join(own.base, `${name}-${process.pid}`);
  const { version } = own;
  try {
    mkdirSync(dir, { recursive: true });
    if (version === 1) {
      writeFileSync(join(dir, "memory.limit_in_bytes"), String(limitBytes));
      // Swap would let the process run past the limit instead of being killed at it.
      if (existsSync(join(dir, "memory.memsw.limit_in_bytes"))) writeFileSync(join(dir, "memory.memsw.limit_in_bytes"), String(limitBytes));
    } else {
      writeFileSync(join(dir, "memory.max"), String(limitBytes));
      if (existsSync(join(dir, "memory.swap.max"))) writeFileSync(join(dir, "memory.swap.max"), "0");
    }
  } catch (err) {
    return { unavailable: `cannot create a memory cgroup at ${dir} (${err instanceof Error ? err.message : String(err)})` };
  }
  const read = (file: string): string | undefined => {
    try {
      return readFileSync(join(dir, file), "utf8");
    } catch {
      return undefined;
    }
  };
  return {
    dir,
    limitBytes,
    wrap: (argv) => ["/bin/sh", "-c", `echo $$ > '${join(dir, "cgroup.procs")}' && exec "$@"`, "sh", ...argv],
    oomKills: () => {
      const text = version === 1 ? read("memory.oom_control") : read("memory.events");
      return Number(/oom_kill (\d+)/.exec(text ?? "")?.[1] ?? 0);
    },
    peakBytes: () => {
      const text = version === 1 ? read("memory.max_usage_in_bytes") : read("memory.peak");
      return text === undefined ? undefined : Number(text.trim());
    },
    remove: () => {
      try {
        rmdirSync(dir);
      } catch {
        // still busy or already gone: the kernel frees it with its last process
      }
    },
  };
}
