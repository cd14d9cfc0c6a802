# syntax=docker/dockerfile:1
FROM alpine:3.20 AS fetch
RUN apk add --no-cache git openssh-client
# Trust the host key once, then clone a private repository over the forwarded agent.
RUN mkdir -p -m 0700 ~/.ssh && ssh-keyscan github.com >> ~/.ssh/known_hosts
RUN --mount=type=ssh,required=true \
    git clone git@github.com:example/private-tools.git /src/tools
# A private npm registry token, mounted as a file for one command only.
FROM node:20-bookworm AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npmrc,target=/root/.npmrc \
    --mount=type=cache,target=/root/.npm,sharing=private \
    npm ci
# A token exposed as an environment variable.
RUN --mount=type=secret,id=gh_token,env=GH_TOKEN,required \
    --mount=type=ssh,id=deploy,mode=0666 \
    ./scripts/fetch-release-assets.sh
COPY --from=fetch /src/tools /opt/tools
USER node
CMD ["node", "server.js"]
