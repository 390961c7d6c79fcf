# One image for the api, worker (CPU) and scheduler roles; `--target worker-gpu` builds the worker
# for NVIDIA hosts with onnxruntime-node's CUDA 12 execution provider.
#
#   docker build -t semantik .                        # api / scheduler / CPU worker
#   docker build -t semantik-gpu --target worker-gpu .
#
# Both carry only what the roles load: `scripts/install_runtime_deps.ts` installs the packages of
# the runtime workspace members (not the test and bench members' packages), from the manifests
# alone, so editing source never re-installs packages. `.dockerignore` keeps data/ (development
# secrets and database), .env, node_modules/, .git, tests and benchmarks out of the context.
# Every stage installs, builds and runs as the unprivileged user `deno` (uid 1993); root only makes
# that user and the directories it owns.
ARG DENO_VERSION=2.9.6

FROM denoland/deno:bin-${DENO_VERSION} AS deno-bin

# Runtime packages, from the manifests only (this layer is cached until one of them changes).
FROM denoland/deno:${DENO_VERSION} AS deps
RUN install -d -o deno -g deno /app
WORKDIR /app
USER deno
ENV DENO_NO_UPDATE_CHECK=1 \
    DENO_DIR=/tmp/deno-dir
COPY --chown=deno:deno deno.json deno.lock ./
COPY --chown=deno:deno shared/deno.json shared/deno.json
COPY --chown=deno:deno api/deno.json api/deno.json
COPY --chown=deno:deno worker/deno.json worker/deno.json
COPY --chown=deno:deno scheduler/deno.json scheduler/deno.json
COPY --chown=deno:deno scripts/install_runtime_deps.ts scripts/install_runtime_deps.ts
RUN deno run --no-config --no-lock -A scripts/install_runtime_deps.ts

FROM denoland/deno:${DENO_VERSION} AS app
WORKDIR /app
ENV DENO_NO_UPDATE_CHECK=1 \
    HOST=0.0.0.0 \
    DATA_DIR=/var/lib/semantik \
    MODELS_DIR=/opt/semantik/models
# git (and ssh for ssh:// URLs) for Git sources: the worker runs the git binary (README, "Git
# sources"); the image is also the CPU worker's.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o deno -g deno /var/lib/semantik /opt/semantik /opt/semantik/models
# The code stays root's (read-only to the roles).
COPY . .
# The runtime-only deno.json/deno.lock (the workspace without tests/ and bench/, node_modules used
# as installed) replace the copied ones.
COPY --from=deps /app/deno.json /app/deno.lock ./
COPY --from=deps /app/node_modules node_modules
USER deno
# Compile every entry point once (into DENO_DIR, the deno user's) and build the default embedding
# model, so a container starts without writing outside DATA_DIR.
RUN deno cache api/main.ts worker/main.ts worker/health.ts scheduler/main.ts \
      shared/db/migrate_main.ts shared/embedding/model_main.ts shared/embedding/inference_worker.ts \
 && deno task model
# 8080: API; 9464: a worker's /metrics and /healthz; 9465: the scheduler's (METRICS_PORT).
EXPOSE 8080 9464 9465
CMD ["task", "api"]

# GPU worker: CUDA 12 + cuDNN 9 runtime, onnxruntime-node installed with its CUDA provider.
FROM nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04 AS gpu-base
COPY --from=deno-bin /deno /usr/local/bin/deno
RUN groupadd --gid 1993 deno \
 && useradd --uid 1993 --gid deno --no-create-home --shell /usr/sbin/nologin deno \
 && mkdir -p /deno-dir && chown deno:deno /deno-dir
ENV DENO_NO_UPDATE_CHECK=1 \
    DENO_DIR=/deno-dir

FROM gpu-base AS deps-gpu
RUN install -d -o deno -g deno /app
WORKDIR /app
USER deno
ENV DENO_DIR=/tmp/deno-dir \
    ONNXRUNTIME_NODE_INSTALL=cuda12
COPY --chown=deno:deno deno.json deno.lock ./
COPY --chown=deno:deno shared/deno.json shared/deno.json
COPY --chown=deno:deno api/deno.json api/deno.json
COPY --chown=deno:deno worker/deno.json worker/deno.json
COPY --chown=deno:deno scheduler/deno.json scheduler/deno.json
COPY --chown=deno:deno scripts/install_runtime_deps.ts scripts/install_runtime_deps.ts
# The install script of onnxruntime-node downloads the CUDA execution provider when
# ONNXRUNTIME_NODE_INSTALL=cuda12; Deno runs it only when allowed explicitly.
RUN deno run --no-config --no-lock -A scripts/install_runtime_deps.ts --allow-scripts=npm:onnxruntime-node

FROM gpu-base AS worker-gpu
WORKDIR /app
ENV HOST=0.0.0.0 \
    DATA_DIR=/var/lib/semantik \
    MODELS_DIR=/opt/semantik/models \
    EMBEDDING_DEVICE=cuda
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o deno -g deno /var/lib/semantik /opt/semantik /opt/semantik/models
COPY . .
COPY --from=deps-gpu /app/deno.json /app/deno.lock ./
COPY --from=deps-gpu /app/node_modules node_modules
USER deno
RUN deno cache worker/main.ts worker/health.ts shared/embedding/model_main.ts \
      shared/embedding/inference_worker.ts \
 && deno task model
EXPOSE 9464
CMD ["deno", "task", "worker"]
