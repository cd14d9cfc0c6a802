FROM alpine
SHELL /bin/ash -eo pipefail -c
