#!/usr/bin/env bash
# The pipeline benchmark behind BENCHMARKS.md (`make bench` runs it after the
# criterion benches). On loopback it starts tansu (SQLite storage, 6
# partitions), an Elasticsearch API, a release collector and a release
# ingester, all running at once as in production, and drives them with
# ferrotrace-loadtest (OTLP/gRPC, HotROD-like traces of 10 spans with 20
# attributes, 10 traces per request). The phases (PHASES picks some):
#
#   throughput  closed loop, SPANS spans as fast as the collector answers,
#               into the blackhole ES (ferrotrace-es-blackhole, which counts
#               distinct span documents, so lost/duplicated are still exact);
#               per process: CPU seconds (user+sys from /proc) per million
#               spans, spans per CPU-second, peak RSS. The loadtest, tansu and
#               the ES server are measured too: the report shows where the
#               machine's cores went.
#   latency     open loop at each rate of RATES for RATE_SECONDS, same
#               cluster: ack latency p50/p90/p99/max measured from each
#               request's due time (no coordinated omission), achieved rate,
#               lost spans; an SVG plot of p99 and p50 against offered rate.
#   collector   the collector alone (tansu on memory storage, nothing
#               consuming): SPANS spans closed loop for its CPU per span,
#               then 10,000 spans/s for RATE_SECONDS for its RSS.
#   backlog     SPANS spans produced with no
#               ingester running, then one ingester drains them: its CPU per
#               span and drain rate under a backlog, as after an outage.
#   tail        tail sampling's cost: the same open-loop load (TAIL_RATE
#               spans/s, default 50000, for RATE_SECONDS) with the ingester's
#               tail sampling off, then on (decision_wait 10 s; errors, traces
#               over 1 s and 10 % of the rest kept); the ingester's CPU per
#               acknowledged span and peak RSS, and the spans stored.
#   verify      VERIFY_SPANS spans into osmem (a real OpenSearch-API server,
#               which stores and searches the documents), then
#               `ferrotrace-loadtest --verify` looks for every acknowledged
#               span: lost = 0 and duplicated = 0 or the phase fails. Then the
#               dependencies job runs over them.
#
#   scripts/bench-pipeline.sh [SPANS]                      (default 200000)
#   PHASES="throughput" scripts/bench-pipeline.sh 500000
#   RATES="10000 20000 40000" RATE_SECONDS=30 PHASES=latency scripts/bench-pipeline.sh
#   COLLECTOR_ARGS="--kafka-producer-config linger.ms=20" PHASES=throughput scripts/bench-pipeline.sh
#   (COLLECTOR_ARGS and INGESTER_ARGS are added to those processes' flags)
#
# Results go to $OUT (default target/bench-pipeline/): results.md (the tables
# for BENCHMARKS.md), latency.csv, latency.svg, throughput.json and logs.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
SPANS=${1:-200000}
BIN=${BIN:-target/release}
PHASES=${PHASES:-throughput collector backlog latency verify}
RATES=${RATES:-2500 5000 7500 10000 15000 20000 25000}
RATE_SECONDS=${RATE_SECONDS:-20}
VERIFY_SPANS=${VERIFY_SPANS:-20000}
CONCURRENCY=${CONCURRENCY:-8}
OUT=${OUT:-target/bench-pipeline}
SPANS_PER_TRACE=10
TRACES_PER_REQUEST=10
ATTRIBUTES=20

for tool in .tools/bin/tansu .tools/bin/osmem-server; do
  if [ ! -x "$tool" ]; then
    echo "bench-pipeline: $tool is missing; run \`make tools\` (scripts/install-tools.sh) first" >&2
    exit 1
  fi
done
if [ "${BUILD:-1}" = 1 ]; then
  cargo build --release --locked -p ferrotrace-collector -p ferrotrace-ingester -p ferrotrace-loadtest >&2
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
work=$(mktemp -d)
results="$OUT/results.md"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
{
  echo "# bench-pipeline $(date -u +%Y-%m-%dT%H:%MZ), commit $commit"
  echo
  echo "Machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release && echo "$PRETTY_NAME"), $(rustc --version | cut -d' ' -f1-2)."
  echo "Spans: HotROD-like traces of $SPANS_PER_TRACE spans, $ATTRIBUTES attributes each, $TRACES_PER_REQUEST traces per OTLP/gRPC request, $CONCURRENCY connections."
} > "$results"

