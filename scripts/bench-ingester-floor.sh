#!/usr/bin/env bash
# The ingester against its floor, in one run. A topic is filled once with
# SPANS distinct spans of the reference load: ferrotrace-loadtest sends
# 100-span OTLP/gRPC requests (10 traces of 10 spans, 20 attributes per span)
# to the collector (of BIN too), which writes them to Kafka split per trace, as in
# production. Then, ROUNDS times, each over the same topic (a fresh consumer
# group reads it from the start):
#
#   ferrotrace  the ferrotrace-ingester built with profile-guided
#               optimisation (scripts/build-pgo.sh), writing to es_sink (a
#               fast Elasticsearch stand-in that counts distinct span ids), until
#               es_sink holds every span; its CPU (user+sys from /proc) and
#               peak RSS (VmHWM). es_sink must have seen every span exactly
#               once, or the run fails.
#   floor       the ideal ingester of ../shared/limits, as the sum of three
#               instruments: kafka_consume (consumer-group read of the same
#               topic, no decode), split_bench json-wire (Jaeger documents
#               written straight from the OTLP wire, one thread) and bulk_http
#               (1,000-document _bulk bodies over HTTP, ES-shaped answers).
#
# Rounds alternate which goes first. The summary gives µs of CPU per span for
# each, the ratio floor/ferrotrace (1.0 = as cheap as the floor) per round and
# the median. The machine is shared and noisy: only the ratios within one run
# mean something, never a figure alone.
#
#   scripts/bench-ingester-floor.sh                       (3 rounds over 1,000,000 spans)
#   ROUNDS=1 SPANS=200000 scripts/bench-ingester-floor.sh
#   INGESTER_ARGS="--service-graph false --span-metrics false" ...   (ingester flags; it runs with
#                                                          FERROTRACE_RUNTIME_THREADS=1, as k8s/ deploys it,
#                                                          unless INGESTER_ARGS sets --runtime-threads)
#   BUILD=0 BIN=target/release ...                        (use the binaries in $BIN as they are; by default
#                                                          the PGO build of scripts/build-pgo.sh, target/pgo/release)
#   LOAD_ARGS="--double-attributes false --error-rate 0" ...   (loadtest flags: here the attribute mix
#                                                          of the floor's own generator)
#   BEFORE_BIN=/tmp/old [BEFORE_ARGS=...] ...             (also run the ingester in BEFORE_BIN, with
#                                                          BEFORE_ARGS, every round: a before/after
#                                                          pair measured in the same run)
#   PERF_DIR=/tmp/perf ...                                (also perf record the ingester)
#   PERF_ARGS="--call-graph dwarf,16384" ...              (perf record's stack flags; -g by default)
#   METRICS_DIR=/tmp/m ...                                (each ingester serves /metrics, saved there as
#                                                          <label>-<round>.prom once it stored every span)
#
# Kafka is tansu with SQLite storage in /dev/shm (TANSU_DIR), for the floor
# and the ingester alike: tansu's memory engine loses the rest of a record
# batch when a fetch starts inside it, which the ingester does after resuming
# a partition. The floor instruments are not part of this repository; build
# them once with
#   cargo build --release --manifest-path ../shared/limits/Cargo.toml --target-dir ~/.cache/ferrotrace-limits
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
SPANS=${SPANS:-1000000}
ROUNDS=${ROUNDS:-3}
BIN=${BIN:-target/pgo/release}
BUILD=${BUILD:-1}
LIMITS=${LIMITS:-$HOME/.cache/ferrotrace-limits/release}
INGESTER_ARGS=${INGESTER_ARGS:-}
LOAD_ARGS=${LOAD_ARGS:-}
BEFORE_BIN=${BEFORE_BIN:-}
BEFORE_ARGS=${BEFORE_ARGS:-}
SPANS_PER_TRACE=10
TRACES_PER_REQUEST=10
BULK_DOCS=1000                   # documents per _bulk body of the bulk floor (Jaeger's es.bulk.actions; the ingester's default is 250)

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
require_floor_tools es_sink kafka_consume split_bench bulk_http
if [ "$BUILD" = 1 ]; then
  scripts/build-pgo.sh
fi
for binary in ferrotrace-collector ferrotrace-ingester ferrotrace-loadtest; do
  [ -x "$BIN/$binary" ] || { echo "$BIN/$binary is missing: build it (scripts/build-pgo.sh, or make build-release and BIN=target/release)" >&2; exit 1; }
done

work=$(mktemp -d)
db_dir=$(mktemp -d "${TANSU_DIR:-/dev/shm}/ferrotrace-bench.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work" "$db_dir"; }
trap cleanup EXIT
us_per_span() { grep -o 'us_per_span=[0-9.]*' <<< "$1" | cut -d= -f2; }   # the figure every floor instrument prints
json_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$@"; }

