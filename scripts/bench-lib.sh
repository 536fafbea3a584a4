# Shell helpers of the floor benchmarks (scripts/bench-*-floor.sh), sourced
# by them: one home for the checks and the /proc readings they share.

# Fails, saying how to build them, unless each named floor instrument of
# ../shared/limits is in $LIMITS; then unless tansu is installed.
require_floor_tools() {
  local tool
  for tool in "$@"; do
    if [ ! -x "$LIMITS/$tool" ]; then
      echo "$LIMITS/$tool missing; build the floor instruments: cargo build --release --manifest-path ../shared/limits/Cargo.toml --target-dir ~/.cache/ferrotrace-limits" >&2
      exit 1
    fi
  done
  if [ ! -x .tools/bin/tansu ]; then
    echo ".tools/bin/tansu missing; run 'make tools'" >&2
    exit 1
  fi
}

pick_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_tcp() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 did not open" >&2; exit 1; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }   # utime+stime in USER_HZ (100/s)
# µs of CPU per span of each thread name of process $1 over $2 spans ("main" for the process's own
# thread): where an ingester's or collector's CPU goes, without a profiler.
thread_us_per_span() {
  local pid=$1 spans=$2 task
  for task in /proc/"$pid"/task/*; do
    if [ "${task##*/}" = "$pid" ]; then printf 'main '; else printf '%s ' "$(tr ' ' '_' < "$task/comm")"; fi
    awk '{print $14+$15}' "$task/stat" 2>/dev/null || echo 0
  done | awk -v n="$spans" '{t[$1] += $2} END {for (k in t) if (t[k] > 0) printf "%s %.2f, ", k, t[k] * 10000 / n}' | sed 's/, $//'
}
peak_rss_mib() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
stop() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
