# syntax=docker/dockerfile:1
FROM alpine:3.20 AS assets
RUN --network=host wget -q -O /tmp/fonts.tar.gz https://fonts.example.com/inter.tar.gz \
 && mkdir -p /assets && tar -xzf /tmp/fonts.tar.gz -C /assets

FROM golang:1.22-bookworm AS test
WORKDIR /src
# Offline tests against vendored modules, scratch space in memory.
RUN --network=none \
    --mount=type=bind,target=.,rw \
    --mount=type=tmpfs,target=/tmp,size=64m \
    --mount=type=bind,from=assets,source=/assets,target=/usr/share/fonts/app \
    go test -mod=vendor ./...
# A cache seeded from another stage, owned by a non-root user.
RUN --mount=type=cache,target=/home/dev/.cache,from=assets,source=/assets,uid=1000,gid=1000,mode=0755 \
    ls -la /home/dev/.cache
