#!/usr/bin/env bash
# Starts a local ferrotrace cluster on loopback: tansu (Kafka), osmem-server
# (OpenSearch API), one collector and one ingester. Ctrl-C stops everything.
# Ports can be changed with the variables below; logs go to .run/.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
KAFKA_PORT=${KAFKA_PORT:-9092}
ES_PORT=${ES_PORT:-9200}
PARTITIONS=${PARTITIONS:-6}
TOPIC=${FERROTRACE_KAFKA_TOPIC:-otlp_spans}
BIN=${BIN:-target/release}
mkdir -p .run
for port in "$KAFKA_PORT" "$ES_PORT" 4317 4318 14269 14270; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "run-local: port $port is already in use; stop what uses it or set KAFKA_PORT/ES_PORT" >&2
    exit 1
  fi
done

pids=()
stop() {
  trap - INT TERM EXIT
  trap '' PIPE  # a closed stdout (e.g. a pipe to tee) must not stop the cleanup
  echo; echo "run-local: stopping"
  # Collector and ingester first (they drain), then the servers.
  for pid in "${pids[@]:2}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]:2}"; do wait "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]:0:2}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

wait_port() { # port name
  for _ in $(seq 1 150); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.2
  done
  echo "run-local: $2 did not start on port $1; see .run/$2.log" >&2
  exit 1
}

# setsid: Ctrl-C must reach only this script, which then stops the children in
# order (collector and ingester drain and commit while Kafka is still up).
setsid .tools/bin/tansu broker \
  --listener-url "tcp://127.0.0.1:$KAFKA_PORT" --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
  --storage-engine "sqlite://.run/tansu.db" > .run/tansu.log 2>&1 &
pids+=($!)
setsid .tools/bin/osmem-server -addr "127.0.0.1:$ES_PORT" -no-stdin-watch > .run/osmem.log 2>&1 &
pids+=($!)
wait_port "$KAFKA_PORT" tansu
wait_port "$ES_PORT" osmem
for topic in "$TOPIC:$PARTITIONS" "${TOPIC}_dlq:1"; do  # the spans, and the ingester's dead letters
  .tools/bin/tansu topic create "${topic%%:*}" --partitions "${topic##*:}" --broker "tcp://127.0.0.1:$KAFKA_PORT" > .run/topic.log 2>&1 \
    || grep -qi "exists" .run/topic.log || { cat .run/topic.log >&2; exit 1; }
done

export FERROTRACE_KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT" FERROTRACE_ES_URL="http://127.0.0.1:$ES_PORT"
# A single-node test server cannot hold replicas.
export FERROTRACE_ES_NUM_REPLICAS=${FERROTRACE_ES_NUM_REPLICAS:-0}
setsid "$BIN/ferrotrace-collector" > .run/collector.log 2>&1 &
pids+=($!)
setsid "$BIN/ferrotrace-ingester" > .run/ingester.log 2>&1 &
pids+=($!)
wait_port 4318 collector
wait_port 14270 ingester

day=$(date -u +%Y-%m-%d)
cat <<TXT

ferrotrace is running (logs in .run/):
  Kafka (tansu)          127.0.0.1:$KAFKA_PORT   topic $TOPIC, $PARTITIONS partitions (dead letters: ${TOPIC}_dlq)
  OpenSearch API (osmem) http://127.0.0.1:$ES_PORT
  collector              OTLP gRPC 127.0.0.1:4317, OTLP HTTP http://127.0.0.1:4318, admin http://127.0.0.1:14269/metrics
                         Jaeger UDP 6831 (compact) / 6832 (binary), Thrift HTTP :14268, gRPC :14250
                         Zipkin http://127.0.0.1:9411/api/v2/spans
                         sampling strategies http://127.0.0.1:5778/sampling?service=<name>
  ingester               admin http://127.0.0.1:14270/metrics

Send a first trace:
  scripts/send-first-trace.sh    (a curl of an OTLP/JSON payload)
Send a burst:
  $BIN/ferrotrace-loadtest --endpoint http://127.0.0.1:4317 --traces 2000
See the spans:
  curl -s "http://127.0.0.1:$ES_PORT/jaeger-span-$day/_search?size=1" | python3 -m json.tool

Press Ctrl-C to stop.
TXT
wait -n "${pids[@]}" || true
echo "run-local: a process exited; see .run/*.log" >&2