pids=()
cleanup_dirs=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work" "${cleanup_dirs[@]}"
}
trap cleanup EXIT

pick_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "bench-pipeline: nothing listens on $1" >&2; return 1; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }          # utime+stime, USER_HZ (100/s)
peak_rss_mib() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

# start_cluster ES_KIND DIR [no-ingester]: starts tansu, the ES server
# (blackhole|osmem), a collector and (unless no-ingester) an ingester; sets
# kafka, es, grpc and the *_pid variables.
start_cluster() {
  local kind=$1 dir=$2
  mkdir -p "$dir"
  kafka=$(pick_port); es=$(pick_port); grpc=$(pick_port); http=$(pick_port)
  # SQLite storage: tansu 0.6's memory engine skips the rest of a record
  # batch when a fetch starts inside it (after the ingester resumes a partition).
  # The database lives in RAM (/dev/shm) unless TANSU_DIR says otherwise: on
  # disk every produce waits for SQLite's fsync, and the run measures the disk.
  local db_dir
  db_dir=$(mktemp -d "${TANSU_DIR:-/dev/shm}/ferrotrace-bench.XXXXXX")
  tansu_dir=$db_dir
  cleanup_dirs+=("$db_dir")
  local storage="sqlite://tansu.db"
  [ "${TANSU_STORAGE:-sqlite}" = memory ] && storage="memory://tansu/"
  (cd "$db_dir" && exec "$here/.tools/bin/tansu" broker --listener-url "tcp://127.0.0.1:$kafka" \
    --advertised-listener-url "tcp://127.0.0.1:$kafka" --storage-engine "$storage") > "$dir/tansu.log" 2>&1 &
  tansu_pid=$!; pids+=("$tansu_pid")
  if [ "$kind" = blackhole ]; then
    "$BIN/ferrotrace-es-blackhole" --listen "127.0.0.1:$es" > "$dir/es.log" 2>&1 &
  else
    .tools/bin/osmem-server -addr "127.0.0.1:$es" -no-stdin-watch > "$dir/es.log" 2>&1 &
  fi
  es_pid=$!; pids+=("$es_pid")
  wait_port "$kafka"; wait_port "$es"
  .tools/bin/tansu topic create otlp_spans --partitions 6 --broker "tcp://127.0.0.1:$kafka" > /dev/null
  "$BIN/ferrotrace-collector" --kafka-brokers "127.0.0.1:$kafka" --otlp-grpc-listen "127.0.0.1:$grpc" \
    --otlp-http-listen "127.0.0.1:$http" --admin-listen '' --jaeger-compact-listen '' --jaeger-binary-listen '' \
    --jaeger-http-listen '' --jaeger-grpc-listen '' --zipkin-listen '' --sampling-http-listen '' ${COLLECTOR_ARGS:-} > "$dir/collector.log" 2>&1 &
  collector_pid=$!; pids+=("$collector_pid")
  ingester_pid=
  [ "${3:-}" = no-ingester ] || start_ingester "$dir"
  wait_port "$grpc"
}

start_ingester() {
  "$BIN/ferrotrace-ingester" --kafka-brokers "127.0.0.1:$kafka" --es-url "http://127.0.0.1:$es" \
    --es-num-replicas 0 --admin-listen '' ${INGESTER_ARGS:-} > "$1/ingester.log" 2>&1 &
  ingester_pid=$!; pids+=("$ingester_pid")
  sleep 2  # the ingester joins its group and gets its partitions
}

stop_cluster() {
  for p in $collector_pid ${ingester_pid:-}; do kill -TERM "$p" 2>/dev/null || true; done
  for p in $collector_pid ${ingester_pid:-}; do wait "$p" 2>/dev/null || true; done
  for p in $tansu_pid $es_pid; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pids=()
}

# Distinct (trace, span) pairs the blackhole received.
blackhole_spans() {
  curl -sf "http://127.0.0.1:$es/_blackhole" | python3 -c 'import json,sys; print(json.load(sys.stdin)["distinct_spans"])'
}
blackhole_docs() {
  curl -sf "http://127.0.0.1:$es/_blackhole" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["distinct_span_docs"])'
}

