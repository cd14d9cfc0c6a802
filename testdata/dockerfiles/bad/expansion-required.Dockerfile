FROM alpine
ARG APP_HOME
WORKDIR ${APP_HOME:?set APP_HOME with --build-arg}
