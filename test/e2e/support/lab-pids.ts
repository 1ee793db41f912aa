// Processes a test starts beside the lab (operators, fault proxies) are recorded in the lab's
// pids/ like the control plane, so lab-down.sh stops any a dying test run left behind.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { lab } from "./lab.js";

/** Records `pid` as pids/<name>-<pid>.{pid,start}; removes the record once `exited` settles. */
export function registerLabProcess(name: string, pid: number | undefined, exited: Promise<unknown>): void {
  const labDir = lab().labDir;
  if (labDir === undefined || pid === undefined || !existsSync(join(labDir, "pids"))) return;
  try {
    // lab_pid compares the start time (field 22 of /proc/PID/stat) to guard against pid reuse.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
    const base = join(labDir, "pids", `${name}-${pid}`);
    writeFileSync(`${base}.start`, `${fields[19] ?? ""}\n`);
    writeFileSync(`${base}.pid`, `${pid}\n`);
    void exited.then(() => {
      rmSync(`${base}.pid`, { force: true });
      rmSync(`${base}.start`, { force: true });
    });
  } catch {
    // the process is already gone; nothing to register
  }
}
