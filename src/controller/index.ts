// The controller runtime: generic building blocks (queue, informer, leader election, reconcile
// loop), independent of any one resource.

export { type Clock, FakeClock, type Timer, sleep, systemClock } from "./clock.js";
export { type Fence, type LeaderStamp, NotLeaderError, unfencedUntil } from "./fence.js";
export { type ApiErrorClass, type ApiErrorKind, apiMessage, classifyApiError, errorFields, networkCause, statusCode } from "./api-errors.js";
export {
  type ControllerOptions,
  Controller,
  type ReconcileOutcome,
  type ReconcileReport,
  type ReconcileResult,
  type Reconciler,
} from "./controller.js";
export {
  type InformerEvent,
  type InformerEventHandler,
  type InformerHooks,
  ResilientInformer,
  type ResilientInformerOptions,
  type RestartInfo,
} from "./informer.js";
export { withSignal } from "./call-options.js";
export { objectKey, splitKey } from "./keys.js";
export { PooledKubeConfig } from "./kubeconfig.js";
export {
  coordinationLeaseLock,
  decide,
  type LeaderCallbacks,
  type LeaderElectionPhase,
  type LeaderElectionRecord,
  LeaderElector,
  type LeaderElectorOptions,
  type LeaseDecision,
  type LeaseLock,
  nextSpec,
  type Observation,
  observe,
  recordFromLease,
  releasedSpec,
} from "./leaderelection.js";
export {
  Backoff,
  type BackoffOptions,
  BucketRateLimiter,
  defaultControllerRateLimiter,
  ItemExponentialFailureRateLimiter,
  jitter,
  MaxOfRateLimiter,
  type RateLimiter,
} from "./ratelimiter.js";
export { WorkQueue, type WorkQueueMetrics, type WorkQueueOptions } from "./workqueue.js";
