# syntax=docker/dockerfile:1
# The ferrotrace binaries, without debug info, in one small image; pick one
# with the command:
#   docker run ferrotrace ferrotrace-collector --kafka-brokers kafka:9092
#   docker run ferrotrace ferrotrace-ingester --es-url http://es:9200
# The binaries are built with profile-guided optimisation by
# scripts/build-pgo.sh, whose cargo build is the Makefile's `build-release`
# recipe (checked by scripts/check-deploy.sh, since there is no Docker engine
# in CI): the ingester built so spends about 10 % less CPU per span. The first
# build takes about half an hour (tansu, then two release builds and a
# training run of a minute); tansu's layer stays cached after.

FROM rust:1.95-bookworm AS build
# librdkafka (bundled by the rdkafka crate) and tansu build with these; the
# training run's script needs python3 and curl.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential perl pkg-config zlib1g-dev libssl-dev python3 curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# tansu, the Kafka broker of the training run, in a layer that does not
# depend on the sources.
COPY scripts/install-tools.sh scripts/
RUN FERROTRACE_CACHE=/opt/ferrotrace-tools scripts/install-tools.sh tansu
COPY Cargo.toml Cargo.lock ./
COPY format format
COPY common common
COPY testkit testkit
COPY collector collector
COPY ingester ingester
COPY loadtest loadtest
COPY e2e e2e
COPY scripts/build-pgo.sh scripts/bench-lib.sh scripts/
RUN scripts/build-pgo.sh
# The release profile keeps debug info (perf, `make bench`); the image does
# not need it: /out/bin gets the binaries without it (the symbol table stays,
# so panics and perf still name functions), /out/debug their symbols.
COPY scripts/split-debuginfo.sh scripts/
RUN scripts/split-debuginfo.sh /out target/pgo/release/ferrotrace-collector target/pgo/release/ferrotrace-ingester target/pgo/release/ferrotrace-loadtest

# The symbols of exactly these binaries, kept out of the image; export them with
#   docker build --target debug-symbols --output type=local,dest=symbols .
FROM scratch AS debug-symbols
COPY --from=build /out/debug/ /

FROM debian:bookworm-slim
# libssl3: librdkafka's Kafka TLS and SCRAM link the system OpenSSL.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates zlib1g libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin ferrotrace
COPY --from=build /out/bin/ferrotrace-collector /out/bin/ferrotrace-ingester /out/bin/ferrotrace-loadtest /usr/local/bin/
USER 10001:10001
# OTLP gRPC/HTTP, Jaeger UDP compact/binary, Jaeger HTTP/gRPC, Zipkin, admin ports.
EXPOSE 4317 4318 6831/udp 6832/udp 14268 14250 9411 5778 14269 14270
CMD ["ferrotrace-collector"]
