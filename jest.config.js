// client-node 2.x is ESM only, so jest runs in ESM mode (NODE_OPTIONS=--experimental-vm-modules,
// set by the npm scripts) with swc stripping types; swc does not type-check, `npm run typecheck` does.
const transform = {
  "^.+\\.ts$": ["@swc/jest", { jsc: { parser: { syntax: "typescript" }, target: "es2024" }, module: { type: "es6" } }],
};
const common = {
  transform,
  extensionsToTreatAsEsm: [".ts"],
  moduleNameMapper: { "^(\\.{1,2}/.*)\\.js$": "$1" },
  testEnvironment: "node",
  // Lab state dirs (.lab, .lab-e2e, .lab-chart, ...) hold etcd's *.snap files, which jest would
  // count as obsolete snapshots and fail the run on.
  modulePathIgnorePatterns: ["<rootDir>/\\.lab[^/]*/"],
};

export default {
  projects: [
    { ...common, displayName: "unit", testMatch: ["<rootDir>/src/**/*.test.ts", "<rootDir>/test/unit/**/*.test.ts"] },
    {
      ...common,
      displayName: "e2e",
      testMatch: ["<rootDir>/test/e2e/**/*.e2e.test.ts"],
      // Starts a lab (or reuses E2E_KUBECONFIG's cluster) once for all e2e files; see test/e2e/support/.
      globalSetup: "<rootDir>/test/e2e/support/global-setup.ts",
      globalTeardown: "<rootDir>/test/e2e/support/global-teardown.ts",
    },
  ],
};
