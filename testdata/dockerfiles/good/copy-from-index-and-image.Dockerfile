# syntax=docker/dockerfile:1
FROM golang:1.22 AS tools
RUN go install github.com/go-delve/delve/cmd/dlv@v1.22.1

FROM node:20-alpine
RUN npm install -g typescript@5.4
COPY . /src
RUN cd /src && tsc -p .

FROM alpine:3.20
# A stage by index, a stage by name, and an image that is not a stage.
COPY --from=1 /src/dist /app/dist
COPY --from=tools /go/bin/dlv /usr/local/bin/dlv
COPY --from=busybox:1.36-musl /bin/busybox /bin/busybox
COPY --from=docker.io/library/nginx:1.27-alpine /etc/nginx/mime.types /etc/mime.types
WORKDIR /app
ENTRYPOINT ["/usr/local/bin/dlv", "exec", "/app/dist/server"]
