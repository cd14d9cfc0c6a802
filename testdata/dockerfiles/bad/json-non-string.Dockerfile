FROM busybox
RUN echo start
CMD ["sleep", 3600]
