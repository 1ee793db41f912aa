# xrayr-mesh-operator image. Nothing here builds it (no container engine on the build machines);
# it is kept simple and conventional, and a unit test (test/unit/deploy-manifests.test.ts) keeps
# its Node version, user and entry point in step with package.json and the chart.
#   docker build -t ghcr.io/sigma/xrayr-mesh-operator:0.1.0 .
# The tag is package.json "version" = the chart's appVersion (the chart's default image).

# ---- build: all dependencies, TypeScript -> dist/ -------------------------------------------
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# The `node` devDependency (Node 24 for npm scripts on machines without it) is not needed in an
# image that already is Node 24; its install script is skipped with the others.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

# ---- runtime: production dependencies only, non-root --------------------------------------
FROM node:24.21.0-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY deploy/crds ./deploy/crds
# uid/gid 1000 is the image's `node` user; the chart runs as 1000 with a read-only root
# filesystem and an emptyDir at /tmp.
USER 1000:1000
EXPOSE 8080
ENTRYPOINT ["node", "dist/cmd/operator.js"]
