# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATABASE_PATH=/data/sora-bot.sqlite3 \
    HEALTH_PORT=8080 \
    HEALTH_HOST=0.0.0.0
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin sora \
 && mkdir -p /data && chown sora /data && chmod 700 /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER sora
VOLUME ["/data"]
# Secrets come from the environment at run time (docker run --env-file .env), never the image.
# /healthz and /metrics. HEALTH_HOST=0.0.0.0 only so that Docker can forward the
# port; they answer anyone who reaches it, so publish it to the host's loopback
# only (docker run -p 127.0.0.1:8080:8080, as docker-compose.yml does) or not at
# all and let Prometheus scrape over a private Docker network. Never -p 8080:8080.
EXPOSE 8080
# Push completion (PUBLIC_BASE_URL set): the provider calls /hooks/<token> here.
EXPOSE 8090
# With HEALTH_PORT set, the check asks /healthz (gateway, database, provider) over the
# container's own loopback, so it works however (or whether) the port is published;
# with HEALTH_PORT empty it falls back to the heartbeat file the bot touches while connected.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-m", "bot.ops.heartbeat"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
