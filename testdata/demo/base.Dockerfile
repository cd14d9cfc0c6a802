# The demo's base image, made from Debian's busybox-static: a root filesystem
# (busybox and its applet links, /etc/passwd, /etc/group) copied into scratch.
FROM scratch
COPY rootfs/ /
CMD ["/bin/sh"]
