# syntax=docker/dockerfile:1
# Multi-stage build: compile with dev dependencies, ship only production dependencies, run as a non-root user.
# Node 24, the Active LTS (README, "Node versions").
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src src
COPY migrations migrations
COPY scripts scripts
COPY bench bench
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=4000
WORKDIR /app
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY package.json ./
COPY seeds seeds
# The partner safelist, loaded at start (PERSISTED_DOCUMENTS_FILE).
COPY generated/client/persisted-documents.json generated/client/persisted-documents.json
USER node
EXPOSE 4000
# Healthy = ready to serve (/readyz: database reachable, migrations applied, embedder configured), on $PORT.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/readyz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
# node runs as PID 1 (no shell in between) so SIGTERM reaches the gateway, which drains and exits 0.
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/main.js"]
