#!/usr/bin/env bash
# Drives the spine end to end on loopback and reports, per process, CPU
# seconds (user+sys from /proc) per span and peak RSS, plus the end-to-end
# exact-once check. osmem is slow by design (~1.5k docs/s), so the ingester
# is judged by its CPU per span, not by wall-clock rate.
#
#   scripts/bench-spine.sh [TRACES] [SPANS_PER_TRACE]     (defaults 2000 x 10)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
TRACES=${1:-2000}
SPANS=${2:-10}
BIN=${BIN:-target/release}
PROTOCOL=${PROTOCOL:-grpc}
CONCURRENCY=${CONCURRENCY:-8}
TRACES_PER_REQUEST=${TRACES_PER_REQUEST:-10}
work=$(mktemp -d)
pick_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kafka=$(pick_port); es=$(pick_port); grpc=$(pick_port); http=$(pick_port)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

.tools/bin/tansu broker --listener-url "tcp://127.0.0.1:$kafka" --advertised-listener-url "tcp://127.0.0.1:$kafka" \
  --storage-engine memory://bench/ > "$work/tansu.log" 2>&1 &
tansu_pid=$!; pids+=($tansu_pid)
.tools/bin/osmem-server -addr "127.0.0.1:$es" -no-stdin-watch > "$work/osmem.log" 2>&1 &
osmem_pid=$!; pids+=($osmem_pid)
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
start=$(date +%s.%N)
"$BIN/ferrotrace-loadtest" --endpoint "$endpoint" --protocol "$PROTOCOL" --traces "$TRACES" --spans-per-trace "$SPANS" \
  --traces-per-request "$TRACES_PER_REQUEST" --concurrency "$CONCURRENCY" | tee "$work/loadtest.out"
collector_cpu=$(cpu $collector_pid); collector_rss=$(rss $collector_pid); tansu_cpu_send=$(cpu $tansu_pid)

"$BIN/ferrotrace-ingester" --kafka-brokers "127.0.0.1:$kafka" --es-url "http://127.0.0.1:$es" --es-num-replicas 0 \
  --admin-listen '' > "$work/ingester.log" 2>&1 &
ingester_pid=$!; pids+=($ingester_pid)
total=$((TRACES * SPANS))
count=0
for _ in $(seq 1200); do
  count=$(curl -s "http://127.0.0.1:$es/jaeger-span-*/_search" -H 'content-type: application/json' \
    -d '{"size":0,"track_total_hits":true}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["hits"]["total"]["value"])' 2>/dev/null || echo 0)
  [ "$count" -ge "$total" ] && break
  sleep 0.5
done
end=$(date +%s.%N)
sleep 2
final=$(curl -s "http://127.0.0.1:$es/jaeger-span-*/_search" -H 'content-type: application/json' -d '{"size":0,"track_total_hits":true}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["hits"]["total"]["value"])')
ingester_cpu=$(cpu $ingester_pid); ingester_rss=$(rss $ingester_pid)
python3 - "$total" "$final" "$collector_cpu" "$collector_rss" "$ingester_cpu" "$ingester_rss" "$(cpu $tansu_pid)" "$(cpu $osmem_pid)" "$start" "$end" <<'PY'
import sys
total, final = int(sys.argv[1]), int(sys.argv[2])
c_cpu, c_rss, i_cpu, i_rss, t_cpu, o_cpu = map(float, sys.argv[3:9])
start, end = float(sys.argv[9]), float(sys.argv[10])
print(f"spans sent {total}, indexed {final}: lost {max(total-final,0)}, duplicated {max(final-total,0)}")
print(f"end to end {end-start:.1f} s ({total/(end-start):.0f} spans/s, bounded by osmem)")
for name, cpu, rss in (("collector", c_cpu, c_rss), ("ingester", i_cpu, i_rss)):
    print(f"{name:9} cpu {cpu:6.2f} s = {cpu/total*1e6:5.2f} us/span = {total/max(cpu,1e-9):9.0f} spans/CPU-s, peak RSS {rss:.0f} MiB")
print(f"tansu     cpu {t_cpu:6.2f} s; osmem cpu {o_cpu:6.2f} s")
PY
