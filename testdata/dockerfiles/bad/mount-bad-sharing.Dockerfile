FROM debian:bookworm
RUN --mount=type=cache,target=/var/cache/apt,sharing=exclusive apt-get update
