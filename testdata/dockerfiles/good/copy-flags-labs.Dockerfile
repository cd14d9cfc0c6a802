# syntax=docker/dockerfile:1.7-labs
FROM node:20-alpine AS workspace
WORKDIR /repo
# Keep the directory structure of every package manifest in the monorepo.
COPY --parents packages/*/package.json package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --workspaces
# Everything else except docs and tests.
COPY --exclude=**/*.md --exclude=**/__tests__ . .
RUN npm run build --workspaces

FROM gcr.io/distroless/nodejs20-debian12
WORKDIR /app
COPY --link --from=workspace /repo/packages/api/dist ./dist
COPY --link --chmod=0444 --chown=65532:65532 config/production.json ./config/
COPY --chmod=u=rwX,go=rX --from=workspace /repo/node_modules ./node_modules
CMD ["dist/main.js"]
