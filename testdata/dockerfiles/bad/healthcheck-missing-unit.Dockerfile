FROM nginx
HEALTHCHECK --interval=30 --timeout=3s \
  CMD curl -f http://localhost/ || exit 1