# Waits until the blackhole holds $1 distinct spans, or nothing changed for 15 s.
wait_drained() {
  local want=$1 have previous=-1 still=0
  while :; do
    have=$(blackhole_spans)
    [ "$have" -ge "$want" ] && break
    if [ "$have" = "$previous" ]; then still=$((still + 1)); else still=0; fi
    [ "$still" -ge 60 ] && break
    previous=$have; sleep 0.25
  done
}

loadtest() {
  "$BIN/ferrotrace-loadtest" --endpoint "http://127.0.0.1:$grpc" --protocol grpc \
    --spans-per-trace "$SPANS_PER_TRACE" --attributes "$ATTRIBUTES" --traces-per-request "$TRACES_PER_REQUEST" \
    --concurrency "$CONCURRENCY" --json "$@"
}

# 1,000 spans before a latency measurement: the first produce waits for
# librdkafka's metadata and connections, which is start-up, not load.
warm_up() { loadtest --traces 100 --report-interval 0 > /dev/null 2>&1; }

json_field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {'d': d}))" "$@"; }

if [[ " $PHASES " == *" throughput "* ]]; then
  echo "bench-pipeline: throughput, $SPANS spans, closed loop" >&2
  dir="$work/throughput"; start_cluster blackhole "$dir"
  declare -A before
  for name in collector ingester tansu es; do pid_var="${name}_pid"; before[$name]=$(ticks "${!pid_var}"); done
  start=$(date +%s.%N)
  loadtest --traces $((SPANS / SPANS_PER_TRACE)) --report-interval 0 --max-backoff 30s \
    > "$OUT/throughput.json" 2> "$dir/loadtest.err" &
  loadtest_pid=$!
  wait "$loadtest_pid" || { echo "bench-pipeline: the loadtest failed:" >&2; tail -5 "$dir/loadtest.err" >&2; exit 1; }
  sent_end=$(date +%s.%N)
  collector_ticks=$(( $(ticks "$collector_pid") - ${before[collector]} ))
  acked=$(json_field "$OUT/throughput.json" 'd["acked_spans"]')
  wait_drained "$acked"
  drained_end=$(date +%s.%N)
  found=$(blackhole_spans); docs=$(blackhole_docs)
  stored_mib=$(du -sm "$tansu_dir" | cut -f1)
  python3 - "$results" "$acked" "$found" "$docs" "$start" "$sent_end" "$drained_end" "$OUT/throughput.json" "$stored_mib" \
    "collector $collector_ticks $(peak_rss_mib "$collector_pid")" \
    "ingester $(( $(ticks "$ingester_pid") - ${before[ingester]} )) $(peak_rss_mib "$ingester_pid")" \
    "loadtest $(json_field "$OUT/throughput.json" 'round(d["loadtest_cpu_seconds"] * 100)') $(json_field "$OUT/throughput.json" 'round(d["loadtest_peak_rss_mib"])')" \
    "tansu $(( $(ticks "$tansu_pid") - ${before[tansu]} )) $(peak_rss_mib "$tansu_pid")" \
    "es-blackhole $(( $(ticks "$es_pid") - ${before[es]} )) $(peak_rss_mib "$es_pid")" <<'PY'
