#!/usr/bin/env bash
# The collector against its floor, in one run: the ideal collector of
# ../shared/limits (grpc_server raw-split-kafka: raw gRPC bytes, wire-level
# split per trace, idempotent acks=all produce, answer after the acks, one
# current-thread runtime, 1 MiB HTTP/2 frames) and ferrotrace-collector (the
# PGO build of scripts/build-pgo.sh, as the image ships it) take turns
# receiving the same reference load from the same driver (limits'
# grpc_client: 100-span OTLP requests, 10 traces of 10 spans, 20 attributes
# per span, about 622 B/span). Each run gets a fresh tansu
# (memory storage, 6 partitions), a warm-up, then REQUESTS timed requests; the
# server's user+sys CPU comes from /proc before and after, peak RSS from
# VmHWM. The pairs alternate which system goes first; the summary gives each
# pair's ratio floor/ferrotrace (1.0 = as cheap as the floor) and the median.
#
#   scripts/bench-collector-floor.sh                  (3 pairs of 10,000 timed requests, 1M spans, each)
#   PAIRS=5 REQUESTS=5000 scripts/bench-collector-floor.sh
#   BUILD=0 BIN=target/release ...                    (use the collector in $BIN as it is; by default
#                                                      the PGO build, target/pgo/release)
#   COLLECTOR_ARGS="--runtime-threads 0" ...          (collector flags; default --runtime-threads 1)
#   PERF_DIR=/tmp/perf ...                            (also perf record -g the collector's timed part)
#
# The floor instruments are not part of this repository; build them once with
#   cargo build --release --manifest-path ../shared/limits/Cargo.toml --target-dir ~/.cache/ferrotrace-limits
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
PAIRS=${PAIRS:-3}
REQUESTS=${REQUESTS:-10000}
WARMUP=${WARMUP:-500}
CONCURRENCY=${CONCURRENCY:-32}   # unary Export calls in flight
CONNECTIONS=${CONNECTIONS:-4}    # HTTP/2 connections they are spread over
BIN=${BIN:-target/pgo/release}
BUILD=${BUILD:-1}
LIMITS=${LIMITS:-$HOME/.cache/ferrotrace-limits/release}
COLLECTOR_ARGS=${COLLECTOR_ARGS:---runtime-threads 1}
SPANS_PER_REQUEST=100            # grpc_client's reference load: 10 traces x 10 spans

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
require_floor_tools grpc_server grpc_client
if [ "$BUILD" = 1 ]; then
  scripts/build-pgo.sh
fi
[ -x "$BIN/ferrotrace-collector" ] || { echo "$BIN/ferrotrace-collector is missing: build it (scripts/build-pgo.sh, or make build-release and BIN=target/release)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

drive() { # port requests
  "$LIMITS/grpc_client" --target "http://127.0.0.1:$1" --requests "$2" --conc "$CONCURRENCY" --conns "$CONNECTIONS" 2>&1
}

results="$work/results"
: > "$results"
run() { # system pair
  local system=$1 pair=$2 kafka grpc admin tansu server t0 t1 out rss
  kafka=$(pick_port); grpc=$(pick_port); admin=$(pick_port)
  .tools/bin/tansu broker --listener-url "tcp://127.0.0.1:$kafka" --advertised-listener-url "tcp://127.0.0.1:$kafka" \
    --storage-engine memory://bench/ > "$work/tansu.log" 2>&1 &
  tansu=$!; pids+=("$tansu")
  wait_tcp "$kafka"
  .tools/bin/tansu topic create otlp_spans --partitions 6 --broker "tcp://127.0.0.1:$kafka" > /dev/null
  case $system in
    floor)
      # --warmup/--count past what is sent: it never prints or exits on its own; CPU is read from /proc as for ferrotrace.
      "$LIMITS/grpc_server" --mode raw-split-kafka --rt current --max-frame 1048576 --window 4194304 \
        --compression none --brokers "127.0.0.1:$kafka" --topic otlp_spans --listen "127.0.0.1:$grpc" \
        --warmup 1000000000000 --count 1 > "$work/$system.log" 2>&1 &
      ;;
    ferrotrace)
      # shellcheck disable=SC2086 # COLLECTOR_ARGS is a list of flags
      "$BIN/ferrotrace-collector" --kafka-brokers "127.0.0.1:$kafka" --admin-listen "127.0.0.1:$admin" \
        --otlp-grpc-listen "127.0.0.1:$grpc" --otlp-http-listen "" --jaeger-compact-listen "" \
        --jaeger-binary-listen "" --jaeger-http-listen "" --jaeger-grpc-listen "" --zipkin-listen "" \
        --sampling-http-listen "" $COLLECTOR_ARGS > "$work/$system.log" 2>&1 &
      ;;
  esac
  server=$!; pids+=("$server")
  wait_tcp "$grpc"
  drive "$grpc" "$WARMUP" > /dev/null
  local perf_pid=
  if [ -n "${PERF_DIR:-}" ] && [ "$system" = ferrotrace ]; then
    mkdir -p "$PERF_DIR"
    perf record -g -p "$server" -o "$PERF_DIR/$system-$pair.data" > /dev/null 2>&1 &
    perf_pid=$!; sleep 0.5
  fi
  t0=$(ticks "$server")
  out=$(drive "$grpc" "$REQUESTS")
  t1=$(ticks "$server")
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
  rss=$(peak_rss_mib "$server")
  stop "$server"; stop "$tansu"
  echo "  $system pair $pair: $out, cpu ticks $((t1 - t0)), peak RSS $rss MiB" >&2
  if ! grep -q "errors=0 " <<< "$out"; then
    echo "$system answered errors; see its log:" >&2; tail -5 "$work/$system.log" >&2; exit 1
  fi
  echo "$system $pair $((t1 - t0)) $rss" >> "$results"
}

for pair in $(seq "$PAIRS"); do
  if [ $((pair % 2)) = 1 ]; then run floor "$pair"; run ferrotrace "$pair"; else run ferrotrace "$pair"; run floor "$pair"; fi
done

python3 - "$results" "$((REQUESTS * SPANS_PER_REQUEST))" <<'PY'
import statistics, sys
spans = int(sys.argv[2])
runs = {}
for line in open(sys.argv[1]):
    system, pair, ticks, rss = line.split()
    runs.setdefault(int(pair), {})[system] = (int(ticks) * 10_000 / spans, float(rss))  # 10 ms ticks -> µs
print(f"\n{spans} spans per run, CPU (user+sys from /proc) per span of the receiving process")
print(f"{'pair':>4} {'floor us/span':>13} {'RSS MiB':>7} {'ferrotrace us/span':>18} {'RSS MiB':>7} {'ratio floor/ferrotrace':>22}")
ratios, fl, ft, frss = [], [], [], []
for pair in sorted(runs):
    (f_us, f_rss), (t_us, t_rss) = runs[pair]["floor"], runs[pair]["ferrotrace"]
    ratios.append(f_us / t_us); fl.append(f_us); ft.append(t_us); frss.append(t_rss)
    print(f"{pair:>4} {f_us:13.2f} {f_rss:7.1f} {t_us:18.2f} {t_rss:7.1f} {f_us / t_us:22.2f}")
print(f"median: floor {statistics.median(fl):.2f} us/span, ferrotrace {statistics.median(ft):.2f} us/span "
      f"({1e6 / statistics.median(ft):.0f} spans/CPU-s), ratio {statistics.median(ratios):.2f}x "
      f"(spread {min(ratios):.2f}-{max(ratios):.2f}), ferrotrace peak RSS {max(frss):.1f} MiB")
PY
