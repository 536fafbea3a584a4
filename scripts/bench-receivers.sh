#!/usr/bin/env bash
# Measures the collector's CPU per span for each Jaeger and Zipkin receiver,
# with OTLP/gRPC and OTLP/HTTP as the baselines: starts tansu (6 partitions) and one release
# collector with every receiver on a free loopback port, then, one receiver at
# a time, sends SPANS spans with ferrotrace-loadtest (HotROD-like traces of 10
# spans, 10 attributes each) and reads the collector's user+sys CPU from /proc
# before and after. For the UDP receivers it waits until the collector has
# drained its queue, and shows what was lost: the collector's
# ferrotrace_collector_udp_packets_dropped_total and the kernel's UDP
# RcvbufErrors (packets the socket buffer could not hold never reach the
# collector). CPU is per accepted span, from the collector's /metrics.
#
#   scripts/bench-receivers.sh [SPANS]                   (default 50000 per receiver)
#   RECEIVERS="jaeger-compact zipkin-json" scripts/bench-receivers.sh 20000
#   UDP_RATE=0 RECEIVERS=jaeger-compact scripts/bench-receivers.sh   (unpaced UDP: shows drops)
#   BUILD=0 ...                                          (use the binaries in $BIN as they are)
#   UDP_SOCKET_BUFFER=4194304 ...                        (collector's --jaeger-udp-socket-buffer-bytes)
#   SPANS_PER_TRACE=1 TRACES_PER_REQUEST=100 RECEIVERS=otlp-grpc ...   (one span per Kafka message)
#   PERF_DIR=/tmp/perf ...                               (also perf record -g the collector, one file per receiver)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
SPANS=${1:-50000}
BIN=${BIN:-target/release}
BUILD=${BUILD:-1}
RECEIVERS=${RECEIVERS:-"otlp-grpc otlp-http jaeger-compact jaeger-binary jaeger-http jaeger-grpc zipkin-json zipkin-proto"}
UDP_RATE=${UDP_RATE:-20000}     # spans/s the loadtest paces UDP packets to; 0 = as fast as it can
ATTRIBUTES=${ATTRIBUTES:-10}
UDP_SOCKET_BUFFER=${UDP_SOCKET_BUFFER:-0}   # 0 keeps the OS default (net.core.rmem_default)
SPANS_PER_TRACE=${SPANS_PER_TRACE:-10}
TRACES_PER_REQUEST=${TRACES_PER_REQUEST:-}   # overrides each receiver's default below

if [ "$BUILD" = 1 ]; then
  cargo build --release -p ferrotrace-collector -p ferrotrace-loadtest
fi

work=$(mktemp -d)
pick_port() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1]=="udp" else socket.SOCK_STREAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' "$1"; }
kafka=$(pick_port tcp); grpc=$(pick_port tcp); http=$(pick_port tcp); admin=$(pick_port tcp)
compact=$(pick_port udp); binary=$(pick_port udp)
jhttp=$(pick_port tcp); jgrpc=$(pick_port tcp); zipkin=$(pick_port tcp)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
wait_tcp() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 did not open" >&2; exit 1; }

.tools/bin/tansu broker --listener-url "tcp://127.0.0.1:$kafka" --advertised-listener-url "tcp://127.0.0.1:$kafka" \
  --storage-engine memory://bench/ > "$work/tansu.log" 2>&1 &
pids+=($!)
wait_tcp "$kafka"
.tools/bin/tansu topic create otlp_spans --partitions 6 --broker "tcp://127.0.0.1:$kafka" > /dev/null

"$BIN/ferrotrace-collector" --kafka-brokers "127.0.0.1:$kafka" --admin-listen "127.0.0.1:$admin" \
  --otlp-grpc-listen "127.0.0.1:$grpc" --otlp-http-listen "127.0.0.1:$http" \
  --jaeger-compact-listen "127.0.0.1:$compact" --jaeger-binary-listen "127.0.0.1:$binary" \
  --jaeger-http-listen "127.0.0.1:$jhttp" --jaeger-grpc-listen "127.0.0.1:$jgrpc" --zipkin-listen "127.0.0.1:$zipkin" \
  --jaeger-udp-socket-buffer-bytes "$UDP_SOCKET_BUFFER" --sampling-http-listen "" \
  > "$work/collector.log" 2>&1 &
