# syntax=docker/dockerfile:1
FROM ubuntu:24.04
ARG TINI_VERSION=v0.19.0
# A pinned download.
ADD --checksum=sha256:c5b0666b4cb676901f90dfcb37106783c5fe2077b04590973b885950611b30ee \
    https://github.com/krallin/tini/releases/download/${TINI_VERSION}/tini /tini
# A git repository at a tag, with a sub-directory.
ADD https://github.com/moby/buildkit.git#v0.14.0:frontend/dockerfile/docs /usr/share/doc/dockerfile
# The .git directory kept for `git describe`.
ADD --keep-git-dir=true https://github.com/example/version-tool.git#main /src/version-tool
# A local archive is unpacked.
ADD --chown=1000:1000 rootfs.tar.gz /
ADD --chmod=755 scripts/entrypoint.sh /usr/local/bin/
RUN chmod +x /tini
ENTRYPOINT ["/tini", "--", "/usr/local/bin/entrypoint.sh"]