import json, sys
results, acked, found, docs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
start, sent_end, drained_end = map(float, sys.argv[5:8])
load = json.load(open(sys.argv[8]))
stored_mib = sys.argv[9]
rows = [a.split() for a in sys.argv[10:]]
lat = load["latency_ms"]
with open(results, "a") as out:
    w = lambda s="": print(s, file=out)
    w(); w(f"## Throughput: {acked:,} spans, closed loop")
    w(); w(f"Collector acknowledged {acked:,} spans in {sent_end-start:.1f} s = **{acked/(sent_end-start):,.0f} spans/s**"
           f" (ack latency p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms); the ingester had stored them"
           f" {drained_end-sent_end:.1f} s after the last ack ({acked/(drained_end-start):,.0f} spans/s end to end).")
    w(f"Lost: **{max(acked-found,0)}**, duplicated: **{docs-found}** (distinct span documents the blackhole received: {docs:,};"
      f" refused by the collector: {load['refused_spans']}).")
    w(); w("| process | CPU s | CPU s per million spans | spans per CPU-second | peak RSS MiB |")
    w("|---|---|---|---|---|")
    total = 0
    for name, ticks, rss in rows:
        cpu = int(ticks) / 100
        total += cpu
        w(f"| {name} | {cpu:.2f} | {cpu/acked*1e6:.1f} | {acked/max(cpu,0.01):,.0f} | {rss} |")
    wall = drained_end - start
    w(f"| **all** | {total:.2f} | {total/acked*1e6:.1f} | {acked/max(total,0.01):,.0f} | |")
    w(); w(f"{total:.1f} CPU-s in {wall:.1f} s of wall clock: {total/wall:.2f} of the machine's cores busy on average. "
           f"tansu's storage holds {stored_mib} MiB for these spans.")
PY
  stop_cluster
fi

if [[ " $PHASES " == *" collector "* ]]; then
  # The collector alone at full speed: tansu on its memory storage (cheaper
  # per record than SQLite, and safe here because nothing consumes), no
  # ingester. Then 10,000 spans/s for RATE_SECONDS, for its memory at a
  # steady, moderate load.
  echo "bench-pipeline: collector alone, $SPANS spans, closed loop; then 10,000 spans/s" >&2
  dir="$work/collector"; TANSU_STORAGE=memory start_cluster blackhole "$dir" no-ingester
  ticks0=$(ticks "$collector_pid"); tansu0=$(ticks "$tansu_pid")
  loadtest --traces $((SPANS / SPANS_PER_TRACE)) --report-interval 0 > "$dir/max.json" 2> "$dir/loadtest.err"
  max_ticks=$(( $(ticks "$collector_pid") - ticks0 )); max_tansu=$(( $(ticks "$tansu_pid") - tansu0 ))
  max_rss=$(peak_rss_mib "$collector_pid")
  stop_cluster
  # A fresh collector, so its peak RSS is that of the steady load alone.
  TANSU_STORAGE=memory start_cluster blackhole "$dir" no-ingester
  warm_up
  ticks0=$(ticks "$collector_pid")
  loadtest --rate 10000 --duration "${RATE_SECONDS}s" --report-interval 0 > "$dir/steady.json" 2> "$dir/steady.err"
  steady_ticks=$(( $(ticks "$collector_pid") - ticks0 ))
  steady_rss=$(peak_rss_mib "$collector_pid"); steady_now=$(awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$collector_pid/status")
  stop_cluster
  python3 - "$results" "$dir/max.json" "$max_ticks" "$max_tansu" "$max_rss" "$dir/steady.json" "$steady_ticks" "$steady_rss" "$steady_now" <<'PY'
import json, sys
results = sys.argv[1]
mx, steady = json.load(open(sys.argv[2])), json.load(open(sys.argv[6]))
max_cpu, tansu_cpu, max_rss = int(sys.argv[3]) / 100, int(sys.argv[4]) / 100, sys.argv[5]
steady_cpu, steady_rss, steady_now = int(sys.argv[7]) / 100, sys.argv[8], sys.argv[9]
n, lat = mx["acked_spans"], mx["latency_ms"]
with open(results, "a") as out:
    w = lambda s="": print(s, file=out)
    w(); w(f"## Collector alone: OTLP/gRPC in, Kafka out (acks=all, default producer settings), {n:,} spans")
    w(); w(f"Closed loop: {mx['achieved_rate']:,.0f} spans/s acknowledged (p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms); "
           f"collector CPU {max_cpu:.2f} s = {max_cpu/n*1e6:.2f} µs/span = **{n/max(max_cpu,0.01):,.0f} spans/CPU-s**, "
           f"peak RSS {max_rss} MiB (tansu, memory storage: {tansu_cpu:.2f} CPU-s; loadtest {mx['loadtest_cpu_seconds']:.2f} CPU-s).")
    s_lat = steady["latency_ms"]
    w(f"At 10,000 spans/s offered for {steady['seconds']:.0f} s: {steady['achieved_rate']:,.0f} achieved, p99 {s_lat['p99']:.1f} ms, "
      f"collector CPU {steady_cpu/max(steady['seconds'],1e-9)*100:.0f} % of a core, **RSS {steady_now} MiB** (peak {steady_rss} MiB).")
PY
fi

if [[ " $PHASES " == *" backlog "* ]]; then
  # Not in the default PHASES: the ingester alone, draining SPANS spans that
  # wait in Kafka (as after an Elasticsearch outage), into the blackhole.
  echo "bench-pipeline: backlog, $SPANS spans produced first, then drained" >&2
  dir="$work/backlog"; start_cluster blackhole "$dir" no-ingester
  loadtest --traces $((SPANS / SPANS_PER_TRACE)) --report-interval 0 > "$dir/load.json" 2> "$dir/loadtest.err"
  acked=$(json_field "$dir/load.json" 'd["acked_spans"]')
  start=$(date +%s.%N); es_ticks=$(ticks "$es_pid")
  start_ingester "$dir"
  wait_drained "$acked"
  end=$(date +%s.%N)
  found=$(blackhole_spans); docs=$(blackhole_docs)
  python3 - "$results" "$acked" "$found" "$docs" "$start" "$end" "$(ticks "$ingester_pid")" "$(peak_rss_mib "$ingester_pid")" \
    "$(( $(ticks "$es_pid") - es_ticks ))" <<'PY'
import sys
results, acked, found, docs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
start, end, ticks, rss = float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]), sys.argv[8]
cpu, es_cpu = ticks / 100, int(sys.argv[9]) / 100
with open(results, "a") as out:
    w = lambda s="": print(s, file=out)
    w(); w(f"## Backlog: the ingester drains {acked:,} spans waiting in Kafka")
    w(); w(f"Drained in {end-start:.1f} s (start-up and group join included) = **{acked/(end-start):,.0f} spans/s**; "
           f"ingester CPU {cpu:.2f} s = {cpu/acked*1e6:.1f} µs/span = **{acked/max(cpu,0.01):,.0f} spans/CPU-s**, peak RSS {rss} MiB; "
           f"lost {max(acked-found,0)}, duplicated {docs-found}; the blackhole Elasticsearch {es_cpu/acked*1e6:.2f} µs/span.")
