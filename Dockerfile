# Tidings in a container: `docker build -t tidings .` then see compose.yaml, or
#   docker run --init -p 127.0.0.1:8765:8765 -v tidings-data:/var/lib/tidings \
#       --env-file tidings.env tidings
# (docs/packaging.md says what tidings.env holds and why functions need the security options).
FROM python:3.12-slim-trixie

# Node.js 20 runs the nodejs*.x functions (Debian 13 ships 20.x; Python 3.12 runs python3.12);
# bubblewrap isolates each function environment from the server and from each other.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends nodejs=20.* bubblewrap=0.11.* \
    && rm -rf /var/lib/apt/lists/*

# A dedicated user that owns nothing but the data directory.
RUN groupadd --system --gid 10001 tidings \
    && useradd --system --uid 10001 --gid tidings --home-dir /var/lib/tidings --no-create-home \
        --shell /usr/sbin/nologin tidings \
    && install --directory --owner tidings --group tidings --mode 0750 /var/lib/tidings

# The package from this source tree, with the dependencies pyproject.toml names.
WORKDIR /usr/src/tidings
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --no-compile .

# Everything the server keeps: the SQLite store (unless TIDINGS_DATABASE_URL names
# PostgreSQL), the master key that seals secrets at rest, unpacked function code and logs.
# No key is baked in: pass TIDINGS_ACCESS_KEY_ID / TIDINGS_SECRET_ACCESS_KEY (required to
# listen on 0.0.0.0) and TIDINGS_MASTER_KEY at run time (without it, the first start writes
# master.key into this volume).
ENV TIDINGS_DATA_DIR=/var/lib/tidings \
    TIDINGS_DATABASE_URL=sqlite:////var/lib/tidings/tidings.db \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/tidings"]
WORKDIR /var/lib/tidings
USER 10001:10001
EXPOSE 8765

# GET /health is the one unauthenticated route: 200 when the store answers, 503 when not.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('TIDINGS_PORT', '8765') + '/health', timeout=4)"]

CMD ["tidings", "serve", "--host", "0.0.0.0"]
