# One image for the api, worker (CPU) and scheduler roles; `--target worker-gpu` builds the worker
# for NVIDIA hosts with onnxruntime-node's CUDA 12 execution provider.
#
#   docker build -t semantik .                        # api / scheduler / CPU worker
#   docker build -t semantik-gpu --target worker-gpu .
ARG DENO_VERSION=2.9.6

FROM denoland/deno:bin-${DENO_VERSION} AS deno-bin

FROM denoland/deno:${DENO_VERSION} AS app
WORKDIR /app
ENV DENO_NO_UPDATE_CHECK=1 \
    HOST=0.0.0.0 \
    DATA_DIR=/var/lib/semantik \
    MODELS_DIR=/opt/semantik/models
COPY deno.json deno.lock ./
COPY shared/deno.json shared/deno.json
COPY api/deno.json api/deno.json
COPY worker/deno.json worker/deno.json
COPY scheduler/deno.json scheduler/deno.json
COPY . .
RUN deno install --frozen \
 && deno task model \
 && mkdir -p /var/lib/semantik && chown -R deno:deno /var/lib/semantik /opt/semantik
USER deno
EXPOSE 8080
CMD ["task", "api"]

# GPU worker: CUDA 12 + cuDNN 9 runtime, onnxruntime-node installed with its CUDA provider.
FROM nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04 AS worker-gpu
COPY --from=deno-bin /deno /usr/local/bin/deno
WORKDIR /app
ENV DENO_NO_UPDATE_CHECK=1 \
    DATA_DIR=/var/lib/semantik \
    MODELS_DIR=/opt/semantik/models \
    EMBEDDING_DEVICE=cuda \
    ONNXRUNTIME_NODE_INSTALL=cuda12
COPY . .
# The install script of onnxruntime-node downloads the CUDA execution provider when
# ONNXRUNTIME_NODE_INSTALL=cuda12; Deno runs it only when allowed explicitly.
RUN deno install --frozen --allow-scripts=npm:onnxruntime-node \
 && deno task model \
 && mkdir -p /var/lib/semantik
CMD ["deno", "task", "worker"]
