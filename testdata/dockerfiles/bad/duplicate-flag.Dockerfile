FROM node:20
COPY --chown=node:node --chown=1000:1000 package.json /app/