# --- the topic: SPANS spans through the collector, split per trace ---------
kafka=$(pick_port)
(cd "$db_dir" && exec "$here/.tools/bin/tansu" broker --listener-url "tcp://127.0.0.1:$kafka" \
  --advertised-listener-url "tcp://127.0.0.1:$kafka" --storage-engine sqlite://tansu.db) > "$work/tansu.log" 2>&1 &
pids+=($!)
wait_tcp "$kafka"
.tools/bin/tansu topic create otlp_spans --partitions 6 --broker "tcp://127.0.0.1:$kafka" > /dev/null
grpc=$(pick_port)
"$BIN/ferrotrace-collector" --kafka-brokers "127.0.0.1:$kafka" --otlp-grpc-listen "127.0.0.1:$grpc" \
  --admin-listen '' --otlp-http-listen '' --jaeger-compact-listen '' --jaeger-binary-listen '' \
  --jaeger-http-listen '' --jaeger-grpc-listen '' --zipkin-listen '' --sampling-http-listen '' \
  --runtime-threads 1 > "$work/collector.log" 2>&1 &
collector=$!; pids+=("$collector")
wait_tcp "$grpc"
echo "bench-ingester-floor: filling otlp_spans with $SPANS spans through the collector" >&2
# shellcheck disable=SC2086 # LOAD_ARGS is a list of flags
"$BIN/ferrotrace-loadtest" --endpoint "http://127.0.0.1:$grpc" --protocol grpc --traces $((SPANS / SPANS_PER_TRACE)) \
  --spans-per-trace "$SPANS_PER_TRACE" --traces-per-request "$TRACES_PER_REQUEST" --attributes 20 \
  --concurrency 8 --report-interval 0 --json $LOAD_ARGS > "$work/load.json" 2> "$work/loadtest.err" \
  || { echo "the loadtest failed:" >&2; tail -5 "$work/loadtest.err" >&2; exit 1; }
stop "$collector"
load=$(cat "$work/load.json")
acked=$(json_field "$load" acked_spans)
if [ "$acked" != "$SPANS" ] || [ "$(json_field "$load" refused_spans)" != 0 ]; then
  echo "the collector acknowledged $acked of $SPANS spans; see $work/collector.log" >&2; exit 1
fi
messages=$((SPANS / SPANS_PER_TRACE))   # one message per trace

# --- the instruments ---------------------------------------------------------
results="$work/results"
: > "$results"

# Waits until es_sink at $1 holds $2 distinct spans; fails when nothing changed for 30 s.
wait_indexed() {
  local port=$1 want=$2 have previous=-1 still=0
  while :; do
    have=$(json_field "$(curl -sf "http://127.0.0.1:$port/_es_sink")" distinct_span_docs)
    [ "$have" -ge "$want" ] && return 0
    if [ "$have" = "$previous" ]; then still=$((still + 1)); else still=0; fi
    if [ "$still" -ge 120 ]; then echo "es_sink stuck at $have of $want spans" >&2; return 1; fi
    previous=$have; sleep 0.25
  done
}

run_ferrotrace() { # round [label bin args]: label "ferrotrace" (the binaries in BIN) or "before"
  local round=$1 label=${2:-ferrotrace} bin=${3:-$BIN} args=${4-$INGESTER_ARGS}
  local es sink ingester t rss threads counts docs distinct perf_pid= admin=''
  es=$(pick_port)
  "$LIMITS/es_sink" --listen "127.0.0.1:$es" > "$work/es_sink.log" 2>&1 &
  sink=$!; pids+=("$sink")
  wait_tcp "$es"
  if [ -n "${METRICS_DIR:-}" ]; then admin="127.0.0.1:$(pick_port)"; mkdir -p "$METRICS_DIR"; fi
  # shellcheck disable=SC2086 # args is a list of flags
  # Every span counts in the metrics generator: the topic was filled before the
  # rounds, and by default spans that ended over 30 s before they are read are
  # left out, which would measure a backlog drain rather than live traffic.
  FERROTRACE_RUNTIME_THREADS=1 FERROTRACE_METRICS_MAX_SPAN_AGE=0 "$bin/ferrotrace-ingester" --kafka-brokers "127.0.0.1:$kafka" --kafka-group "bench-$label-$round" \
    --es-url "http://127.0.0.1:$es" --es-num-replicas 0 --admin-listen "$admin" $args \
    > "$work/ingester-$label-$round.log" 2>&1 &
  ingester=$!; pids+=("$ingester")
  if [ -n "${PERF_DIR:-}" ] && [ "$label" = ferrotrace ]; then
    mkdir -p "$PERF_DIR"
    # shellcheck disable=SC2086 # PERF_ARGS is a list of flags
    perf record ${PERF_ARGS:--g} -p "$ingester" -o "$PERF_DIR/ingester-$round.data" > /dev/null 2>&1 &
    perf_pid=$!
  fi
  wait_indexed "$es" "$SPANS" || { tail -5 "$work/ingester-$label-$round.log" >&2; exit 1; }
  # From start-up (group join, templates) to the last span stored.
  t=$(ticks "$ingester"); rss=$(peak_rss_mib "$ingester"); threads=$(thread_us_per_span "$ingester" "$SPANS")
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
  if [ -n "$admin" ]; then curl -sf "http://$admin/metrics" > "$METRICS_DIR/$label-$round.prom" || true; fi
  stop "$ingester"   # it drains and commits: anything sent after now would be a duplicate
  counts=$(curl -sf "http://127.0.0.1:$es/_es_sink")
  stop "$sink"
  docs=$(json_field "$counts" span_docs); distinct=$(json_field "$counts" distinct_span_docs)
  echo "  $label round $round: cpu ticks $t, peak RSS $rss MiB; es_sink: $docs span documents, $distinct distinct" >&2
  echo "    us/span by thread: $threads" >&2
  if [ "$docs" != "$SPANS" ] || [ "$distinct" != "$SPANS" ]; then
    echo "es_sink saw $docs span documents ($distinct distinct) for $SPANS spans: lost or duplicated" >&2; exit 1
  fi
  echo "$label $round $(awk -v t="$t" -v n="$SPANS" 'BEGIN {printf "%.3f", t * 10000 / n}') $rss" >> "$results"
}

run_floor() { # round
  local round=$1 consume wire bulk port server
  consume=$(timeout 600 "$LIMITS/kafka_consume" --brokers "127.0.0.1:$kafka" --topic otlp_spans --group "floor-$round" \
    --msgs "$messages" --spans-per-msg "$SPANS_PER_TRACE")
  wire=$("$LIMITS/split_bench" --mode json-wire --spans "$SPANS" 2> /dev/null)
  port=$(pick_port)
  "$LIMITS/bulk_http" --role server --listen "127.0.0.1:$port" > /dev/null 2>&1 &
  server=$!; pids+=("$server")
  wait_tcp "$port"
  bulk=$("$LIMITS/bulk_http" --role client --url "http://127.0.0.1:$port/_bulk" --docs "$BULK_DOCS" --conc 4 \
    --requests $((SPANS / BULK_DOCS)))
  stop "$server"
  echo "  floor round $round: consume $(us_per_span "$consume"), json-wire $(us_per_span "$wire"), bulk $(us_per_span "$bulk") us/span" \
    "($(grep -o 'bytes=[0-9]*' <<< "$consume" | cut -d= -f2) bytes in $messages messages)" >&2
  echo "floor $round $(us_per_span "$consume") $(us_per_span "$wire") $(us_per_span "$bulk")" >> "$results"
}

run_ingesters() { # round: the ingester, and the one in BEFORE_BIN when given (alternating which goes first)
  if [ -z "$BEFORE_BIN" ]; then run_ferrotrace "$1"
  elif [ $(($1 % 2)) = 1 ]; then run_ferrotrace "$1" before "$BEFORE_BIN" "$BEFORE_ARGS"; run_ferrotrace "$1"
  else run_ferrotrace "$1"; run_ferrotrace "$1" before "$BEFORE_BIN" "$BEFORE_ARGS"; fi
}

for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then run_floor "$round"; run_ingesters "$round"; else run_ingesters "$round"; run_floor "$round"; fi
done

python3 - "$results" "$SPANS" <<'PY'
import statistics, sys
spans = int(sys.argv[2])
rounds = {}
for line in open(sys.argv[1]):
    system, rnd, *figures = line.split()
    rounds.setdefault(int(rnd), {})[system] = [float(f) for f in figures]
print(f"\n{spans:,} spans per round; CPU (user+sys) per span: the ingester's whole process from start-up to the last span stored,")
print("the floor's instruments as they print it (kafka_consume: its process; json-wire: one thread; bulk_http: the client)")
systems = [s for s in ("before", "ferrotrace") if any(s in r for r in rounds.values())]
head = f"{'round':>5} {'consume':>8} {'json-wire':>9} {'bulk':>6} {'floor':>6}"
for system in systems:
    head += f" {system:>10} {'RSS MiB':>7} {'floor/' + system:>16}"
print(head)
ratios, floors, ours, rss = {s: [] for s in systems}, [], {s: [] for s in systems}, {s: [] for s in systems}
for rnd in sorted(rounds):
    consume, wire, bulk = rounds[rnd]["floor"]
    floor = consume + wire + bulk
    floors.append(floor)
    line = f"{rnd:>5} {consume:8.2f} {wire:9.2f} {bulk:6.2f} {floor:6.2f}"
    for system in systems:
        us, peak = rounds[rnd][system]
        ratios[system].append(floor / us); ours[system].append(us); rss[system].append(peak)
        line += f" {us:10.2f} {peak:7.1f} {floor / us:16.2f}"
    print(line)
for system in systems:
    median = statistics.median(ours[system])
    print(f"median: floor {statistics.median(floors):.2f} us/span, {system} {median:.2f} us/span "
          f"({1e6 / median:,.0f} spans/CPU-s), ratio {statistics.median(ratios[system]):.2f}x "
          f"(spread {min(ratios[system]):.2f}-{max(ratios[system]):.2f}), {system} peak RSS {max(rss[system]):.1f} MiB")
PY
