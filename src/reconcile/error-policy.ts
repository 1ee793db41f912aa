// What a failed write means, decided in one place (kube-rs's error_policy beside its reconcile):
// for the node's status, the condition a person reads; for its key, when it is looked at again.
//   - the write's leadership is over (refused by the fence, or by the API server's fencing
//     policy): nothing more may be written, the status included, and the key is not retried
//     (controller-runtime's TerminalError): the next leader reconciles every node;
//   - the API server refused it (a webhook's denial, 403, 422): ApplyRejected with its message,
//     looked at again every 15 s, not in a hot backoff loop: it fails the same way until a person
//     changes something;
//   - anything else (no answer, 409, 429, 5xx): ApplyFailed, retried with backoff, no sooner
//     than the server's Retry-After.
import { FencedWriteError } from "../apply/writer.js";
import { apiMessage, classifyApiError } from "../controller/api-errors.js";
import type { ErrorAction } from "../controller/controller.js";
import { NotLeaderError } from "../controller/fence.js";
import type { Verdict } from "../plan/plan.js";

export const REJECTED_RETRY_MS = 15_000;

/** The write that failed, for the condition's message. */
export interface FailedWrite {
  kind: "WorkloadEntry" | "WorkloadGroup";
  namespace: string;
  name: string;
  /** The server-side dry run of a replacement, before the entry it replaces is deleted. */
  dryRun?: boolean;
}

/** This replica's leadership ended under the write: it was not sent, or the server refused it for that. */
export function leadershipEnded(err: unknown): boolean {
  return err instanceof NotLeaderError || err instanceof FencedWriteError;
}

/** What happens to the key of a reconcile that threw `err` (the controller's errorPolicy). */
export function errorPolicy(_key: string, err: unknown): ErrorAction {
  if (leadershipEnded(err)) return { requeue: "never" };
  const c = classifyApiError(err);
  if (c.kind === "rejected") return { requeue: "after", afterMs: REJECTED_RETRY_MS };
  return c.retryAfterMs === undefined ? { requeue: "backoff" } : { requeue: "backoff", notBeforeMs: c.retryAfterMs };
}

/** The condition a failed write leaves on the node (never asked when the leadership ended). */
export function failureVerdict(err: unknown, write: FailedWrite): Verdict<"ApplyRejected" | "ApplyFailed"> {
  const server = apiMessage(err);
  if (classifyApiError(err).kind === "rejected") {
    const what = write.dryRun === true
      ? `the replacement ${write.kind} ${write.name} was refused in a dry run, so the current entry stays`
      : `${write.kind} ${write.name} was refused`;
    return { ready: false, reason: "ApplyRejected", message: `${what}: ${server}; tried again every ${REJECTED_RETRY_MS / 1000} s` };
  }
  return { ready: false, reason: "ApplyFailed", message: `writing ${write.kind} ${write.namespace}/${write.name} failed: ${server}; retrying with backoff` };
}
