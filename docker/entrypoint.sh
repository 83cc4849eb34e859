#!/bin/sh
# The container's entry point: with DJANGO_MIGRATE=1, apply the migrations and create the
# cache table first (one container of a deployment, or a release step); then run the
# command (gunicorn by default, or `python manage.py ...`).
set -e
if [ "${DJANGO_MIGRATE:-0}" = "1" ]; then
    python manage.py migrate --noinput
    python manage.py createcachetable
fi
exec "$@"
