# syntax=docker/dockerfile:1
# The ingest worker: `ades worker` claims queued ingest jobs and runs them. Build from
# the repository root:  docker build -f deployments/docker/worker.Dockerfile -t ades-worker .
# Alpine keeps only the current package release in its index, so apk versions are left
# to the pinned base image.
FROM python:3.12-alpine3.20 AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# A compiler for the few dependencies without a musllinux wheel (zope.interface, pulled in
# by gevent); it stays in this stage, the runtime image carries none.
# hadolint ignore=DL3018
RUN apk add --no-cache build-base libffi-dev
WORKDIR /src
COPY requirements.txt ./
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --prefer-binary -r requirements.txt
COPY shared/ shared/
RUN /opt/venv/bin/pip install --no-deps ./shared

FROM python:3.12-alpine3.20
# git: ingestion streams `git log` and clones registered URLs; pg_dump for `ades backup`.
# hadolint ignore=DL3018
RUN apk add --no-cache git postgresql16-client
RUN addgroup -S -g 10001 ades && adduser -S -D -H -u 10001 -G ades ades \
    && mkdir -p /data && chown ades:ades /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    GAIT_DATA_DIR=/data HOME=/tmp GAIT_HOST=0.0.0.0 GAIT_METRICS_PORT=9090
WORKDIR /data
USER 10001:10001
# Prometheus scrapes the worker's ingest metrics here (never published).
EXPOSE 9090
# Healthy while the worker can reach its database (the query it polls the queue with).
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["ades", "repos", "--json"]
ENTRYPOINT ["ades", "worker"]
