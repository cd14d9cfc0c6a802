FROM alpine:3.20
ARG RELEASE=v2.5.1-rc.3
ARG COMPONENT
ENV VERSION=${RELEASE#v} \
    CHANNEL=${COMPONENT:-stable} \
    SUFFIX=${RELEASE##*-} \
    MAJOR_MINOR=${RELEASE%.*} \
    DASHED=${RELEASE//./-} \
    HAS_COMPONENT=${COMPONENT:+yes}
ENV ARCHIVE=app-${VERSION}.tar.gz \
    QUOTED='${VERSION} stays' \
    MIXED="$CHANNEL-${SUFFIX}"
WORKDIR /opt/app-${MAJOR_MINOR}
LABEL release=${RELEASE} channel="${CHANNEL}"
RUN echo "$ARCHIVE" > /release.txt
