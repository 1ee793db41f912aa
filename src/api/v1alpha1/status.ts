// The XrayrNode status: its schema (as the CRD carries it) and, derived from it, its types.
import type { FromSchema, JsonSchemaProps } from "./schema.js";

export const xrayrNodeStatusSchema = {
    type: "object",
    description: "Observed state, written by the operator only.",
    properties: {
      observedGeneration: {
        type: "integer",
        format: "int64",
        minimum: 0,
        description: "The metadata.generation of the spec the operator last reconciled.",
      },
      conditions: {
        type: "array",
        description:
          'Current conditions. "Ready" is True when the node\'s WorkloadEntry matches the spec, so its traffic is attributed to it; ' +
          '"WorkloadGroupReady" is True when its WorkloadGroup is in place too, so Kiali shows the VPS as a workload (never part of Ready).',
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        maxItems: 16,
        items: {
          type: "object",
          description: "A condition in the shape of metav1.Condition.",
          required: ["type", "status", "reason", "message", "lastTransitionTime"],
          properties: {
            type: {
              type: "string",
              description: 'Type of condition in CamelCase, e.g. "Ready".',
              maxLength: 316,
              pattern: "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
            },
            status: {
              type: "string",
              description: "Status of the condition: True, False or Unknown.",
              enum: ["True", "False", "Unknown"],
            },
            reason: {
              type: "string",
              description:
                "Machine-readable CamelCase reason for the last transition, e.g. Reconciled, InvalidSpec, " +
                "AddressConflict, NameTaken, ApplyFailed; GroupNameTaken and EntryNotReady for WorkloadGroupReady.",
              minLength: 1,
              maxLength: 1024,
              pattern: "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
            },
            message: {
              type: "string",
              description: "Human-readable details about the last transition.",
              maxLength: 32768,
            },
            lastTransitionTime: {
              type: "string",
              format: "date-time",
              description: "When the condition last changed status.",
            },
            observedGeneration: {
              type: "integer",
              format: "int64",
              minimum: 0,
              description: "The metadata.generation the condition was computed for.",
            },
          },
        },
      },
      workloadEntry: {
        type: "string",
        description: "Name of the Istio WorkloadEntry the operator maintains for this node (same namespace): <node name>-<8 hex>, the hex digits changing with the address, app, version or service account.",
      },
      writtenBy: {
        type: "object",
        description:
          "The operator replica that last wrote this status: its Lease holder identity and the Lease's leaseTransitions when it took the lease. " +
          "The fencing policy refuses a status write whose writtenBy is not the Lease's current holder and epoch.",
        required: ["holder", "epoch"],
        properties: {
          holder: { type: "string", maxLength: 253, description: "The Lease's holderIdentity (the operator pod's name)." },
          epoch: { type: "integer", format: "int64", minimum: 0, description: "The Lease's leaseTransitions when this holder acquired it." },
        },
      },
      traffic: {
        type: "object",
        // One measurement is one value: a refresh replaces it whole, so a field the new numbers
        // lack (p99Ms with no samples) cannot linger from an older one.
        "x-kubernetes-map-type": "atomic",
        description:
          "The node's calls to Xboard as Istio's metrics show them, when the operator is given a Prometheus URL. " +
          "Refreshed at most every few minutes; at once when the node goes silent or active or crosses the error threshold.",
        required: ["state", "requestsPerMinute", "errorRatio", "observedAt"],
        properties: {
          state: { type: "string", enum: ["Active", "Silent"], description: "Active: requests seen in the window; Silent: none." },
          requestsPerMinute: { type: "number", minimum: 0, description: "Requests per minute to Xboard over the window." },
          errorRatio: {
            type: "number",
            minimum: 0,
            maximum: 1,
            description: "Share of requests with no response, 4xx or 5xx over the window (Kiali's error rate).",
          },
          failing: {
            type: "boolean",
            description: "The node counts as failing: its error ratio went above the operator's threshold and has not yet fallen under half of it.",
          },
          p99Ms: { type: "number", minimum: 0, description: "99th percentile of request duration in ms over the window." },
          lastSeen: { type: "string", format: "date-time", description: "Last time the operator saw traffic from this node." },
          observedAt: { type: "string", format: "date-time", description: "When these numbers were measured." },
        },
      },
    },
  } as const satisfies JsonSchemaProps;

type StatusSchema = typeof xrayrNodeStatusSchema;
export type XrayrNodeStatus = FromSchema<StatusSchema>;
export type Condition = FromSchema<StatusSchema["properties"]["conditions"]["items"]>;
export type TrafficStatus = FromSchema<StatusSchema["properties"]["traffic"]>;
