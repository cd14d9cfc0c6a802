FROM debian:bookworm
WORKDIR /src
RUN --mount=type=cache,target=/root/.cache,uid=builder \
    --mount=type=bind,source=.,target=/src \
    make && \
    make install
