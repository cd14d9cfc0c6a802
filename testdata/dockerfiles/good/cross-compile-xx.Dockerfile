# syntax=docker/dockerfile:1
# Cross-compilation helpers run natively on the build platform.
FROM --platform=$BUILDPLATFORM tonistiigi/xx:1.4.0 AS xx

FROM --platform=$BUILDPLATFORM golang:1.22-alpine AS build
COPY --from=xx / /
RUN apk add --no-cache clang lld
ARG TARGETPLATFORM
RUN xx-apk add --no-cache musl-dev gcc
WORKDIR /go/src/example.com/agent
RUN --mount=target=. \
    --mount=type=cache,target=/root/.cache/go-build \
    --mount=type=cache,target=/go/pkg/mod \
    CGO_ENABLED=1 xx-go build -o /out/agent ./cmd/agent && \
    xx-verify --static /out/agent

FROM --platform=$TARGETPLATFORM alpine:3.20 AS release
COPY --from=build /out/agent /usr/bin/agent
LABEL org.opencontainers.image.platform=$TARGETPLATFORM
ENTRYPOINT ["agent"]
