// Reads the lab apiserver's JSON audit log (write verbs only, Metadata level; see
// test/lab/audit-policy.yaml) from a byte offset, to count who wrote what in a time window.
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { lab } from "./lab.js";

export interface AuditEvent {
  auditID: string;
  stage: string;
  verb: string;
  requestURI: string;
  user: { username: string };
  /** The operator sends xrayr-mesh-operator/<POD_NAME>: replicas under one ServiceAccount differ here. */
  userAgent?: string;
  impersonatedUser?: { username: string };
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string; apiGroup?: string };
  responseStatus?: { code?: number };
  requestReceivedTimestamp?: string;
  /** When the stage was reached: for ResponseComplete, after the write was stored. */
  stageTimestamp?: string;
}

export function auditLogPath(): string {
  const p = lab().auditLog;
  if (p === undefined) throw new Error("the cluster has no known audit log (reused without a lab dir)");
  return p;
}

/** The current end of the audit log: pass it to auditSince later. */
export function auditOffset(): number {
  try {
    return statSync(auditLogPath()).size;
  } catch {
    return 0;
  }
}

/** Complete audit events written after `offset`. */
export function auditSince(offset: number): AuditEvent[] {
  const path = auditLogPath();
  const size = statSync(path).size;
  if (size <= offset) return [];
  const buf = Buffer.alloc(size - offset);
  const fd = openSync(path, "r");
  try {
    readSync(fd, buf, 0, buf.length, offset);
  } finally {
    closeSync(fd);
  }
  const text = buf.toString("utf8");
  const end = text.lastIndexOf("\n"); // a line still being written is left for later
  const out: AuditEvent[] = [];
  for (const line of text.slice(0, end + 1).split("\n")) {
    if (line === "") continue;
    try {
      out.push(JSON.parse(line) as AuditEvent);
    } catch {
      // not an event line
    }
  }
  return out;
}

export interface WriteFilter {
  user?: string;
  verb?: string;
  /** resource, or resource/subresource, e.g. "xrayrnodes/status" */
  resource?: string;
  name?: string;
}

/** "resource" or "resource/subresource" of an event. */
export function resourceOf(e: AuditEvent): string {
  const r = e.objectRef?.resource ?? "";
  return e.objectRef?.subresource !== undefined ? `${r}/${e.objectRef.subresource}` : r;
}

export function writesBy(events: readonly AuditEvent[], f: WriteFilter): AuditEvent[] {
  return events.filter(
    (e) =>
      e.stage === "ResponseComplete" &&
      (f.user === undefined || e.user.username === f.user) &&
      (f.verb === undefined || e.verb === f.verb) &&
      (f.resource === undefined || resourceOf(e) === f.resource) &&
      (f.name === undefined || e.objectRef?.name === f.name),
  );
}

/** Counts by "verb resource" for a readable failure message. */
export function summarize(events: readonly AuditEvent[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of events) {
    const k = `${e.user.username} ${e.verb} ${resourceOf(e)} ${e.responseStatus?.code ?? ""}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}
