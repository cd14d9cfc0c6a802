# A reusable base in the style of the old *-onbuild images: the child's build
# copies its sources and installs its requirements.
FROM python:3.12-alpine
RUN mkdir -p /usr/src/app
WORKDIR /usr/src/app
ONBUILD COPY requirements.txt /usr/src/app/
ONBUILD RUN pip install --no-cache-dir -r requirements.txt
ONBUILD COPY . /usr/src/app
ONBUILD ARG APP_VERSION=dev
ONBUILD LABEL org.opencontainers.image.version=${APP_VERSION}
CMD ["python3", "-m", "app"]
