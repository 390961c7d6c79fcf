#!/usr/bin/env bash
# Smoke test of the compiled worker: builds it (deno task compile:worker) unless
# SEMANTIK_WORKER_BIN names one, then runs it with an empty MODELS_DIR against a real Redis and
# Postgres and checks that it
#   1. starts, serves /healthz and /readyz on METRICS_PORT, and `<binary> health` passes;
#   2. answers an embedding batch: the default model is built from the weights package embedded in
#      the binary, and onnxruntime's native library loads;
#   3. exits 0 on SIGTERM.
#
#   scripts/smoke_worker_binary.sh
#   SEMANTIK_WORKER_BIN=/opt/semantik/semantik-worker scripts/smoke_worker_binary.sh
#
# Settings: REDIS_URL (redis://127.0.0.1:6379), SMOKE_DATABASE_URL
# (postgres://postgres@127.0.0.1:5432/postgres; a throwaway database is created beside it and
# dropped afterwards, so the role must be allowed to create databases).
#
# Exits 0 when every check passed, 1 when one failed, and 77 (the usual "skipped" status) when
# the binary cannot be built here: `deno compile` downloads Deno's runtime for the target, which
# needs network access to Deno's release host. It says so on its last line in every case.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
ADMIN_URL=${SMOKE_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
WORK=$(mktemp -d -t semantik-smoke-XXXXXX)
PREFIX="smoke:$$:$RANDOM:"
DB="semantik_smoke_$$_$RANDOM"
PID=""

log() { printf '[smoke] %s\n' "$*" >&2; }
cleanup() {
  [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
  psql -q "$ADMIN_URL" -c "drop database if exists $DB" >/dev/null 2>&1
  deno eval --ext=ts "
    import { createRedis } from '@semantik/shared';
    const r = createRedis('$REDIS_URL');
    const keys = await r.keys('${PREFIX}*');
    if (keys.length) await r.del(...keys);
    r.disconnect();" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { log "FAILED: $*"; [ -f "$WORK/worker.log" ] && tail -n 40 "$WORK/worker.log" >&2; echo "smoke: FAILED: $*"; exit 1; }

# 1. The binary.
BIN=${SEMANTIK_WORKER_BIN:-}
if [ -z "$BIN" ]; then
  log "building the worker binary (deno task compile:worker)"
  if ! NO_COLOR=1 deno task compile:worker --output "$WORK/bin/semantik-worker" >"$WORK/compile.log" 2>&1; then
    tail -n 8 "$WORK/compile.log" >&2
    why=$(grep -E '^\s+[0-9]+: ' "$WORK/compile.log" | grep -v '<unknown>' | tail -n 1 | sed 's/^ *[0-9]*: //')
    echo "smoke: SKIPPED: the worker binary cannot be built here: deno compile failed (${why:-see above}); it downloads Deno's runtime for the target from Deno's release host"
    exit 77
  fi
  BIN="$WORK/bin/semantik-worker"
  # onnxruntime's binding finds libonnxruntime beside itself, which a compiled binary has not on
  # disk: ship the library beside the binary (worker/README.md).
  cp "$(deno eval 'console.log(Deno.realPathSync("node_modules/onnxruntime-node"))')/bin/napi-v6/linux/$(uname -m | sed 's/x86_64/x64/;s/aarch64/arm64/')/libonnxruntime.so.1" "$WORK/bin/"
fi
[ -x "$BIN" ] || fail "$BIN is not an executable"
export LD_LIBRARY_PATH="$(dirname "$BIN")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# 2. A throwaway database, an empty models directory, a free port.
psql -q "$ADMIN_URL" -c "create database $DB" >/dev/null || fail "cannot create database $DB at $ADMIN_URL"
DATABASE_URL="${ADMIN_URL%/*}/$DB"
mkdir -p "$WORK/models" "$WORK/data"
PORT=$(deno eval 'const l = Deno.listen({ port: 0, hostname: "127.0.0.1" }); console.log(l.addr.port); l.close()')

# 3. Run it from another directory: it must need nothing from the checkout.
log "starting $BIN (MODELS_DIR empty, metrics on $PORT)"
(cd "$WORK" && exec env DATABASE_URL="$DATABASE_URL" REDIS_URL="$REDIS_URL" REDIS_PREFIX="$PREFIX" \
  MODELS_DIR="$WORK/models" DATA_DIR="$WORK/data" EMBEDDING_DEVICE=cpu METRICS_PORT="$PORT" \
  WORKER_SHUTDOWN_TIMEOUT_S=5 LOG_LEVEL=info "$BIN" >"$WORK/worker.log" 2>&1) &
PID=$!
ready=""
for _ in $(seq 1 300); do
  kill -0 "$PID" 2>/dev/null || fail "the worker exited at start"
  if curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.1
done
[ -n "$ready" ] || fail "/readyz did not answer 200 within 30 s"
curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null || fail "/healthz"
(cd "$WORK" && env REDIS_URL="$REDIS_URL" REDIS_PREFIX="$PREFIX" "$BIN" health) >/dev/null 2>&1 || fail "$BIN health"

log "asking for an embedding batch (builds the default model into the empty MODELS_DIR)"
deno eval --ext=ts "
  import { createRedis, generateEmbeddingsBatchTask, getLogger, KeySpace, QueueClient, ReplyClient } from '@semantik/shared';
  const redis = createRedis('$REDIS_URL');
  const replies = new ReplyClient(new QueueClient(redis, { prefix: '$PREFIX' }), new KeySpace('$PREFIX'),
    () => createRedis('$REDIS_URL', { blocking: true }), getLogger('smoke'), { timeoutMs: 300_000 });
  try {
    const res = await replies.request(generateEmbeddingsBatchTask,
      { texts: ['a smoke test', 'of the compiled worker'], model: 'sentence-transformers/all-MiniLM-L6-v2', mode: 'document' });
    const v = (res as { vectors: number[][] }).vectors;
    if (v.length !== 2 || v[0].length !== 384) throw new Error('unexpected vectors: ' + JSON.stringify(v).slice(0, 200));
  } finally {
    await replies.close();
    redis.disconnect();
  }" || fail "the embedding batch"
[ -f "$WORK/models/sentence-transformers/all-MiniLM-L6-v2/model.onnx" ] || fail "no model was built under MODELS_DIR"
curl -fsS "http://127.0.0.1:$PORT/metrics" | grep -q '^semantik_embedding_texts_total{model="sentence-transformers/all-MiniLM-L6-v2"} 2$' ||
  fail "/metrics does not count the two texts"

kill -TERM "$PID"
wait "$PID"
code=$?
PID=""
[ "$code" -eq 0 ] || fail "exit status $code after SIGTERM"
echo "smoke: PASSED: $BIN started with an empty MODELS_DIR, built the model, embedded, exited 0"