collector_pid=$!; pids+=($collector_pid)
for port in $grpc $http $admin $jhttp $jgrpc $zipkin; do wait_tcp "$port"; done

ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }   # utime+stime in USER_HZ (100/s)
rcvbuf_errors() { awk '/^Udp:/ {n++; if (n==1) for (i=1;i<=NF;i++) h[i]=$i; else for (i=1;i<=NF;i++) if (h[i]=="RcvbufErrors") print $i}' /proc/net/snmp; }
# metric NAME [label=value ...]: the sum of the collector's samples of NAME whose labels match.
metric() {
  curl -s "http://127.0.0.1:$admin/metrics" | python3 -c '
import re, sys
name, want = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:])
total = 0.0
for line in sys.stdin:
    m = re.match(r"([a-z_]+)(?:\{(.*)\})? ([0-9.eE+-]+)$", line.strip())
    if not m or m.group(1) != name:
        continue
    labels = dict(re.findall(r"(\w+)=\"([^\"]*)\"", m.group(2) or ""))
    if all(labels.get(k) == v for k, v in want.items()):
        total += float(m.group(3))
print(int(total))' "$@"
}

# The collector's CPU at rest (librdkafka and runtime timers), to judge the paced UDP runs by.
idle0=$(ticks "$collector_pid"); sleep 5; idle_ticks=$(( $(ticks "$collector_pid") - idle0 ))

results="$work/results"
: > "$results"
run() { # protocol receiver-label endpoint traces-per-request concurrency
  local protocol=$1 label=$2 endpoint=$3 per_request=${TRACES_PER_REQUEST:-$4} concurrency=$5
  local traces=$((SPANS / SPANS_PER_TRACE))
  local accepted0 dropped0 kernel0 ticks0 accepted dropped kernel ticks1 out start messages0 messages seconds
  accepted0=$(metric ferrotrace_collector_spans_total receiver="$label" outcome=accepted)
  dropped0=$(metric ferrotrace_collector_udp_packets_dropped_total receiver="$label")
  messages0=$(metric ferrotrace_collector_kafka_messages_total result=acked)
  local perf_pid=
  if [ -n "${PERF_DIR:-}" ]; then
    mkdir -p "$PERF_DIR"
    perf record -g -p "$collector_pid" -o "$PERF_DIR/$protocol.data" > /dev/null 2>&1 &
    perf_pid=$!; sleep 0.5
  fi
  kernel0=$(rcvbuf_errors); ticks0=$(ticks "$collector_pid"); start=$(date +%s.%N)
  out=$("$BIN/ferrotrace-loadtest" --protocol "$protocol" --endpoint "$endpoint" --traces "$traces" \
    --spans-per-trace "$SPANS_PER_TRACE" --attributes "$ATTRIBUTES" --traces-per-request "$per_request" \
    --concurrency "$concurrency" --udp-spans-per-second "$UDP_RATE" 2>"$work/loadtest.err" || true)
  echo "$protocol: $out"
  if [ -s "$work/loadtest.err" ]; then head -3 "$work/loadtest.err" >&2; fi
  accepted=$(metric ferrotrace_collector_spans_total receiver="$label" outcome=accepted)
  if [ "$protocol" = jaeger-compact ] || [ "$protocol" = jaeger-binary ]; then
    # UDP is not answered: wait until the workers have emptied the queue (no change for 1 s).
    local stable=0 previous=$accepted
    for _ in $(seq 300); do
      sleep 0.2
      accepted=$(metric ferrotrace_collector_spans_total receiver="$label" outcome=accepted)
      if [ "$accepted" = "$previous" ]; then stable=$((stable + 1)); else stable=0; fi
      previous=$accepted
      [ $((accepted - accepted0)) -ge "$SPANS" ] && break
      [ "$stable" -ge 5 ] && break
    done
  fi
  ticks1=$(ticks "$collector_pid")
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
  dropped=$(metric ferrotrace_collector_udp_packets_dropped_total receiver="$label")
  messages=$(metric ferrotrace_collector_kafka_messages_total result=acked)
  kernel=$(rcvbuf_errors)
  seconds=$(python3 -c "import time; print(f'{time.time() - $start:.2f}')")
  echo "$protocol $SPANS $((accepted - accepted0)) $((ticks1 - ticks0)) $((dropped - dropped0)) $((kernel - kernel0)) $seconds $((messages - messages0)) $out" >> "$results"
}

