# The host project (mailsettings) under gunicorn, as a non-root user: docs/deploy.md,
# "Container". No secret is baked in: DJANGO_SECRET_KEY, SMTPCONFIG_ENCRYPTION_KEYS and
# DATABASE_URL come from the environment the container is started with.
#
#   docker build -t mailsettings .
#   docker run --rm --env-file /etc/mailsettings/env mailsettings python manage.py migrate
#   docker run -d --env-file /etc/mailsettings/env -p 127.0.0.1:8000:8000 mailsettings
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=mailsettings.settings
# Production settings: the keys must come from the environment (a missing one stops the
# start with one line saying what to set), HTTPS is assumed (DJANGO_HTTPS=0 when nothing
# in front ends TLS), gunicorn listens on every interface of the container. The runtime
# folder holds only the static files collected below (read-only); the data lives where
# DATABASE_URL says (PostgreSQL, or sqlite:////data/db.sqlite3 on the /data volume).
ENV DJANGO_PRODUCTION=1 \
    GUNICORN_BIND=0.0.0.0:8000 \
    MAILSETTINGS_RUNTIME_DIR=/app/var

# A fixed uid and gid, so that a volume's owner can be set on the host (chown 10001).
RUN groupadd --system --gid 10001 mailsettings \
    && useradd --system --uid 10001 --gid mailsettings --no-create-home \
        --home-dir /app --shell /usr/sbin/nologin mailsettings

# The app (smtpconfig), what serving needs (gunicorn, WhiteNoise), the PostgreSQL driver and
# the RQ extra (RQ workers, and the redis client for DJANGO_CACHE_URL), in a virtualenv.
COPY pyproject.toml README.md /src/
COPY smtpconfig /src/smtpconfig
RUN python -m venv "$VIRTUAL_ENV" \
    && pip install "/src[server,postgres,rq]" \
    && rm -rf /src

# The host project, owned by root: the process cannot rewrite its own code.
WORKDIR /app
COPY manage.py gunicorn.conf.py ./
COPY mailsettings ./mailsettings
COPY templates ./templates
COPY static ./static
COPY locale ./locale
COPY docker/entrypoint.sh docker/healthcheck.py /usr/local/bin/

# Static files collected once, at build time (served by WhiteNoise). The keys here only
# let this one command start (outside production mode, which would ask for the real
# ones); they are thrown away with the step, and nothing is written to var/.
RUN DJANGO_PRODUCTION=0 DJANGO_SECRET_KEY=collectstatic-only-not-a-secret \
        SMTPCONFIG_ENCRYPTION_KEYS="$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
        python manage.py collectstatic --noinput \
    && mkdir -p /data && chown mailsettings:mailsettings /data \
    && chmod 0755 /usr/local/bin/entrypoint.sh /usr/local/bin/healthcheck.py

# SQLite's home when DATABASE_URL=sqlite:////data/db.sqlite3 (PostgreSQL needs no volume).
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8000

# /healthz: the process answers (cheap; /readyz also checks the database and the key).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/usr/local/bin/healthcheck.py"]

# DJANGO_MIGRATE=1 migrates (and creates the cache table) before the command; by default
# the container only serves, and migrations are a step of their own (docs/deploy.md).
ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]
# gunicorn.conf.py: workers from the CPU count (GUNICORN_WORKERS), threads, the timeout.
CMD ["gunicorn", "--config", "gunicorn.conf.py"]
