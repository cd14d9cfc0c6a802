FROM alpine:3.20 AS certs
RUN apk add --no-cache ca-certificates tzdata \
 && echo 'nobody:x:65534:65534:nobody:/:/sbin/nologin' > /etc/passwd.minimal

FROM golang:1.22 AS build
WORKDIR /go/src/app
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -ldflags '-extldflags "-static"' -o /app .

# The final image holds nothing but the binary and what it needs at run time.
FROM scratch
COPY --from=certs /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=certs /usr/share/zoneinfo /usr/share/zoneinfo
COPY --from=certs /etc/passwd.minimal /etc/passwd
COPY --from=build /app /app
USER 65534
ENV TZ=Etc/UTC
ENTRYPOINT ["/app"]