PY
  stop_cluster
fi

if [[ " $PHASES " == *" tail "* ]]; then
  # Not in the default PHASES.
  rate=${TAIL_RATE:-50000}
  echo "bench-pipeline: tail sampling off and on, $rate spans/s offered for ${RATE_SECONDS}s" >&2
  tail_config="$work/tail-sampling.yaml"
  cat > "$tail_config" <<'YAML'
decision_wait: 10s
policies:
  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
  - {name: slow, type: latency, latency: {threshold_ms: 1000}}
  - {name: rest, type: probabilistic, probabilistic: {sampling_percentage: 10}}
YAML
  {
    echo
    echo "## Tail sampling off and on: $rate spans/s offered for ${RATE_SECONDS} s, decision_wait 10 s"
    echo
    echo "| tail sampling | achieved spans/s | ingester CPU | µs per span | idle CPU | peak RSS | spans stored |"
    echo "|---|---|---|---|---|---|---|"
  } >> "$results"
  for mode in off on; do
    dir="$work/tail-$mode"
    extra=""
    [ "$mode" = on ] && extra="--tail-sampling-config $tail_config --tail-sampling-max-bytes ${TAIL_MAX_BYTES:-2147483648}"
    INGESTER_ARGS="${INGESTER_ARGS:-} $extra" start_cluster blackhole "$dir"
    warm_up
    wait_drained 1
    # With sampling on, the warm-up's decisions land decision_wait later.
    [ "$mode" = on ] && sleep 11
    # The ingester's idle CPU (librdkafka's threads, the loop's ticks), for
    # judging the on run's longer window.
    idle=$(ticks "$ingester_pid"); sleep 5; idle=$(( $(ticks "$ingester_pid") - idle ))
    before=$(ticks "$ingester_pid"); stored_before=$(blackhole_spans)
    loadtest --rate "$rate" --duration "${RATE_SECONDS}s" --report-interval 0 --max-backoff 1s \
      > "$dir/load.json" 2> "$dir/loadtest.err" || { tail -5 "$dir/loadtest.err" >&2; exit 1; }
    acked=$(json_field "$dir/load.json" 'd["acked_spans"]')
    if [ "$mode" = off ]; then
      wait_drained $((acked + stored_before))
    else
      # The last traces are decided decision_wait after they arrived; then
      # until the stored count holds still for 2 s.
      sleep 10
      previous=-1; still=0
      while [ "$still" -lt 8 ]; do
        have=$(blackhole_spans)
        if [ "$have" = "$previous" ]; then still=$((still + 1)); else still=0; fi
        previous=$have; sleep 0.25
      done
    fi
    used=$(( $(ticks "$ingester_pid") - before ))
    stored=$(( $(blackhole_spans) - stored_before ))
    python3 - "$results" "$mode" "$dir/load.json" "$used" "$(peak_rss_mib "$ingester_pid")" "$stored" "$idle" <<'PY'
