// The layer rules (dependency-cruiser), checked by `npm run layers` in `make check`:
// desired state -> plan -> apply, the API types and the domain rules at the bottom, and the
// Kubernetes client only at the edges. test/unit/layers.test.ts shows each rule failing on a
// deliberate violation.
const API_CLIENT = "^node_modules/@kubernetes/client-node";

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
    name: "domain-imports-only-api",
    severity: "error",
    comment: "src/domain/ (the rules every part asks) builds on the API types only, never on a feature.",
    from: { path: "^src/domain/" },
    to: { path: "^src/", pathNot: "^src/(api|domain)/" },
  },
  {
    name: "pure-layers-do-no-io",
    severity: "error",
    comment: "Desired state, plan, status and the domain are pure: no Kubernetes client, no network, no files.",
    from: { path: "^src/(api|domain|desired|plan|status)/" },
    to: { path: [API_CLIENT, "^(node:)?(fs|http|https|net|child_process)$", "^src/(apply|controller|cli|operator)"] },
  },
  {
    name: "only-the-edges-talk-to-the-api-server",
    severity: "error",
    comment: "Only src/apply/ and src/controller/ (and the wiring in src/operator.ts) call the Kubernetes API.",
    from: { path: "^src/", pathNot: ["^src/(apply|controller)/", "^src/operator\\.ts$"] },
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
