FROM golang:1.22
RUN --mount=type=cache,target=/go/pkg/mod,shared=locked go mod download