import json, sys
results, mode, load, ticks, rss, stored, idle = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3])), int(sys.argv[4]), sys.argv[5], int(sys.argv[6]), int(sys.argv[7])
acked = load["acked_spans"]
cpu = ticks / 100
with open(results, "a") as out:
    print(f"| {mode} | {load['achieved_rate']:,.0f} | {cpu:.2f} s | {cpu / max(acked, 1) * 1e6:.1f} | {idle / 5:.0f} % | {rss} MiB | {stored:,} of {acked:,} |", file=out)
PY
    stop_cluster
  done
fi

if [[ " $PHASES " == *" latency "* ]]; then
  echo "bench-pipeline: latency against offered rate, ${RATE_SECONDS}s per rate: $RATES" >&2
  dir="$work/latency"; start_cluster blackhole "$dir"
  echo "offered_rate,achieved_rate,p50_ms,p90_ms,p99_ms,p999_ms,max_ms,acked,refused,lost,duplicated" > "$OUT/latency.csv"
  warm_up
  wait_drained 1000
  stored=$(blackhole_spans)
  for rate in $RATES; do
    loadtest --rate "$rate" --duration "${RATE_SECONDS}s" --report-interval 0 --max-backoff 1s \
      > "$dir/rate-$rate.json" 2> "$dir/rate-$rate.err" || true
    acked=$(json_field "$dir/rate-$rate.json" 'd["acked_spans"]')
    wait_drained $((stored + acked))
    now=$(blackhole_spans); docs=$(blackhole_docs)
    lost=$((stored + acked - now)); [ "$lost" -lt 0 ] && lost=0
    stored=$now
    json_field "$dir/rate-$rate.json" \
      "f'{d[\"offered_rate\"]:.0f},{d[\"achieved_rate\"]:.0f},{d[\"latency_ms\"][\"p50\"]:.2f},{d[\"latency_ms\"][\"p90\"]:.2f},{d[\"latency_ms\"][\"p99\"]:.2f},{d[\"latency_ms\"][\"p999\"]:.2f},{d[\"latency_ms\"][\"max\"]:.2f},{d[\"acked_spans\"]},{d[\"refused_spans\"]},$lost,$((docs - now))'" \
      >> "$OUT/latency.csv"
    echo "bench-pipeline: $(tail -1 "$OUT/latency.csv")" >&2
  done
  stop_cluster
  python3 scripts/plot-latency.py "$OUT/latency.csv" "$OUT/latency.svg" \
    "commit $commit, $(nproc) CPUs; broker tansu (${TANSU_STORAGE:-sqlite}), blackhole ES, collector and ingester on one machine; ${RATE_SECONDS} s per rate"
  python3 - "$results" "$OUT/latency.csv" "$RATE_SECONDS" <<'PY'
import csv, sys
results, path, seconds = sys.argv[1], sys.argv[2], sys.argv[3]
rows = list(csv.DictReader(open(path)))
good = [r for r in rows if float(r["p99_ms"]) < 50 and int(r["refused"]) == 0 and int(r["lost"]) == 0
        and float(r["achieved_rate"]) >= 0.95 * float(r["offered_rate"])]
