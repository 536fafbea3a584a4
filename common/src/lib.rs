//! The runtime plumbing the ferrotrace binaries share: the admin server,
//! telemetry, shutdown on a signal, flag parsers, Kafka clients and their
//! TLS/SASL settings, the Elasticsearch scroll reader, and a log limiter.
//! The wire formats are in `ferrotrace-format`.
//!
//! Nothing here has process-level side effects until a binary calls it.

pub mod adaptive_sampling;
#[cfg(feature = "admin")]
pub mod admin;
pub mod config;
pub mod es_scroll;
#[cfg(feature = "kafka")]
pub mod kafka_client;
#[cfg(feature = "kafka")]
pub mod kafka_producer;
#[cfg(feature = "kafka")]
pub mod kafka_security;
pub mod log_limit;
pub mod runtime;
pub mod shutdown;
#[cfg(feature = "admin")]
pub mod telemetry;
