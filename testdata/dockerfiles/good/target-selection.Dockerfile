# syntax=docker/dockerfile:1
FROM python:3.11-slim AS base
ENV PIP_NO_CACHE_DIR=1
WORKDIR /srv
COPY requirements.txt .
RUN pip install -r requirements.txt

FROM base AS test
COPY requirements-dev.txt .
RUN pip install -r requirements-dev.txt
COPY . .
RUN pytest -q --maxfail=1

FROM base AS dev
RUN pip install debugpy watchdog
CMD ["python", "-m", "debugpy", "--listen", "0.0.0.0:5678", "-m", "app"]

FROM base AS prod
COPY . .
USER nobody
CMD ["gunicorn", "app:create_app()"]
