# The two commands that matter:
#   make run   - install what is missing, build, start a local cluster (tansu, osmem, collector, ingester)
#   make test  - install what is missing, build, run every unit and integration test
.PHONY: run test tools build build-release build-pgo bench fmt clippy clean-tools

CARGO ?= cargo

tools:
	scripts/install-tools.sh

build:
	$(CARGO) build --workspace --bins

build-release:
	$(CARGO) build --release --locked --workspace --bins

# The same binaries with profile-guided optimisation, trained on the
# reference load through a local pipeline: target/pgo/release (about 10 %
# less CPU per span in the ingester; scripts/build-pgo.sh, BENCHMARKS.md).
build-pgo: tools
	scripts/build-pgo.sh

run: tools build-release
	scripts/run-local.sh

test: tools
	$(CARGO) test --workspace --all-targets --no-fail-fast
	scripts/check-deploy.sh
	scripts/check-k8s.sh

# Criterion benches of the hot paths, then the pipeline benchmark behind
# BENCHMARKS.md's tables (scripts/bench-pipeline.sh; results and the latency
# plot in target/bench-pipeline/), then the collector and the ingester each
# against its floor of ../shared/limits in the same run
# (scripts/bench-collector-floor.sh, scripts/bench-ingester-floor.sh; they say
# how to build those instruments when they are missing).
bench: tools build-release build-pgo
	$(CARGO) bench -p ferrotrace-format --bench hot_paths
	$(CARGO) bench -p ferrotrace-ingester --bench bulk_body
	BUILD=0 scripts/bench-pipeline.sh
	BUILD=0 scripts/bench-collector-floor.sh
	BUILD=0 scripts/bench-ingester-floor.sh

fmt:
	$(CARGO) fmt --all

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Short cargo-fuzz run of every decoder target (nightly; not part of `make test`).
.PHONY: fuzz
FUZZ_SECONDS ?= 30
fuzz:
	scripts/fuzz-smoke.sh $(FUZZ_SECONDS)
