#!/usr/bin/env bash
# Installs the local test servers once per machine and links them into .tools/:
#   tansu        Kafka-compatible broker (crates.io), built with cargo (~12 min the first time)
#   osmem-server OpenSearch-compatible server (PyPI), in a Python venv
#   prometheus   Debian's package (2.42), which runs Jaeger's Monitor-tab queries in the tests,
#                and its promtool, which checks and unit-tests deploy/prometheus/alerts.yaml
#   sampling-clients-python  a Python venv with jaeger-client (its remote sampler) and grpcio-tools
#                (stubs from Jaeger's sampling.proto), for collector/tests/sampling.rs
# They live in a cache outside the clone ($FERROTRACE_CACHE, default ~/.cache/ferrotrace)
# so a fresh clone (CI) reuses them. Safe to run concurrently: a lock serialises installs.
#
#   scripts/install-tools.sh          (all of them: `make tools`)
#   scripts/install-tools.sh tansu    (only those named: the image's build stage takes tansu alone,
#                                      for scripts/build-pgo.sh's training run)
set -euo pipefail

TANSU_VERSION=0.6.0
OSMEM_VERSION=0.1.6
JAEGER_CLIENT_VERSION=4.8.0
GRPCIO_TOOLS_VERSION=1.85.4
GOOGLEAPIS_PROTOS_VERSION=1.76.0
# jaeger-client's generated Thrift code imports six, which thrift no longer installs.
SIX_VERSION=1.17.0
ALL_TOOLS=(prometheus tansu osmem-server sampling-clients-python)
tools=("$@")
if [ ${#tools[@]} -eq 0 ]; then tools=("${ALL_TOOLS[@]}"); fi
for tool in "${tools[@]}"; do
  case " ${ALL_TOOLS[*]} " in
    *" $tool "*) ;;
    *) echo "install-tools: unknown tool $tool (known: ${ALL_TOOLS[*]})" >&2; exit 2 ;;
  esac
done
wanted() { case " ${tools[*]} " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${FERROTRACE_CACHE:-$HOME/.cache/ferrotrace}
mkdir -p "$cache/bin"

exec 9>"$cache/.install.lock"
flock 9

apt_install() {
  # Only root on Debian can install system packages; elsewhere, say what is missing.
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "install-tools: apt-get install $*" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    echo "install-tools: missing system packages: $* (install them with your package manager)" >&2
    exit 1
  fi
}

# Build prerequisites of librdkafka (bundled by the rdkafka crate) and tansu.
missing=()
command -v cc >/dev/null || missing+=(build-essential)
command -v make >/dev/null || missing+=(make)
command -v perl >/dev/null || missing+=(perl)
command -v pkg-config >/dev/null || missing+=(pkg-config)
[ -e /usr/include/zlib.h ] || missing+=(zlib1g-dev)
[ -e /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi

# Prometheus for the Jaeger Monitor tab test; the tests start their own on a
# free port, so the system service the package enables (where systemd runs)
# is stopped and disabled right away.
if wanted prometheus; then
  if ! command -v prometheus >/dev/null; then
    apt_install prometheus
    if [ -d /run/systemd/system ]; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
  fi
  ln -sfn "$(command -v prometheus)" "$cache/bin/prometheus"
  ln -sfn "$(command -v promtool)" "$cache/bin/promtool"
fi

if wanted tansu; then
  tansu_root="$cache/tansu-$TANSU_VERSION"
  if [ ! -x "$tansu_root/bin/tansu" ]; then
    echo "install-tools: building tansu $TANSU_VERSION into $tansu_root (about 12 minutes, once per machine)" >&2
    cargo install "tansu@$TANSU_VERSION" --locked --features dynostore,libsql --root "$tansu_root" >&2
  fi
  ln -sfn "$tansu_root/bin/tansu" "$cache/bin/tansu"
fi

if wanted osmem-server; then
  venv="$cache/osmem-venv-$OSMEM_VERSION"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import osmem_server" 2>/dev/null; then
    echo "install-tools: installing osmem-server $OSMEM_VERSION into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; rm -rf "$venv"; python3 -m venv "$venv"; }
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "osmem-server==$OSMEM_VERSION" >&2
  fi
  osmem_bin=$("$venv/bin/python" -c 'import os, osmem_server; print(os.path.join(os.path.dirname(osmem_server.__file__), "bin", "osmem-server"))')
  ln -sfn "$osmem_bin" "$cache/bin/osmem-server"
fi

if wanted sampling-clients-python; then
  clients="$cache/sampling-clients-venv-$JAEGER_CLIENT_VERSION-$GRPCIO_TOOLS_VERSION"
  if [ ! -x "$clients/bin/python" ] || ! "$clients/bin/python" -c "import jaeger_client, grpc_tools, google.api" 2>/dev/null; then
    echo "install-tools: installing jaeger-client $JAEGER_CLIENT_VERSION and grpcio-tools $GRPCIO_TOOLS_VERSION into $clients" >&2
    rm -rf "$clients"
    python3 -m venv "$clients" 2>/dev/null || { apt_install python3-venv; rm -rf "$clients"; python3 -m venv "$clients"; }
    "$clients/bin/python" -m pip install -q --disable-pip-version-check "jaeger-client==$JAEGER_CLIENT_VERSION" \
      "grpcio-tools==$GRPCIO_TOOLS_VERSION" "googleapis-common-protos==$GOOGLEAPIS_PROTOS_VERSION" "six==$SIX_VERSION" >&2
  fi
  # A venv's interpreter must be run by its own path (a symlink loses the venv).
  printf '#!/bin/sh\nexec "%s/bin/python" "$@"\n' "$clients" > "$cache/bin/sampling-clients-python.tmp"
  chmod +x "$cache/bin/sampling-clients-python.tmp"
  mv "$cache/bin/sampling-clients-python.tmp" "$cache/bin/sampling-clients-python"
fi

# .tools/ in the clone points at the cache (it is gitignored).
if [ ! -e "$here/.tools" ] || [ -L "$here/.tools" ]; then ln -sfn "$cache" "$here/.tools"; fi
bin=$here/.tools/bin
if wanted tansu; then "$bin/tansu" --version >/dev/null 2>&1 || "$bin/tansu" --help >/dev/null; fi
if wanted osmem-server; then "$bin/osmem-server" -version >/dev/null; fi
if wanted prometheus; then "$bin/prometheus" --version >/dev/null 2>&1 && "$bin/promtool" --version >/dev/null 2>&1; fi
if wanted sampling-clients-python; then "$bin/sampling-clients-python" -c "import jaeger_client, grpc_tools"; fi
echo "install-tools: ${tools[*]} ready in $bin" >&2
