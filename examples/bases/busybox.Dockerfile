# busybox:latest for the examples: Debian's busybox-static and its applet links,
# /etc/passwd and /etc/group, copied into an empty image (examples/make-bases.sh).
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["sh"]
