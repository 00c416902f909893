# One image for the services of docker-compose.yml: the daemon (`archiver run`), the workers
# (`archiver worker`, distributed mode) and the browser (`archiver serve`). The archive lives on
# the /data volume; settings come from /app/config/archiver.toml, mounted from ./config.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ARCHIVER_DB=/data/archiver.db \
    ARCHIVER_CONFIG=/app/config/archiver.toml

WORKDIR /app
COPY pyproject.toml README.md ./
COPY archiver ./archiver
COPY config ./config
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin archiver \
    && mkdir -p /data \
    && chown archiver:archiver /data

USER archiver
VOLUME ["/data"]
EXPOSE 8001
CMD ["archiver", "run"]
