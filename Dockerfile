# syntax=docker/dockerfile:1
#
# Event Processor image: one image for every role (ROLE=api | worker | all) and for the
# one-shot migration (`npm run db:migrate`).
#
#   docker build -t event-processor:local .
#   docker run --rm -e ROLE=api -e JWT_SECRET=... -e DATABASE_URL=... event-processor:local
#
# Stages: deps (npm ci) -> build (prisma generate, nest build, prune dev deps) -> runtime.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---------------------------------------------------------------------------------------------
# deps: install exactly what package-lock.json pins (dev dependencies included: the build needs
# the Nest CLI, TypeScript and the Prisma CLI).
# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
# openssl lets Prisma's install step detect the platform instead of guessing.
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false \
    CHECKPOINT_DISABLE=1 \
    PRISMA_HIDE_UPDATE_MESSAGE=1
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci

# ---------------------------------------------------------------------------------------------
# build: generate the Prisma client (into src/generated/prisma), compile to dist/, then drop
# dev dependencies so node_modules can be copied as-is into the runtime stage.
# ---------------------------------------------------------------------------------------------
FROM deps AS build
COPY tsconfig.json nest-cli.json ./
COPY prisma ./prisma
COPY scripts ./scripts
COPY src ./src
RUN npm run prisma:generate \
 && npm run build \
 && test -f dist/main.js
RUN npm prune --omit=dev \
 && npm cache clean --force

# ---------------------------------------------------------------------------------------------
# runtime: production dependencies + dist/ + what `npm run db:migrate` needs (prisma/, scripts/).
# Files stay owned by root and read-only for the process, which runs as the unprivileged
# `node` user (uid/gid 1000, numeric so Kubernetes' runAsNonRoot can verify it).
# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# tini as PID 1: forwards SIGTERM to node (graceful drain) and reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production \
    PORT=3001 \
    HEALTH_PORT=3002 \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/prisma ./prisma
COPY --from=build /app/scripts ./scripts

USER 1000:1000

# 3001: API (ROLE=api/all) incl. /metrics; 3002: health + /metrics of a ROLE=worker process.
EXPOSE 3001 3002

# Liveness: /api/live on PORT, or on HEALTH_PORT for a ROLE=worker process. No curl in the slim
# image, so node does the request.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const e=process.env;const p=e.ROLE==='worker'?(e.HEALTH_PORT||3002):(e.PORT||3001);const r=require('http').get({host:'127.0.0.1',port:p,path:'/api/live',timeout:4000},s=>{s.resume();process.exit(s.statusCode===200?0:1)});r.on('timeout',()=>r.destroy(new Error('timeout')));r.on('error',()=>process.exit(1))"]

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/main.js"]
