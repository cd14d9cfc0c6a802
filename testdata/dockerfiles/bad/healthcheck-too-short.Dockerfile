FROM nginx
HEALTHCHECK --timeout=500us CMD curl -f http://localhost/
