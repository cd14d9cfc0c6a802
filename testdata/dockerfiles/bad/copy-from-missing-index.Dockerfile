FROM alpine AS base
FROM scratch
COPY --from=5 /bin/sh /sh
