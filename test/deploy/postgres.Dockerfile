# PostgreSQL from Debian's own package, standing in for the official `postgres` image in the deploy
# test (these machines reach no image registry). Its entrypoint does what docker-compose.yml relies
# on from the official image: POSTGRES_PASSWORD / POSTGRES_USER / POSTGRES_DB create the cluster,
# the superuser and the database on first start; data lives in /var/lib/postgresql/data (a volume);
# `pg_isready` answers the health check; SIGINT stops it cleanly.
#   docker build --network host -f postgres.Dockerfile -t rota-test-postgres:17 test/deploy
ARG BASE_IMAGE=debian:trixie-slim
FROM ${BASE_IMAGE}
# No "main" cluster at install: the entrypoint makes the one the container uses, in the volume.
RUN mkdir -p /etc/postgresql-common/createcluster.d \
  && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/no-main.conf \
  && apt-get update \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql \
  && apt-get clean && rm -rf /var/lib/apt/lists/* \
  && ln -s "$(ls -d /usr/lib/postgresql/*/bin)" /usr/lib/postgresql/bin \
  && mkdir -p /var/lib/postgresql/data /run/postgresql \
  && chown -R postgres:postgres /var/lib/postgresql /run/postgresql
ENV PATH=/usr/lib/postgresql/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
