FROM alpine
COPY --chmod=0888 entrypoint.sh /usr/local/bin/
