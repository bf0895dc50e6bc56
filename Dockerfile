# Querstrom runs its TypeScript sources through tsx (a runtime dependency). The only build is
# the dashboard's front end, made in a first stage so the image carries no dev dependencies.
FROM node:20-bookworm-slim AS web
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install
COPY src ./src
RUN npm run build:web

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm install --omit=dev && npm cache clean --force
COPY src ./src
COPY --from=web /app/src/web/dist ./src/web/dist
COPY simulators ./simulators
COPY bench ./bench
COPY config ./config
COPY firmware-specs ./firmware-specs
RUN mkdir -p /var/lib/querstrom && chown node:node /var/lib/querstrom
USER node
EXPOSE 1883 8083 8080
# Graceful shutdown on SIGTERM flushes the WAL and the store before exit.
STOPSIGNAL SIGTERM
CMD ["node", "src/cli/querstrom.mjs", "serve"]
