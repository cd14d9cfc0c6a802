# debian:bookworm for the examples: a `debootstrap --variant=minbase bookworm` root
# filesystem copied into an empty image (examples/make-bases.sh).
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["bash"]
