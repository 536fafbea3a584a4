#!/usr/bin/env bash
# Splits the debug info off release binaries, as the Dockerfile's build stage
# does, so the image ships small binaries and their symbols stay at hand:
#   scripts/split-debuginfo.sh OUT BINARY...
# writes OUT/bin/NAME (no DWARF; the symbol table stays, so panics and perf
# still name functions) and OUT/debug/NAME.debug (the DWARF, compressed),
# which gdb and perf find through the binary's .gnu_debuglink when it sits
# next to the binary or under /usr/lib/debug. The release profile keeps
# `debug = 1` for `make bench` and profiling; this is the one place it is
# taken off. scripts/check-deploy.sh runs it on real binaries.
set -euo pipefail
if [ "$#" -lt 2 ]; then
    echo "usage: $0 OUT BINARY..." >&2
    exit 64
fi
out=$1
shift
mkdir -p "$out/bin" "$out/debug"
for binary in "$@"; do
    name=$(basename "$binary")
    objcopy --only-keep-debug --compress-debug-sections=zlib "$binary" "$out/debug/$name.debug"
    objcopy --strip-debug --add-gnu-debuglink="$out/debug/$name.debug" "$binary" "$out/bin/$name"
done
