#!/usr/bin/env bash
# Checks the deployment files that cannot be run here (no Docker engine):
# every file the Dockerfile copies from the build context exists, and its
# cargo build command is exactly the Makefile's `build-release` recipe with
# --locked, so the image is built the way the project builds itself; and
# docker-compose.yml validates against the Compose specification schema and
# references only files that exist (scripts/check-compose.py).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=deploy-venv.sh
. scripts/deploy-venv.sh
"$DEPLOY_PYTHON" scripts/check-compose.py docker-compose.yml "$COMPOSE_SCHEMA"
python3 - <<'PY'
import os, re, shlex, sys

problems = []
lines = open("Dockerfile").read().replace("\\\n", " ").splitlines()
builds = []
for line in lines:
    words = shlex.split(line, comments=True)
    if not words:
        continue
    op, args = words[0].upper(), words[1:]
    if op == "COPY" and not any(a.startswith("--from") for a in args):
        for src in args[:-1]:
            if not os.path.exists(src):
                problems.append(f"Dockerfile copies {src}, which does not exist")
    if op == "RUN" and "cargo" in args and "build" in args:
        builds.append(" ".join(args))

recipe = None
makefile = open("Makefile").read().splitlines()
for i, line in enumerate(makefile):
    if line.startswith("build-release:"):
        recipe = makefile[i + 1].strip().replace("$(CARGO)", "cargo")
if recipe is None:
    problems.append("the Makefile has no build-release recipe")
elif "--locked" not in recipe.split():
    problems.append(f"the Makefile's build-release ({recipe}) should use --locked")
if builds != [recipe]:
    problems.append(f"Dockerfile builds with {builds}, the Makefile with {recipe!r}")

for name in open(".dockerignore").read().split():
    if name in ("common", "collector", "ingester", "loadtest", "Cargo.toml", "Cargo.lock"):
        problems.append(f".dockerignore hides {name}, which the build needs")

if problems:
    print("check-deploy: " + "\ncheck-deploy: ".join(problems), file=sys.stderr)
    sys.exit(1)
print("check-deploy: Dockerfile copies existing files and builds like `make build-release`")
PY
