FROM nginx
HEALTHCHECK --retries=-1 CMD curl -f http://localhost/
