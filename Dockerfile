# syntax=docker/dockerfile:1
# The operator image: `agent-release operator` on python:3.12-slim, installed from uv.lock.
#
#   docker build -t REGISTRY/agent-release-operator:0.1.0 .
#
# Runtime posture (docs/deploy.md): a numeric non-root user, no shell use, nothing written
# outside /tmp (the chart mounts an emptyDir there and sets readOnlyRootFilesystem), bytecode
# compiled at build time so Python never tries to write __pycache__ at run time.
# Pin PYTHON_IMAGE by digest (python:3.12-slim-bookworm@sha256:...) for reproducible builds.
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# -- build: resolve exactly what uv.lock says into /app/.venv ------------------------------
FROM ${PYTHON_IMAGE} AS build
# The same uv as the Makefile (from PyPI, like every other dependency).
RUN pip install --no-cache-dir --disable-pip-version-check uv==0.13.8
ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.12 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1
WORKDIR /src
# Dependencies first: this layer is reused until pyproject.toml or uv.lock change.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
# Then the package itself, as a regular (non-editable) install: /src is not in the image.
COPY README.md ./
COPY operator ./operator
# uv's lock file is world-writable (0666) and only needed while uv runs: not in the image.
RUN uv sync --frozen --no-dev --no-editable && rm -f /app/.venv/.lock

# -- runtime -------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
# Same base image as the build stage, so the venv's interpreter link stays valid.
COPY --from=build /app/.venv /app/.venv
# LOGNAME: the uid has no passwd entry (nor has the arbitrary uid some platforms assign), and
# kopf names its identity with getpass.getuser(), which reads LOGNAME before asking passwd.
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    LOGNAME=agent-release \
    AGENT_RELEASE_METRICS_PORT=9808
# 65532: the conventional "nonroot" uid/gid; numeric so runAsNonRoot can verify it.
USER 65532:65532
# 9808: the operator's /metrics (AGENT_RELEASE_METRICS_PORT); 8080: /healthz and /readyz
# (AGENT_RELEASE_HEALTH_PORT), each saying whether this replica leads or stands by.
EXPOSE 9808 8080
ENTRYPOINT ["agent-release", "operator"]
