# The broker image: Node 20 (the uWebSockets.js build in use ships binaries
# for Node 16/18/20 only), dependencies installed and the wasm kernels and
# TypeScript built at image build time.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
# STATE_DIR holds development keys (a generated MASTER_KEY, the local token
# issuer's key) and objects for pulls when no S3_ENDPOINT is set: it must be
# writable by the unprivileged user; mount a volume there to keep it.
ENV NODE_ENV=production STATE_DIR=/var/lib/pavilion HOST=0.0.0.0
RUN mkdir -p /var/lib/pavilion && chown node:node /var/lib/pavilion
COPY --from=build /app /app
USER node
EXPOSE 8080
CMD ["node", "bin/pavilion.js", "serve"]
