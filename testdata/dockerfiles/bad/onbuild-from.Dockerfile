FROM alpine
ONBUILD RUN echo child
ONBUILD FROM busybox
