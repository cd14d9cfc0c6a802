FROM golang:1.22 AS build
RUN go build ./...

FROM gcr.io/distroless/static AS release
COPY --from=build /go/bin/app /app
