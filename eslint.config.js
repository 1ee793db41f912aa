// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "coverage/", ".lab/", "node_modules/", "examples/**/target/"] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ["*.js", "scripts/*.mjs", "bench/*.mjs"] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // An operator that forgets to await a write reports success it did not have.
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // client-node's generated models are data-only classes and its serializer takes plain
      // objects; building them with `new` would add nothing but noise.
      "@typescript-eslint/no-unsafe-class-instance-assignment": "off",
    },
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    ...tseslint.configs.disableTypeChecked,
  },
  // Plain Node scripts (scripts/*.mjs, bench/*.mjs) run outside TypeScript: give them Node's globals.
  {
    files: ["scripts/*.mjs", "bench/*.mjs"],
    languageOptions: { globals: { process: "readonly", console: "readonly" } },
  },
);
