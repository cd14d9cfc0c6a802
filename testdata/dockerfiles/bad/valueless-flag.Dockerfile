FROM node:20
WORKDIR /app
COPY --chown package.json ./