for receiver in $RECEIVERS; do
  case $receiver in
    otlp-grpc)      run grpc           otlp_grpc      "http://127.0.0.1:$grpc"   10 8 ;;
    otlp-http)      run http-protobuf  otlp_http      "http://127.0.0.1:$http"   10 8 ;;
    jaeger-compact) run jaeger-compact jaeger_compact "127.0.0.1:$compact"       20 2 ;;
    jaeger-binary)  run jaeger-binary  jaeger_binary  "127.0.0.1:$binary"        20 2 ;;
    jaeger-http)    run jaeger-http    jaeger_http    "http://127.0.0.1:$jhttp"  50 8 ;;
    jaeger-grpc)    run jaeger-grpc    jaeger_grpc    "http://127.0.0.1:$jgrpc"  50 8 ;;
    zipkin-json)    run zipkin-json    zipkin         "http://127.0.0.1:$zipkin" 10 8 ;;
    zipkin-proto)   run zipkin-proto   zipkin         "http://127.0.0.1:$zipkin" 10 8 ;;
    *) echo "unknown receiver $receiver" >&2; exit 64 ;;
  esac
done

echo
python3 - "$results" "$(awk '/VmHWM/ {print $2/1024}' "/proc/$collector_pid/status")" "$idle_ticks" <<'PY'
import re, sys
rows = [line.split(None, 8) for line in open(sys.argv[1])]
print(f"{'receiver':15} {'sent':>7} {'accepted':>8} {'payloads':>8} {'spans/pl':>8} {'spans/msg':>9} {'wall s':>6} {'cpu s':>6} {'us/span':>7} {'spans/CPU-s':>11} {'udp drops':>9} {'kernel':>6} {'sent/s':>7}")
for protocol, sent, accepted, ticks, dropped, kernel, seconds, messages, out in rows:
    sent, accepted, ticks = int(sent), int(accepted), int(ticks)
    cpu = ticks / 100
    payloads = int(re.search(r"payloads=(\d+)", out).group(1)) if "payloads=" in out else 0
    rate = re.search(r"rate=(\d+)", out)
    udp = protocol.startswith("jaeger-compact") or protocol.startswith("jaeger-binary")
    print(f"{protocol:15} {sent:7} {accepted:8} {payloads:8} {sent / max(payloads, 1):8.1f} {accepted / max(int(messages), 1):9.1f} {float(seconds):6.2f} {cpu:6.2f} "
          f"{cpu / max(accepted, 1) * 1e6:7.2f} {accepted / max(cpu, 1e-9):11.0f} "
          f"{dropped if udp else '-':>9} {kernel if udp else '-':>6} {rate.group(1) if rate else '?':>7}")
print(f"collector idle {int(sys.argv[3]) / 5 / 100 * 1000:.0f} ms CPU per s; peak RSS {float(sys.argv[2]):.0f} MiB; CPU from /proc (10 ms ticks) per accepted span;"
      " 'spans/msg' = spans per Kafka message (the split makes one per trace per payload);"
      " 'udp drops' = collector's udp_packets_dropped_total, 'kernel' = system-wide UDP RcvbufErrors")
PY
