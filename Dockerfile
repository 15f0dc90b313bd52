# govarchive: `govarchive schedule` by default; docker-compose.yml also runs Datasette from this image.
# Build: docker build -t govarchive .   Run and back up: docs/deploy.md
FROM python:3.11-slim-bookworm

# The cron schedules in sources.toml are read in this time zone (the sites' own: they are quiet at
# 03:00 Beijing time); Python's tzdata package makes it work without the system zoneinfo.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    TZ=Asia/Shanghai \
    GOVARCHIVE_DB=/data/govarchive.db \
    GOVARCHIVE_CONFIG=/data/sources.toml

# Chromium for the pages that need a browser (crawler/browser.py; docs/configuration.md), with a CJK
# font so that pages render with glyphs. Not pinned: Debian replaces chromium with every security
# release, and a pinned version would soon stop installing. Its profile and caches go to /tmp, since
# the govarchive user has no home to write to.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium fonts-wqy-zenhei \
    && rm -rf /var/lib/apt/lists/*
ENV GOVARCHIVE_CHROMIUM=/usr/bin/chromium \
    XDG_CONFIG_HOME=/tmp/.config \
    XDG_CACHE_HOME=/tmp/.cache

RUN groupadd --system --gid 10001 govarchive \
    && useradd --system --uid 10001 --gid govarchive --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin govarchive \
    && mkdir /data \
    && chown govarchive:govarchive /data

WORKDIR /app

# The locked runtime dependencies first, so a code change does not reinstall them.
COPY requirements/runtime.txt requirements/runtime.txt
RUN pip install --no-cache-dir --requirement requirements/runtime.txt

COPY pyproject.toml README.md ./
COPY crawler/ crawler/
RUN pip install --no-cache-dir --no-deps . \
    && rm -rf build crawler ./*.egg-info

# The Datasette metadata and templates are part of the package. sources.toml is the example to copy
# into /data (docs/deploy.md). `govarchive demo` writes /data/demo.db (beside $GOVARCHIVE_DB).
COPY sources.toml sources.toml

# Numeric, so Kubernetes runAsNonRoot and the host can verify it: the govarchive user made above.
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8001

# The scheduler touches /data/.govarchive.db.heartbeat every 30 s and removes it when it stops;
# a heartbeat older than 90 s (or none) is unhealthy.
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-m", "crawler.schedule", "--check"]

# Exec form: govarchive is PID 1 and gets SIGTERM from `docker stop` itself; it stops within
# about 5 s, recording any interrupted crawl, well inside Docker's 10 s stop timeout.
CMD ["govarchive", "schedule"]
