#!/usr/bin/env bash
# Checks the deployment files that cannot be run here (no Docker engine):
# every file the Dockerfile copies from the build context exists; it installs
# tansu with scripts/install-tools.sh, copies every script that
# scripts/build-pgo.sh uses and builds with that script, whose cargo build
# command is exactly the Makefile's `build-release` recipe with --locked, so
# the image is built the way the project builds itself; and
# docker-compose.yml validates against the Compose specification schema and
# references only files that exist (scripts/check-compose.py); the image gets
# its binaries through scripts/split-debuginfo.sh (no debug info), and that
# script, run on real binaries, leaves no DWARF in them and, on a release
# build, keeps each under the size the README states.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=deploy-venv.sh
. scripts/deploy-venv.sh
"$DEPLOY_PYTHON" scripts/check-compose.py docker-compose.yml "$COMPOSE_SCHEMA"
python3 - <<'PY'
import os, re, shlex, sys

problems = []
lines = open("Dockerfile").read().replace("\\\n", " ").splitlines()
builds, runs, copied, splits, shipped = [], [], set(), [], []
for line in lines:
    words = shlex.split(line, comments=True)
    if not words:
        continue
    op, args = words[0].upper(), words[1:]
    if op == "COPY" and not any(a.startswith("--from") for a in args):
        for src in args[:-1]:
            copied.add(src)
            if not os.path.exists(src):
                problems.append(f"Dockerfile copies {src}, which does not exist")
    if op == "RUN" and "cargo" in args and "build" in args:
        builds.append(" ".join(args))
    if op == "RUN":
        runs.append(args)
    if op == "RUN" and args and args[0] == "scripts/split-debuginfo.sh":
        splits.append(args[1:])
    if op == "COPY" and "--from=build" in args and args[-1] == "/usr/local/bin/":
        shipped.extend(a for a in args[:-1] if not a.startswith("--"))

recipe = None
makefile = open("Makefile").read().splitlines()
for i, line in enumerate(makefile):
    if line.startswith("build-release:"):
        recipe = makefile[i + 1].strip().replace("$(CARGO)", "cargo")
if recipe is None:
    problems.append("the Makefile has no build-release recipe")
elif "--locked" not in recipe.split():
    problems.append(f"the Makefile's build-release ({recipe}) should use --locked")
# The image's build is scripts/build-pgo.sh's, whose cargo build is the
# recipe with its own --target-dir; tansu is installed before it runs, and
# the scripts it calls are in the build context.
pgo = open("scripts/build-pgo.sh").read()
pgo_builds = re.findall(r"^[^#\n]*?(cargo build .*)$", pgo, re.M)
if builds:
    problems.append(f"the Dockerfile runs cargo build itself ({builds}); it should run scripts/build-pgo.sh")
if pgo_builds != [f'{recipe} --target-dir "$1"']:
    problems.append(f"scripts/build-pgo.sh builds with {pgo_builds}, the Makefile with {recipe!r}")
steps = [" ".join(w for w in args if "=" not in w) for args in runs]
tansu = next((i for i, step in enumerate(steps) if step == "scripts/install-tools.sh tansu"), None)
train = [i for i, step in enumerate(steps) if step == "scripts/build-pgo.sh"]
if len(train) != 1:
    problems.append("the Dockerfile should run scripts/build-pgo.sh once")
elif tansu is None or tansu > train[0]:
    problems.append("the Dockerfile should run scripts/install-tools.sh tansu before scripts/build-pgo.sh")
for used in sorted(set(re.findall(r"scripts/[\w.-]+", pgo)) - {"scripts/build-pgo.sh"}):
    if used not in copied and "scripts" not in copied:
        problems.append(f"scripts/build-pgo.sh uses {used}, which the Dockerfile does not copy")

