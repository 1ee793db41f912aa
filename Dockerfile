# xrayr-mesh-operator image. `make image` builds it unchanged with podman on the lab (test/lab/
# image.sh) and the e2e suite runs the chart's pods from it; a unit test
# (test/unit/deploy-manifests.test.ts) keeps its Node version, user and entry point in step with
# package.json and the chart.
#   docker build -t ghcr.io/sigma/xrayr-mesh-operator:0.1.0 .
# The tag is package.json "version" = the chart's appVersion (the chart's default image).

# ---- build: all dependencies, TypeScript -> dist/, esbuild -> dist/bundle/ -------------------
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# The `node` devDependency (Node 24 for npm scripts on machines without it) is not needed in an
# image that already is Node 24; its install script is skipped with the others.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/bundle.ts ./scripts/
RUN npx tsc -p tsconfig.build.json && node scripts/bundle.ts

# ---- runtime: the bundles alone (no node_modules), non-root -------------------------------
FROM node:24.21.0-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/dist/bundle ./dist/bundle
COPY deploy/crds ./deploy/crds
# uid/gid 1000 is the image's `node` user; the chart runs as 1000 with a read-only root
# filesystem and an emptyDir at /tmp.
USER 1000:1000
EXPOSE 8080
# The old space may take half of the memory the container may use (its cgroup limit): V8 then
# collects before the kernel would kill the process; Node alone would size the heap to the
# whole limit, leaving nothing for sockets and code (docs/benchmarks.md). The e2e suite and the
# benchmarks start the operator with exactly this line (test/e2e/support/entrypoint.ts).
ENTRYPOINT ["node", "--max-old-space-size-percentage=50", "dist/bundle/operator.mjs"]
