# syntax=docker/dockerfile:1
# Build: docker build -t gateway .
# Run:   docker run -e GATEWAY_ENV=production -e GATEWAY_DATABASE_URL=… -e GATEWAY_REDIS_URL=… \
#          -e GATEWAY_ENCRYPTION_KEYS=… -e GATEWAY_PUBLIC_BASE_URL=… -p 8000:8000 gateway
FROM python:3.11-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY src ./src
COPY alembic ./alembic
COPY alembic.ini ./
RUN uv sync --locked --no-dev

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 gateway
WORKDIR /app
COPY --from=build --chown=gateway:gateway /app /app
ENV PATH="/app/.venv/bin:$PATH" PYTHONUNBUFFERED=1 GATEWAY_DATA_DIR=/app/data
USER gateway
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
# `gateway worker` and `gateway db upgrade` use the same image.
CMD ["gateway", "serve", "--host", "0.0.0.0", "--port", "8000"]
