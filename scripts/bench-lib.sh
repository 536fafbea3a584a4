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
peak_rss_mib() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
stop() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
