# Sourced by scripts/check-k8s.sh and scripts/check-deploy.sh: makes sure the
# Python venv that validates deployment files exists, and sets
#   DEPLOY_PYTHON   its interpreter (kubernetes-validate, jsonschema, PyYAML)
#   COMPOSE_SCHEMA  the Compose specification JSON schema
# Both live in the shared cache ($FERROTRACE_CACHE, default ~/.cache/ferrotrace),
# reused across runs and fresh clones; the install lock is the one
# scripts/install-tools.sh uses.
#
# The Compose schema is the compose-spec schema that docker-compose 1.29.2
# (the last Python release, on PyPI) ships as compose/config/compose_spec.json;
# the wheel is pinned by its sha256.

KUBERNETES_VALIDATE_VERSION=1.31.0
DOCKER_COMPOSE_WHEEL_VERSION=1.29.2
DOCKER_COMPOSE_WHEEL_SHA256=8d5589373b35c8d3b1c8c1182c6e4a4ff14bffa3dd0b605fcd08f73c94cef809

deploy_cache=${FERROTRACE_CACHE:-$HOME/.cache/ferrotrace}
deploy_venv="$deploy_cache/k8s-venv-$KUBERNETES_VALIDATE_VERSION"
DEPLOY_PYTHON="$deploy_venv/bin/python"
COMPOSE_SCHEMA="$deploy_venv/compose-spec-$DOCKER_COMPOSE_WHEEL_VERSION.json"
mkdir -p "$deploy_cache"

deploy_venv_ready() {
  "$DEPLOY_PYTHON" -c "import kubernetes_validate, jsonschema, yaml" 2>/dev/null && [ -s "$COMPOSE_SCHEMA" ]
}

if ! deploy_venv_ready; then
  exec 9>"$deploy_cache/.install.lock"
  flock 9
  if ! "$DEPLOY_PYTHON" -c "import kubernetes_validate, jsonschema, yaml" 2>/dev/null; then
    if ! python3 -c "import venv, ensurepip" 2>/dev/null; then
      echo "deploy-venv: python3 cannot create venvs; install its venv module (Debian/Ubuntu: apt-get install python3-venv) and run again" >&2
      exit 1
    fi
    echo "deploy-venv: installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION into $deploy_venv" >&2
    rm -rf "$deploy_venv"
    python3 -m venv "$deploy_venv"
    "$DEPLOY_PYTHON" -m pip install -q --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >&2
  fi
  if [ ! -s "$COMPOSE_SCHEMA" ]; then
    echo "deploy-venv: fetching the Compose schema from docker-compose $DOCKER_COMPOSE_WHEEL_VERSION (PyPI)" >&2
    wheels=$(mktemp -d)
    echo "docker-compose==$DOCKER_COMPOSE_WHEEL_VERSION --hash=sha256:$DOCKER_COMPOSE_WHEEL_SHA256" >"$wheels/requirements.txt"
    "$DEPLOY_PYTHON" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
      --require-hashes -r "$wheels/requirements.txt" -d "$wheels" >&2
    "$DEPLOY_PYTHON" - "$wheels" "$COMPOSE_SCHEMA" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/docker_compose-*.whl")[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[2] + ".tmp", "wb") as out:
    out.write(z.read("compose/config/compose_spec.json"))
PY
    mv "$COMPOSE_SCHEMA.tmp" "$COMPOSE_SCHEMA"
    rm -rf "$wheels"
  fi
  exec 9>&-
fi
