# nextoffer's service image: the locked dependencies (uv.lock, as scripts/bootstrap.sh installs
# them, without the dev, bench and spark groups), run as an unprivileged user, healthy once
# /readyz answers. Build: docker build -t nextoffer .   (or podman build)
# Run with compose.yaml (PostgreSQL and Prometheus beside it); see the README's
# "Running in containers".

FROM python:3.11-slim AS build
# the uv that scripts/bootstrap.sh pins (tests/test_deployment.py checks they agree)
ARG UV_VERSION=0.13.8
ENV UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/nextoffer
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
# the dependencies first (a layer that changes only with the lock), then the project itself
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-default-groups --no-install-project --no-editable \
        --python python3.11
COPY src ./src
RUN uv sync --frozen --no-default-groups --no-editable --python python3.11

FROM python:3.11-slim
RUN groupadd --gid 10001 nextoffer \
    && useradd --uid 10001 --gid 10001 --home-dir /var/lib/nextoffer --create-home \
        --shell /usr/sbin/nologin nextoffer
COPY --from=build /opt/nextoffer /opt/nextoffer
ENV PATH=/opt/nextoffer/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# a SQLite database, when NEXTOFFER_DATABASE_URL names none, lives here (mount a volume)
WORKDIR /var/lib/nextoffer
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]
CMD ["nextoffer", "serve", "--host", "0.0.0.0", "--port", "8000"]
