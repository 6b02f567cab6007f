# syntax=docker/dockerfile:1.7
# One image for every process: `iotmon serve <service>`, `iotmon serve gateway`, `iotmon job <name>`,
# and `iotmon up` for a laptop cluster. Stages: base (Python + the app user) → builder (virtual
# environment: dependencies first, then the project) → dev (skaffold target: sources writable for file
# sync) → runtime (the default, last stage: sources owned by root, run read-only).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
# A fixed numeric id, so Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
RUN groupadd --system --gid 10001 iotmon \
    && useradd --system --uid 10001 --gid iotmon --home-dir /data --no-create-home --shell /usr/sbin/nologin iotmon \
    && install --directory --owner=iotmon --group=iotmon --mode=0750 /data


FROM base AS builder
WORKDIR /app
RUN python -m venv "$VIRTUAL_ENV"
# The dependency layer: it depends on pyproject.toml alone, so editing code reuses it. The list is read
# from pyproject.toml (runtime dependencies plus the `aws` extra) rather than kept twice.
COPY pyproject.toml ./
RUN --mount=type=cache,target=/root/.cache/pip \
    python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['aws']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt
# The project itself, installed editable: its .pth puts /app and /app/gen on sys.path, so the sources
# that skaffold syncs into /app are the ones Python imports.
COPY README.md ./
COPY gen ./gen
COPY services ./services
COPY gateway ./gateway
COPY iotmon ./iotmon
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps --editable . \
    && python -m compileall -q services gateway iotmon gen


# `skaffold dev` builds this target: the app user owns /app so synced files can be written.
FROM base AS dev
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder --chown=iotmon:iotmon /app /app
WORKDIR /app
ENV IOTMON_DATA_DIR=/data \
    IOTMON_HOST=0.0.0.0
USER 10001:10001
EXPOSE 8080 50051-50057
ENTRYPOINT ["iotmon"]
CMD ["up", "--port", "8080"]


# The production image (default target): no compiler, no pip cache, code owned by root.
FROM base AS runtime
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app
WORKDIR /app
ENV IOTMON_DATA_DIR=/data \
    IOTMON_HOST=0.0.0.0
USER 10001:10001
EXPOSE 8080 50051-50057
ENTRYPOINT ["iotmon"]
CMD ["serve", "gateway"]
