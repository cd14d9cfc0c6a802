FROM haproxy:2.9-alpine

LABEL maintainer="Platform Team <platform@example.com>"
LABEL org.opencontainers.image.title="edge-proxy" \
      org.opencontainers.image.description="TLS termination and routing" \
      org.opencontainers.image.licenses=Apache-2.0 \
      "com.example.multi word"="quoted key"
LABEL com.example.tier=edge com.example.owner=platform

# A single port, a protocol, and ranges.
EXPOSE 80 443/tcp
EXPOSE 8404/tcp 9000-9002/udp
ARG STATS_PORT=8405
EXPOSE ${STATS_PORT}

USER root
RUN mkdir -p /run/haproxy /var/lib/haproxy \
 && chown -R haproxy:haproxy /run/haproxy /var/lib/haproxy
COPY --chown=haproxy:haproxy haproxy.cfg /usr/local/etc/haproxy/haproxy.cfg
USER haproxy

VOLUME ["/var/lib/haproxy"]
VOLUME /run/haproxy /tmp
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=10s --timeout=2s --start-period=15s --retries=3 \
    CMD wget -q -O /dev/null http://127.0.0.1:8404/healthz || exit 1
