FROM busybox
COPY ["src/", ["nested"], "/dst/"]