# The image's binaries are the split ones: no debug info (about 100 MB each).
if len(splits) != 1 or len(splits[0]) < 2:
    problems.append("the Dockerfile should run scripts/split-debuginfo.sh OUT BINARY... once")
else:
    out, stripped = splits[0][0], splits[0][1:]
    out = out if out.startswith("/") else "/src/" + out  # the build stage's WORKDIR
    for src in shipped:
        name = os.path.basename(src)
        if src != f"{out}/bin/{name}" or f"target/pgo/release/{name}" not in stripped:
            problems.append(f"the image gets {src}, not the output of scripts/split-debuginfo.sh")
    if not shipped:
        problems.append("the Dockerfile copies no binary into /usr/local/bin/")

for name in open(".dockerignore").read().split():
    if name in ("format", "common", "testkit", "collector", "ingester", "loadtest", "e2e", "Cargo.toml", "Cargo.lock"):
        problems.append(f".dockerignore hides {name}, which the build needs")

if problems:
    print("check-deploy: " + "\ncheck-deploy: ".join(problems), file=sys.stderr)
    sys.exit(1)
print("check-deploy: Dockerfile copies existing files, builds like `make build-release` with scripts/build-pgo.sh and ships split binaries")
PY

# The split itself, on real binaries: the image's own build's (PGO) or a
# release build's when there is one (then the size bound holds too), else a
# debug build's, which `make test` has just made (the split works the same;
# its size says nothing about the image).
max_mib=${FERROTRACE_MAX_BINARY_MIB:-20}
binaries=(ferrotrace-collector ferrotrace-ingester ferrotrace-loadtest)
split_dir=$(mktemp -d)
trap 'rm -rf "$split_dir"' EXIT
built=
for dir in pgo/release release; do
    release=()
    for name in "${binaries[@]}"; do
        [ -x "target/$dir/$name" ] && release+=("target/$dir/$name")
    done
    if [ "${#release[@]}" -eq "${#binaries[@]}" ]; then
        scripts/split-debuginfo.sh "$split_dir" "${release[@]}"
        built=$dir
        break
    fi
done
if [ -z "$built" ]; then
    if [ ! -x target/debug/ferrotrace-collector ]; then
        echo "check-deploy: no ferrotrace binary to split: build first (make build or make build-release)" >&2
        exit 1
    fi
    scripts/split-debuginfo.sh "$split_dir" target/debug/ferrotrace-collector
    built=debug
fi
for binary in "$split_dir"/bin/*; do
    name=$(basename "$binary")
    sections=$(readelf -S -W "$binary" 2>/dev/null)
    symbols=$(readelf -S -W "$split_dir/debug/$name.debug" 2>/dev/null)
    for section in .debug_info .debug_line; do
        if grep -qF " $section " <<<"$sections"; then
            echo "check-deploy: $name still has $section after scripts/split-debuginfo.sh" >&2
            exit 1
        fi
        if ! grep -qF " $section " <<<"$symbols"; then
            echo "check-deploy: $name.debug lacks $section" >&2
            exit 1
        fi
    done
    for section in .gnu_debuglink .symtab; do
        if ! grep -qF " $section " <<<"$sections"; then
            echo "check-deploy: $name lost $section in scripts/split-debuginfo.sh" >&2
            exit 1
        fi
    done
    "$binary" --version >/dev/null
    mib=$(( $(stat -c %s "$binary") >> 20 ))
    if [ "$built" != debug ] && [ "$mib" -gt "$max_mib" ]; then
        echo "check-deploy: the image's $name is $mib MiB, over the $max_mib MiB bound (README.md, Container image)" >&2
        exit 1
    fi
    echo "check-deploy: $built $name: $(( $(stat -c %s "target/$built/$name") >> 20 )) MiB, $mib MiB without debug info"
done
if [ "$built" = debug ]; then
    echo "check-deploy: image binary size NOT checked: no release build in target/pgo/release or target/release (make build-pgo or make build-release, then run this again)"
fi
