//! One-off jobs of the ingester binary, run as subcommands (typically from a
//! Kubernetes CronJob) with the same Elasticsearch flags as the ingester:
//! [`retention`] deletes daily indices (or, with `--rollover`, numbered
//! rollover indices) past their age; [`rollover`] manages
//! rollover indices and their `-write`/`-read` aliases (init, rollover,
//! lookback) for an ingester run with `--es-use-aliases`; [`dependencies`]
//! counts one day's service links for the Jaeger UI.

pub mod dependencies;
pub mod retention;
pub mod rollover;
