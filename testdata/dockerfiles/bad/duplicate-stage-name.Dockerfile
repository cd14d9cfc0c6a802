FROM golang:1.22 AS build
RUN go build ./...
FROM node:20 AS Build
RUN npm run build
