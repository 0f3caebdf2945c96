# The Rota image: server, agents, flows and dbt (its virtualenvs built in), one image for all roles.
#   docker build -t rota:latest .
# Cloud credentials are never baked in: they are mounted at run time (see docker-compose.yml).

# --- build: the dashboard bundle needs the dev dependencies (esbuild) ---
# --ignore-scripts: the project's own `prepare` (which builds the dashboard on a plain `npm install`)
# needs the sources, which come in the next layer; the build is the explicit step after it.
FROM node:20.20.2-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY . .
RUN npm run build:ui

# --- runtime ---
FROM node:20.20.2-bookworm-slim
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    ROTA_HOME=/var/lib/rota \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false
WORKDIR /app

# Runtime dependencies only (tsx is one: the CLI and flows load TypeScript through it). No scripts:
# the dashboard comes built from the build stage, and no runtime dependency needs its install script.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force

# dbt's virtualenvs, made by the same code that would make them on first use, so their paths
# (hash of the pinned requirements) and completion markers are the ones the flows look for.
# DuckDB (default warehouse) and BigQuery (production) each get theirs.
COPY pipelines/brt/dbt/requirements.txt pipelines/brt/dbt/requirements-bigquery.txt pipelines/brt/dbt/
COPY pipelines/brt/dbt.ts pipelines/brt/dbt.ts
RUN node --import tsx --input-type=module -e "const { ensureDbtVenv } = await import('./pipelines/brt/dbt.ts'); \
      await ensureDbtVenv({ target: 'duckdb' }); await ensureDbtVenv({ target: 'bigquery' })" \
  && rm -rf /root/.cache/pip

COPY . .
COPY --from=build /app/dist ./dist
RUN mkdir -p /var/lib/rota && chown node:node /var/lib/rota
USER node

EXPOSE 4200
# No ENTRYPOINT: the Docker agent runs flow containers from this image with its own command
# (node bin/rota.js internal run-child). Use `init: true` (compose) or --init for signal handling.
CMD ["node", "bin/rota.js", "server", "start"]
