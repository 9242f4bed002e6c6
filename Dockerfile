# The circuit-atlas server (GraphQL API + viewer) with the bundled demo model.
FROM node:20-bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 make g++ chromium \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci
COPY . .
RUN npm run build:client
ENV NODE_ENV=production CHROMIUM_PATH=/usr/bin/chromium ATLAS_HOST=0.0.0.0
EXPOSE 4000
CMD ["node", "bin/circuit-atlas.js", "serve"]
