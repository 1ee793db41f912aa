// The layer rules (dependency-cruiser), checked by `npm run layers` in `make check`:
// desired state -> plan -> apply, the API types, Istio's types and the domain rules at the
// bottom, the Kubernetes client only at the edges, and one composition root (src/operator.ts and
// src/operator/) that alone assembles a reconcile. test/unit/layers.test.ts shows each rule
// failing on a deliberate violation.
const API_CLIENT = "^node_modules/@kubernetes/client-node";
// Modules that reach outside the process: files, sockets, other processes.
const NODE_IO = "^(node:)?(fs|fs/promises|http|https|http2|net|tls|dgram|dns|child_process|worker_threads)$";
// The project's own modules that do I/O.
const PROJECT_IO = "^src/(apply|controller|cli|cmd|operator|observability/server|traffic/prometheus)";
const COMPOSITION_ROOT = ["^src/operator\\.ts$", "^src/operator/"];

/** @type {import("dependency-cruiser").IForbiddenRuleType[]} */
export const forbidden = [
  {
    name: "no-cycles",
    severity: "error",
    comment: "An import cycle: the layers above cannot be read bottom-up any more.",
    from: { path: "^src/" },
    to: { circular: true },
  },
  {
    name: "api-is-a-leaf",
    severity: "error",
    comment: "src/api/ (the resource's types and schema) imports nothing of the project but itself.",
    from: { path: "^src/api/" },
    to: { path: "^src/", pathNot: "^src/api/" },
  },
  {
    name: "istio-is-a-leaf",
    severity: "error",
    comment: "src/istio/ (the slice of Istio's types we read and write) imports only the API's object types.",
    from: { path: "^src/istio/" },
    to: { path: "^src/", pathNot: "^src/(api|istio)/" },
  },
  {
    name: "domain-imports-only-the-leaves",
    severity: "error",
    comment: "src/domain/ (the rules every part asks) builds on the API and Istio types only, never on a feature.",
    from: { path: "^src/domain/" },
    to: { path: "^src/", pathNot: "^src/(api|istio|domain)/" },
  },
  {
    name: "pure-layers-do-no-io",
    severity: "error",
    comment: "Desired state, plan, status and the domain are pure: no Kubernetes client, no network, no files.",
    from: { path: "^src/(api|istio|domain|desired|plan|status)/" },
    to: { path: [API_CLIENT, NODE_IO, PROJECT_IO] },
  },
  {
    name: "crd-fleet-doctor-do-no-io",
    severity: "error",
    comment:
      "The resource's rules (crd/), the fleet CLI's core (fleet/) and doctor's checks (doctor/) are pure: their callers read " +
      "the cluster and hand them plain data. Kubernetes types are allowed (doctor judges V1Pods); the client's code is not.",
    from: { path: "^src/(crd|fleet|doctor)/" },
    to: { path: [NODE_IO, PROJECT_IO] },
  },
  {
    name: "crd-fleet-doctor-use-no-api-client",
    severity: "error",
    comment: "crd/, fleet/ and doctor/ may name the Kubernetes client's types, never call it.",
    from: { path: "^src/(crd|fleet|doctor)/" },
    to: { path: API_CLIENT, dependencyTypesNot: ["type-only"] },
  },
  {
    name: "only-the-composition-root-imports-reconcile",
    severity: "error",
    comment:
      "src/reconcile/ is one feature (the XrayrNode reconcile): only the operator's composition root (src/operator.ts, " +
      "src/operator/) assembles it. Anything the CLI or doctor needs of it belongs in domain/ or crd/.",
    from: { path: "^src/", pathNot: ["^src/reconcile/", ...COMPOSITION_ROOT] },
    to: { path: "^src/reconcile/" },
  },
  {
    name: "only-the-edges-talk-to-the-api-server",
    severity: "error",
    comment: "Only src/apply/ and src/controller/ (and the composition root) call the Kubernetes API.",
    from: { path: "^src/", pathNot: ["^src/(apply|controller)/", ...COMPOSITION_ROOT] },
    to: { path: API_CLIENT, dependencyTypesNot: ["type-only"] },
  },
];

/** @type {import("dependency-cruiser").ICruiseOptions} */
export const options = {
  doNotFollow: { path: "node_modules" },
  tsPreCompilationDeps: true,
  tsConfig: { fileName: "tsconfig.json" },
  exclude: { path: "\\.test\\.ts$" },
};

export default { forbidden, options };
