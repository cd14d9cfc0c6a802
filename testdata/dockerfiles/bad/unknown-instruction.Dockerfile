FROM golang:1.22
WORKDIR /src
RUNN go build ./...
CMD ["/src/app"]
