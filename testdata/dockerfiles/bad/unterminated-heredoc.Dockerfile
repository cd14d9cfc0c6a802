# syntax=docker/dockerfile:1
FROM debian:bookworm
RUN <<EOF
apt-get update
apt-get install -y curl
EOFF
