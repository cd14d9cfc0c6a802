# Missing the FROM line.
ARG VERSION=1
RUN echo $VERSION
FROM alpine
