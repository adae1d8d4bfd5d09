# One image for the three kccr services (extractor, applier, control) and the kccr CLI.
# docker-compose.yml picks the service by its command, for example
#   node dist/services/extractor/main.js
#   node bin/kccr.js clusters list        (the CLI; kccr-setup registers the clusters with it)
# With no command, the image runs the control service.

ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: all dependencies, compile services/ to dist/ -------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

COPY tsconfig.json tsconfig.build.json ./
COPY services ./services
# The services may import the schemas (resolveJsonModule), so they are in place for tsc too.
COPY schemas ./schemas
RUN npm run build

# ---- setup: the secure Compose set-up's one-shot steps (docker-compose.secure.yml) ----
# The build stage (every dependency, tsx among them) with openssl for the certificates and deploy/ for the code.
FROM build AS setup
RUN apt-get update && apt-get install -y --no-install-recommends openssl && rm -rf /var/lib/apt/lists/*
COPY deploy ./deploy
CMD ["npx", "tsx", "deploy/docker/secure/setup.ts", "init"]

# ---- runtime: production dependencies, the compiled code and the schemas ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
# A heap ceiling keeps each service near 200 MiB resident under load, and young-generation room of 16 MiB keeps
# garbage collection cheap (measured: docs/performance.md); raise them with NODE_OPTIONS if documents of many
# megabytes are the norm.
ENV NODE_OPTIONS="--max-old-space-size=128 --max-semi-space-size=16"
WORKDIR /app

# package.json also carries "type": "module", which Node needs to load dist/ as ESM.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY --from=build /app/dist ./dist
COPY schemas ./schemas
# The control service's status page (static files, served as they are).
COPY services/control/ui ./services/control/ui
# bin/kccr.js runs the compiled CLI from dist/.
COPY bin ./bin

# The official Node images come with the non-root user "node" (uid 1000).
USER node

# The control service's HTTP port (KCCR_CONTROL_PORT).
EXPOSE 8090
CMD ["node", "dist/services/control/main.js"]
