# Querstrom runs its TypeScript sources through tsx (a runtime dependency): no build stage.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY src ./src
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
