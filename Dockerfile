# The Rota image: server, agents, flow runs and dbt (its virtualenvs built in), one image for all roles.
#
#   docker build -t rota:latest .
#
# Node 20 and Python 3 come from Debian (trixie ships both), so the image builds from one official
# base: BASE_IMAGE=debian:trixie-slim. Behind a TLS-intercepting proxy, hand the build its CA:
#   docker build --build-arg EXTRA_CA_CERTS="$(cat /usr/local/share/ca-certificates/*.crt)" -t rota:latest .
# Cloud credentials are never baked in: they are mounted at run time (see docker-compose.yml).
#
# Stages, ordered so that a change of source rebuilds only the last layers: the npm install is cached
# until package-lock.json changes, dbt's virtualenvs until its requirements files change.
#   base       node + python3 (+ the extra CAs)          -> the runtime image starts here
#   tools      + npm, python3-venv                        (build only)
#   lockfile   package-lock.json
#   deps       npm ci, all dependencies (esbuild for the dashboard)
#   prod-deps  npm ci --omit=dev                          -> node_modules of the image
#   dashboard  the dashboard bundle                       -> dist/
#   dbt        dbt's virtualenvs                          -> /app/.venv-dbt-*
ARG BASE_IMAGE=debian:trixie-slim

FROM ${BASE_IMAGE} AS base
ARG EXTRA_CA_CERTS=""
RUN apt-get update \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs python3 ca-certificates \
  && apt-get clean && rm -rf /var/lib/apt/lists/* \
  && if [ -n "$EXTRA_CA_CERTS" ]; then \
       printf '%s\n' "$EXTRA_CA_CERTS" > /usr/local/share/ca-certificates/extra.crt && update-ca-certificates >/dev/null; \
     fi
# Node reads only its own CA list unless told; Python's requests and pip read these variables.
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

FROM base AS tools
RUN apt-get update \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends npm python3-venv \
  && apt-get clean && rm -rf /var/lib/apt/lists/*
WORKDIR /app

# npm ci gets the package.json the lockfile holds a copy of (its dependencies, bin and engines): a
# change of scripts or settings in the real one leaves these layers cached.
# --ignore-scripts: no dependency needs its install script (esbuild's binary comes as an optional
# package; ssh2 works without its native speed-up), and a `prepare` script would want the sources.
# Debian's npm (9) ignores the "libc" field and installs musl builds beside glibc ones: dropped.
FROM tools AS lockfile
COPY package-lock.json ./
RUN node -e "const fs = require('node:fs'); fs.writeFileSync('package.json', JSON.stringify(require('./package-lock.json').packages['']))"

FROM lockfile AS deps
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

FROM lockfile AS prod-deps
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error && rm -rf /root/.npm \
  && node -e "const fs = require('node:fs'); for (const [dir, p] of Object.entries(require('./package-lock.json').packages)) \
       if (p.libc && !p.libc.includes('glibc')) fs.rmSync(dir, { recursive: true, force: true })"

FROM deps AS dashboard
COPY . .
RUN npm run --silent build:ui

# dbt's virtualenvs, made by the code that makes them on first use (`rota brt setup` calls
# ensureDbtVenv), so their paths (a hash of the pinned requirements) and completion markers are the
# ones the flows look for. Only the requirements and that module are copied, to keep this layer
# cached while other sources change (a new package-lock.json rebuilds it too).
# DBT_TARGETS: duckdb (the default warehouse) and bigquery (the reference setup's warehouse);
# --build-arg DBT_TARGETS=duckdb makes an image 600 MB lighter. The two share most files
# (dbt-core, duckdb): hard links keep one copy (-140 MB); a linked .py takes the other one's mtime,
# so the bytecode compiled against the old one is refreshed (else every import would recompile).
FROM tools AS dbt
ARG DBT_TARGETS="duckdb bigquery"
COPY --from=prod-deps /app/node_modules ./node_modules
# Not the project's package.json, whose every change (a script) would rebuild the virtualenvs.
RUN echo '{ "type": "module" }' > package.json
COPY pipelines/brt/dbt/requirements*.txt pipelines/brt/dbt/
COPY pipelines/brt/dbt.ts pipelines/brt/
RUN for target in $DBT_TARGETS; do \
      node --import tsx --input-type=module \
        -e "const { ensureDbtVenv } = await import('./pipelines/brt/dbt.ts'); console.log(await ensureDbtVenv({ target: process.argv[1] }))" "$target" || exit 1; \
    done \
  && hardlink --ignore-time --quiet .venv-dbt-* \
  && python3 -m compileall -q -j 0 .venv-dbt-* >/dev/null \
  && mkdir /venvs && mv .venv-dbt-* /venvs/ && rm -rf /root/.cache

FROM base
# NODE_OPTIONS: the young-generation cap of bin/rota.js's first line, for every role (its commands start `node bin/rota.js`).
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=4 \
    ROTA_HOME=/var/lib/rota \
    ROTA_PORT=4200 \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false
# A fixed uid, so files it writes in volumes keep one owner across image versions.
RUN groupadd --gid 10001 rota \
  && useradd --no-log-init --uid 10001 --gid rota --home-dir /var/lib/rota --create-home --shell /usr/sbin/nologin rota
WORKDIR /app
COPY --from=dbt /venvs/ ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY . .
COPY --from=dashboard /app/dist ./dist
USER rota
EXPOSE 4200
# For the server role: its API answers. The agent gets its own check in docker-compose.yml, and the
# containers of flow runs none (the Docker agent watches them).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["node", "bin/healthcheck.js"]
# No ENTRYPOINT: the Docker agent runs flow containers from this image with its own command
# (node bin/rota.js internal run-child). Use `init: true` (compose) or --init for signal handling.
CMD ["node", "bin/rota.js", "server", "start"]
