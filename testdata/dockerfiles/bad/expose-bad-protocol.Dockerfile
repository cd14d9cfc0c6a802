FROM nginx
EXPOSE 53/sctpx
