#!/usr/bin/env bash
# Drives the spine end to end on loopback and reports, per process, CPU
# seconds (user+sys from /proc) per span and peak RSS, plus the end-to-end
# exact-once check. osmem is slow by design (a few hundred to 1.5k docs/s), so
# the ingester is judged by its CPU per span, not by wall-clock rate; with
# ES=blackhole the ingester writes to scripts/blackhole-es.py, which
# acknowledges every document without storing it (speed only, no exact-once).
#
#   scripts/bench-spine.sh [TRACES] [SPANS_PER_TRACE]     (defaults 2000 x 10)
#   ES=blackhole scripts/bench-spine.sh 20000 10
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
TRACES=${1:-2000}
SPANS=${2:-10}
BIN=${BIN:-target/release}
PROTOCOL=${PROTOCOL:-grpc}
CONCURRENCY=${CONCURRENCY:-8}
TRACES_PER_REQUEST=${TRACES_PER_REQUEST:-10}
ES=${ES:-osmem}
work=$(mktemp -d)
pick_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kafka=$(pick_port); es=$(pick_port); grpc=$(pick_port); http=$(pick_port)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# SQLite storage (a path relative to tansu's working directory): tansu 0.6's
# memory engine answers a fetch that starts inside a record batch with the
# later batches only, so a consumer resuming mid-batch (after a pause) never
# gets the rest of that batch.
(cd "$work" && exec "$here/.tools/bin/tansu" broker --listener-url "tcp://127.0.0.1:$kafka" \
  --advertised-listener-url "tcp://127.0.0.1:$kafka" --storage-engine "sqlite://tansu.db") > "$work/tansu.log" 2>&1 &
tansu_pid=$!; pids+=($tansu_pid)
if [ "$ES" = blackhole ]; then
  python3 scripts/blackhole-es.py "$es" > "$work/es.log" 2>&1 &
else
  .tools/bin/osmem-server -addr "127.0.0.1:$es" -no-stdin-watch > "$work/es.log" 2>&1 &
fi
es_pid=$!; pids+=($es_pid)
for port in $kafka $es; do for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done; done
.tools/bin/tansu topic create otlp_spans --partitions 6 --broker "tcp://127.0.0.1:$kafka" > /dev/null

"$BIN/ferrotrace-collector" --kafka-brokers "127.0.0.1:$kafka" --otlp-grpc-listen "127.0.0.1:$grpc" --otlp-http-listen "127.0.0.1:$http" \
  --admin-listen '' --jaeger-compact-listen '' --jaeger-binary-listen '' --jaeger-http-listen '' --jaeger-grpc-listen '' --zipkin-listen '' \
  > "$work/collector.log" 2>&1 &
collector_pid=$!; pids+=($collector_pid)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$grpc) 2>/dev/null && break; sleep 0.1; done

cpu() { awk '{printf "%.2f", ($14+$15)/100}' "/proc/$1/stat"; }   # utime+stime in seconds (USER_HZ=100)
rss() { awk '/VmHWM/ {print $2/1024}' "/proc/$1/status"; }

endpoint="http://127.0.0.1:$grpc"; [ "$PROTOCOL" = grpc ] || endpoint="http://127.0.0.1:$http"
"$BIN/ferrotrace-loadtest" --endpoint "$endpoint" --protocol "$PROTOCOL" --traces "$TRACES" --spans-per-trace "$SPANS" \
  --traces-per-request "$TRACES_PER_REQUEST" --concurrency "$CONCURRENCY" | tee "$work/loadtest.out"
collector_cpu=$(cpu $collector_pid); collector_rss=$(rss $collector_pid); tansu_cpu_send=$(cpu $tansu_pid)

"$BIN/ferrotrace-ingester" --kafka-brokers "127.0.0.1:$kafka" --es-url "http://127.0.0.1:$es" --es-num-replicas 0 \
  --admin-listen '' > "$work/ingester.log" 2>&1 &
ingester_pid=$!; pids+=($ingester_pid)
ingester_start=$(date +%s.%N)
total=$((TRACES * SPANS))
indexed() {
  if [ "$ES" = blackhole ]; then
    curl -s "http://127.0.0.1:$es/_blackhole" | python3 -c 'import json,sys; print(json.load(sys.stdin)["span_docs"])' 2>/dev/null || echo 0
  else
    curl -s "http://127.0.0.1:$es/jaeger-span-*/_search" -H 'content-type: application/json' \
      -d '{"size":0,"track_total_hits":true}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["hits"]["total"]["value"])' 2>/dev/null || echo 0
  fi
}
count=0
for _ in $(seq 2400); do
  count=$(indexed)
  [ "$count" -ge "$total" ] && break
  sleep 0.25
done
end=$(date +%s.%N)
ingester_cpu=$(cpu $ingester_pid); ingester_rss=$(rss $ingester_pid)
sleep 2
final=$(indexed)
python3 - "$total" "$final" "$collector_cpu" "$collector_rss" "$ingester_cpu" "$ingester_rss" "$(cpu $tansu_pid)" "$(cpu $es_pid)" "$ingester_start" "$end" "$ES" <<'PY'
import sys
total, final = int(sys.argv[1]), int(sys.argv[2])
c_cpu, c_rss, i_cpu, i_rss, t_cpu, o_cpu = map(float, sys.argv[3:9])
start, end, es = float(sys.argv[9]), float(sys.argv[10]), sys.argv[11]
print(f"spans sent {total}, indexed {final} ({es}): lost {max(total-final,0)}, duplicated {max(final-total,0)}")
print(f"ingester drained the topic in {end-start:.1f} s ({total/(end-start):.0f} spans/s)")
for name, cpu, rss in (("collector", c_cpu, c_rss), ("ingester", i_cpu, i_rss)):
    print(f"{name:9} cpu {cpu:6.2f} s = {cpu/total*1e6:5.2f} us/span = {total/max(cpu,1e-9):9.0f} spans/CPU-s, peak RSS {rss:.0f} MiB")
print(f"tansu     cpu {t_cpu:6.2f} s; {es} cpu {o_cpu:6.2f} s")
PY

# With osmem, the spans are real documents: time the dependencies job over
# them (today's UTC index, which the loadtest's timestamps fall into).
# Needs GNU time (Debian package `time`) for the job's CPU and peak RSS.
if [ "$ES" != blackhole ] && [ "${DEPENDENCIES:-1}" = 1 ] && [ -x /usr/bin/time ]; then
  es_before=$(cpu $es_pid)
  dep_start=$(date +%s.%N)
  /usr/bin/time -f "%e %U %S %M" -o "$work/dependencies.time" \
    "$BIN/ferrotrace-ingester" dependencies --es-url "http://127.0.0.1:$es" > "$work/dependencies.out" 2> "$work/dependencies.log"
  dep_end=$(date +%s.%N)
  tail -1 "$work/dependencies.out"
  read -r wall user sys rss_kb < "$work/dependencies.time"
  python3 - "$final" "$wall" "$user" "$sys" "$rss_kb" "$es_before" "$(cpu $es_pid)" <<'PY'
import sys
spans = int(sys.argv[1]); wall, user, sys_, rss_kb = map(float, sys.argv[2:6]); es0, es1 = map(float, sys.argv[6:8])
print(f"dependencies job: {spans} spans in {wall:.1f} s = {spans/max(wall,1e-9):.0f} spans/s; "
      f"job cpu {user+sys_:.2f} s, peak RSS {rss_kb/1024:.0f} MiB; es cpu {es1-es0:.2f} s")
PY
fi
