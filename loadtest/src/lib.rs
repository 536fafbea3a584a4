//! ferrotrace load generator: builds realistic OTLP traces ([`generator`]),
//! converts them to Jaeger and Zipkin formats ([`legacy`]) and sends them to
//! a collector ([`senders`]), over TLS and with a bearer token when asked
//! ([`security`]); a blackhole Elasticsearch for benchmarks
//! ([`es_blackhole`]).

pub mod es_blackhole;
pub mod generator;
pub mod legacy;
pub mod run;
pub mod security;
pub mod senders;
pub mod verify;