with open(results, "a") as out:
    w = lambda s="": print(s, file=out)
    w(); w(f"## Ack latency against offered rate (open loop, {seconds} s per rate)")
    w(); w("| offered spans/s | achieved | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | refused | lost | duplicated |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        w(f"| {int(r['offered_rate']):,} | {int(r['achieved_rate']):,} | {r['p50_ms']} | {r['p90_ms']} | {r['p99_ms']} "
          f"| {r['p999_ms']} | {r['max_ms']} | {r['refused']} | {r['lost']} | {r['duplicated']} |")
    best = max((int(r["offered_rate"]) for r in good), default=None)
    w(); w(f"Highest offered rate with p99 < 50 ms, nothing refused or lost, and at least 95 % achieved: "
           + (f"**{best:,} spans/s**." if best else "**none of the rates tried**."))
PY
fi

if [[ " $PHASES " == *" verify "* ]]; then
  echo "bench-pipeline: verify, $VERIFY_SPANS spans into osmem" >&2
  dir="$work/verify"; start_cluster osmem "$dir"
  verify_start=$(date +%s.%N)
  status=0
  loadtest --traces $((VERIFY_SPANS / SPANS_PER_TRACE)) --report-interval 0 --verify \
    --es-url "http://127.0.0.1:$es" > "$OUT/verify.json" 2> "$dir/loadtest.err" || status=$?
  verify_end=$(date +%s.%N)
  if [ ! -s "$OUT/verify.json" ]; then echo "bench-pipeline: the verifying loadtest failed:" >&2; tail -5 "$dir/loadtest.err" >&2; exit 1; fi
  dep_ticks0=$(ticks "$es_pid"); dep_start=$(date +%s.%N)
  "$BIN/ferrotrace-ingester" dependencies --es-url "http://127.0.0.1:$es" > "$dir/dependencies.out" 2> "$dir/dependencies.log" &
  dep_pid=$!; dep_ticks=0; dep_rss=0
  while kill -0 "$dep_pid" 2>/dev/null; do
    dep_ticks=$(ticks "$dep_pid" 2>/dev/null || echo "$dep_ticks"); dep_rss=$(peak_rss_mib "$dep_pid" 2>/dev/null || echo "$dep_rss"); sleep 0.1
  done
  wait "$dep_pid" || { echo "bench-pipeline: the dependencies job failed:" >&2; tail -5 "$dir/dependencies.log" >&2; exit 1; }
  dep_end=$(date +%s.%N); dep_es_ticks=$(( $(ticks "$es_pid") - dep_ticks0 ))
  python3 - "$results" "$OUT/verify.json" "$verify_start" "$verify_end" "$dep_start" "$dep_end" "$dep_ticks" "$dep_rss" "$dep_es_ticks" "$(tail -1 "$dir/dependencies.out")" <<'PY'
import json, sys
results, path = sys.argv[1], sys.argv[2]
v0, v1, d0, d1 = map(float, sys.argv[3:7]); dep_ticks, dep_rss, es_ticks = int(sys.argv[7]), sys.argv[8], int(sys.argv[9])
d = json.load(open(path)); r = d["verify"]
with open(results, "a") as out:
    w = lambda s="": print(s, file=out)
    w(); w(f"## End-to-end check against a real search server (osmem), {d['acked_spans']:,} spans")
    w(); w(f"`ferrotrace-loadtest --verify`: expected {r['expected_spans']:,}, found {r['found_spans']:,}: "
           f"**lost {r['lost_spans']}, duplicated {r['duplicated_spans']}** (sent, indexed and checked in {v1-v0:.1f} s; "
           f"osmem indexes a few hundred of these documents per second).")
    spans = r["found_spans"]
    w(f"Dependencies job over them: {d1-d0:.1f} s = {spans/max(d1-d0,1e-9):,.0f} spans/s, job CPU {dep_ticks/100:.2f} s, "
      f"peak RSS {dep_rss} MiB, osmem CPU {es_ticks/100:.2f} s; it printed: {sys.argv[10]}")
PY
  stop_cluster
  if [ "$status" != 0 ]; then echo "bench-pipeline: verify found lost or duplicated spans (see $results)" >&2; cat "$results"; exit 1; fi
fi

cat "$results"
