//! Real test servers for integration tests: a tansu Kafka broker, an
//! osmem OpenSearch-compatible server and a Prometheus, each started on a
//! free loopback port and stopped when its handle is dropped; a TCP proxy a
//! test can cut, and a TLS-terminating, authenticating proxy with its
//! throwaway PKI.
//!
//! The binaries come from `.tools/bin/` (installed by `scripts/install-tools.sh`,
//! which `make test` runs) or from `FERROTRACE_TANSU_BIN` / `FERROTRACE_OSMEM_BIN`
//! / `FERROTRACE_PROMETHEUS_BIN`.
//! A missing binary is an error that says how to install it: integration
//! tests never skip silently.

mod kafka;
mod metrics;
mod opensearch;
mod process;
mod prometheus;
mod proxy;
mod temp_dir;
mod tls_proxy;

pub use kafka::{create_topic, Tansu};
pub use metrics::{parse_metrics, sample, scrape_metrics};
pub use opensearch::Osmem;
pub use process::{free_port, tool_path, unique_name, usage_error, wait_until};
pub use prometheus::{PromSeries, Prometheus};
pub use proxy::TcpProxy;
pub use temp_dir::TempDir;
pub use tls_proxy::{ProxyAuth, TestPki, TlsProxy, TlsProxyOptions};
