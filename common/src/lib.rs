//! Pieces shared by the ferrotrace binaries: the OTLP wire-level split, the
//! OTLP to Jaeger document translation, telemetry and shutdown helpers, the
//! Elasticsearch scroll reader, and (behind the `testkit` feature) launchers
//! for real test servers.
//!
//! Nothing here has process-level side effects until a binary calls it.

pub mod adaptive_sampling;
pub mod admin;
pub mod config;
pub mod es_scroll;
pub mod jaeger;
#[cfg(feature = "kafka")]
pub mod kafka_client;
pub mod kafka_codec;
#[cfg(feature = "kafka")]
pub mod kafka_security;
pub mod log_limit;
pub mod otlp;
pub mod shutdown;
pub mod telemetry;
pub mod thrift;
pub mod translate;
pub mod zipkin;

#[cfg(feature = "testkit")]
pub mod testkit;
