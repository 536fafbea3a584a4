//! One-off jobs of the ingester binary, run as subcommands (typically from a
//! Kubernetes CronJob) with the same Elasticsearch flags as the ingester:
//! [`retention`] deletes daily indices past their age.

pub mod retention;
