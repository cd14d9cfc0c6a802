FROM alpine:3.20 AS build
RUN echo hi > /hi

FROM scratch
COPY --form=build /hi /hi
