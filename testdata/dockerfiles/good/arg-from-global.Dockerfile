# Base images chosen by build args declared before the first FROM.
ARG REGISTRY=docker.io
ARG BASE_REPO=library/alpine
ARG BASE_TAG=3.20
ARG VERSION=0.0.0-dev

FROM ${REGISTRY}/${BASE_REPO}:${BASE_TAG} AS base
# Meta args are not visible here unless declared again.
ARG VERSION
RUN echo "building ${VERSION} on ${BASE_TAG:-unknown}" > /version

FROM base AS app
ARG VERSION
ARG COMMIT=unknown
LABEL org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision=$COMMIT \
      org.opencontainers.image.source="https://github.com/example/app"
ENV APP_VERSION=${VERSION:-snapshot}
WORKDIR /opt/app
USER 65534:65534
ENTRYPOINT ["/opt/app/bin/app"]
CMD ["--help"]
