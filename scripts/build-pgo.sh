#!/usr/bin/env bash
# The release binaries built with profile-guided optimisation (PGO), into
# target/pgo/release. The ingester built this way spends about 10 % less CPU
# per span than `make build-release`'s (BENCHMARKS.md): the compiler lays out
# and inlines the code by how often each branch ran in a real pipeline.
#
#   1. `make build-release`'s cargo build, instrumented (-Cprofile-generate),
#      into target/pgo-instrumented;
#   2. those binaries run the reference load once: ferrotrace-loadtest sends
#      SPANS spans (100-span OTLP/gRPC requests, 20 attributes per span) to
#      ferrotrace-collector, which writes them to tansu (SQLite storage in a
#      temporary directory); ferrotrace-ingester indexes them into
#      ferrotrace-es-blackhole until it has every one; then each stops and
#      writes its profile;
#   3. llvm-profdata (rustup's llvm-tools component, added when missing)
#      merges the profiles into target/pgo-profile/merged.profdata;
#   4. the same cargo build with -Cprofile-use, into target/pgo.
#
# The build command must stay `make build-release`'s: cargo derives the
# symbol names the profile is matched by from the packages and features
# built, so a profile of another selection would not apply.
#
#   scripts/build-pgo.sh                (after `make tools`, which installs tansu)
#   SPANS=100000 scripts/build-pgo.sh   (a shorter training run)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
SPANS=${SPANS:-300000}
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

tansu=.tools/bin/tansu
if [ ! -x "$tansu" ]; then
  echo "build-pgo: $tansu is missing: run \`make tools\` (scripts/install-tools.sh) first" >&2
  exit 1
fi
host=$(rustc -vV | sed -n 's/^host: //p')
profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
if [ ! -x "$profdata" ]; then
  echo "build-pgo: adding rustup's llvm-tools component (llvm-profdata)" >&2
  rustup component add llvm-tools
fi

build() { # target-dir rustflag
  RUSTFLAGS="${RUSTFLAGS:-} $2" cargo build --release --locked --workspace --bins --target-dir "$1"
}

profile="$here/target/pgo-profile"
rm -rf "$profile"
mkdir -p "$profile"
build target/pgo-instrumented "-Cprofile-generate=$profile/raw"
rm -rf "$profile/raw" # build scripts' runs: only the pipeline's count
bin=target/pgo-instrumented/release

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

kafka=$(pick_port)
(cd "$work" && exec "$here/$tansu" broker --listener-url "tcp://127.0.0.1:$kafka" \
  --advertised-listener-url "tcp://127.0.0.1:$kafka" --storage-engine sqlite://tansu.db) > "$work/tansu.log" 2>&1 &
pids+=($!)
wait_tcp "$kafka"
"$tansu" topic create otlp_spans --partitions 6 --broker "tcp://127.0.0.1:$kafka" > /dev/null
es=$(pick_port)
"$bin/ferrotrace-es-blackhole" --listen "127.0.0.1:$es" > "$work/es.log" 2>&1 &
pids+=($!)
wait_tcp "$es"
# One runtime thread each, as k8s/ deploys them.
grpc=$(pick_port)
"$bin/ferrotrace-collector" --kafka-brokers "127.0.0.1:$kafka" --otlp-grpc-listen "127.0.0.1:$grpc" \
  --admin-listen '' --otlp-http-listen '' --jaeger-compact-listen '' --jaeger-binary-listen '' \
  --jaeger-http-listen '' --jaeger-grpc-listen '' --zipkin-listen '' --sampling-http-listen '' \
  --runtime-threads 1 > "$work/collector.log" 2>&1 &
collector=$!
pids+=("$collector")
"$bin/ferrotrace-ingester" --kafka-brokers "127.0.0.1:$kafka" --kafka-group pgo --es-url "http://127.0.0.1:$es" \
  --es-num-replicas 0 --admin-listen '' --runtime-threads 1 > "$work/ingester.log" 2>&1 &
ingester=$!
pids+=("$ingester")
wait_tcp "$grpc"
echo "build-pgo: training on $SPANS spans: loadtest -> collector -> tansu -> ingester -> blackhole Elasticsearch" >&2
"$bin/ferrotrace-loadtest" --endpoint "http://127.0.0.1:$grpc" --protocol grpc --traces $((SPANS / 10)) \
  --spans-per-trace 10 --traces-per-request 10 --attributes 20 --concurrency 8 --report-interval 0 \
  > "$work/loadtest.log" 2>&1 || { echo "build-pgo: the loadtest failed:" >&2; tail -5 "$work/loadtest.log" >&2; exit 1; }
stored=0 still=0
while [ "$stored" -lt "$SPANS" ]; do
  previous=$stored
  stored=$(curl -sf "http://127.0.0.1:$es/_blackhole" | python3 -c 'import json,sys; print(json.load(sys.stdin)["distinct_spans"])')
  if [ "$stored" = "$previous" ]; then still=$((still + 1)); else still=0; fi
  if [ "$still" -ge 120 ]; then
    echo "build-pgo: the ingester stored $stored of $SPANS spans and stopped; see $work/ingester.log" >&2
    tail -5 "$work/ingester.log" >&2
    exit 1
  fi
  sleep 0.25
done
# A clean exit writes the profile (a killed process writes none).
stop "$ingester"
stop "$collector"
ls "$profile"/raw/*.profraw > /dev/null
"$profdata" merge -o "$profile/merged.profdata" "$profile"/raw/*.profraw
build target/pgo "-Cprofile-use=$profile/merged.profdata"
echo "build-pgo: PGO binaries in target/pgo/release (profile: $profile/merged.profdata)" >&2
