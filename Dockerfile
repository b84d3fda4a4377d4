# One image for every production role: web, scp, worker, beat (see docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DOSEMGMT_DATA_DIR=/var/lib/dosemgmt \
    DOSEMGMT_STATIC_ROOT=/app/staticfiles

# dcmtk gives IT echoscu/storescu inside the container for connection tests.
RUN apt-get update \
    && apt-get install -y --no-install-recommends dcmtk \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml constraints.txt ./
COPY dosemgmt ./dosemgmt
COPY ingest ./ingest
COPY rdsr ./rdsr
COPY drl ./drl
COPY alerts ./alerts
COPY templates ./templates
COPY static ./static
COPY manage.py ./
RUN pip install --no-cache-dir -c constraints.txt -e . \
    && DJANGO_SECRET_KEY=build python manage.py collectstatic --noinput \
    && useradd --system --home-dir /var/lib/dosemgmt dosemgmt \
    && mkdir -p /var/lib/dosemgmt/spool && chown -R dosemgmt /var/lib/dosemgmt

USER dosemgmt
EXPOSE 8000 104
CMD ["gunicorn", "dosemgmt.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
