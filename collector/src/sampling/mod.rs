//! Sampling strategies for Jaeger remote samplers (jaeger-client, the
//! OpenTelemetry `jaegerremote` samplers, jaeger-agent), served over HTTP
//! ([`http`]: :5778 and the Jaeger HTTP receiver's `/api/sampling`) and gRPC
//! ([`grpc`]: `SamplingManager` on the Jaeger gRPC receiver).
//!
//! [`SamplingStrategies`] answers which strategy a service gets, in this
//! order: the strategies file's entry for the service ([`file`](mod@file),
//! `--sampling-strategies-file`, reloaded when it changes), then the
//! adaptive strategy computed for the service ([`SamplingStrategies::set_adaptive`]),
//! then the file's default strategy, or Jaeger's default (probabilistic
//! 0.001) when there is no file. An unknown service gets the default, as
//! Jaeger answers.

pub mod adaptive;
pub mod file;
pub mod grpc;
pub mod http;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ferrotrace_format::jaeger::sampling::{SamplingStrategyResponse, DEFAULT_SAMPLING_PROBABILITY};
use tokio_util::sync::CancellationToken;

use crate::receivers::reload::Reloading;
pub use file::{FileStrategies, StrategiesError};

/// The strategies in service; cheap to clone, every clone sees updates.
#[derive(Clone)]
pub struct SamplingStrategies {
    inner: Arc<Inner>,
}

struct Inner {
    file: Option<Arc<Reloading<FileStrategies>>>,
    /// The default when there is no file.
    fallback: SamplingStrategyResponse,
    adaptive: RwLock<Arc<HashMap<String, SamplingStrategyResponse>>>,
}

impl SamplingStrategies {
    /// Loads the strategies file, if any; an error here should stop the collector.
    pub fn load(file: Option<PathBuf>) -> Result<Self, StrategiesError> {
        let file = match file {
            Some(path) => Some(Arc::new(Reloading::load(vec![path])?)),
            None => None,
        };
        Ok(Self::with_file(file))
    }

    /// No strategies file: every service gets Jaeger's default unless an
    /// adaptive strategy is set for it.
    pub fn without_file() -> Self {
        Self::with_file(None)
    }

    fn with_file(file: Option<Arc<Reloading<FileStrategies>>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                file,
                fallback: SamplingStrategyResponse::probabilistic(DEFAULT_SAMPLING_PROBABILITY),
                adaptive: RwLock::new(Arc::new(HashMap::new())),
            }),
        }
    }

    /// The strategy `service` gets now.
    pub fn strategy(&self, service: &str) -> SamplingStrategyResponse {
        let file = self.inner.file.as_ref().map(|file| file.current());
        if let Some(explicit) = file.as_ref().and_then(|file| file.service(service)) {
            return explicit.clone();
        }
        if let Some(adaptive) = self.adaptive().get(service) {
            return adaptive.clone();
        }
        match &file {
            Some(file) => file.default_strategy().clone(),
            None => self.inner.fallback.clone(),
        }
    }

    /// Replaces the adaptive strategies, by service name.
    pub fn set_adaptive(&self, by_service: HashMap<String, SamplingStrategyResponse>) {
        *self
            .inner
            .adaptive
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(by_service);
    }

    fn adaptive(&self) -> Arc<HashMap<String, SamplingStrategyResponse>> {
        self.inner
            .adaptive
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Re-reads the strategies file every `interval` until `shutdown`
    /// (returns at once without a file). A changed file that does not
    /// parse keeps the previous strategies in service; the failure is
    /// logged and counted.
    pub async fn watch(self, interval: Duration, shutdown: CancellationToken) {
        if let Some(file) = &self.inner.file {
            file.clone().watch(interval, shutdown).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use ferrotrace_testkit::TempDir;

    const NAME: &str = "strategies.json";

    #[test]
    fn without_a_file_every_service_gets_jaegers_default() {
        let strategies = SamplingStrategies::without_file();
        assert_eq!(
            strategies.strategy("any"),
            SamplingStrategyResponse::probabilistic(0.001)
        );
    }

    #[test]
    fn file_entries_come_before_adaptive_ones_which_come_before_the_default() {
        let dir = TempDir::new("sampling-order").unwrap();
        let path = dir
            .write(
                NAME,
                r#"{"default_strategy":{"type":"probabilistic","param":0.5},
                "service_strategies":[{"service":"pinned","type":"ratelimiting","param":7}]}"#,
            )
            .unwrap();
        let strategies = SamplingStrategies::load(Some(path)).unwrap();
        let adaptive = SamplingStrategyResponse::probabilistic(0.25);
        strategies.set_adaptive(HashMap::from([
            ("pinned".to_string(), adaptive.clone()),
            ("tuned".to_string(), adaptive.clone()),
        ]));
        let clone = strategies.clone();
        assert_eq!(
            clone.strategy("pinned"),
            SamplingStrategyResponse::rate_limiting(7)
        );
        assert_eq!(clone.strategy("tuned"), adaptive);
        assert_eq!(
            clone.strategy("other"),
            SamplingStrategyResponse::probabilistic(0.5)
        );

        let no_file = SamplingStrategies::without_file();
        no_file.set_adaptive(HashMap::from([("tuned".to_string(), adaptive.clone())]));
        assert_eq!(no_file.strategy("tuned"), adaptive);
        assert_eq!(
            no_file.strategy("other"),
            SamplingStrategyResponse::probabilistic(0.001)
        );
    }

    #[test]
    fn a_changed_file_is_served_and_a_broken_one_keeps_the_last_good() {
        let dir = TempDir::new("sampling-reload").unwrap();
        let path = dir
            .write(
                NAME,
                r#"{"default_strategy":{"type":"probabilistic","param":0.5}}"#,
            )
            .unwrap();
        let file = Arc::new(Reloading::<FileStrategies>::load(vec![path.clone()]).unwrap());
        let strategies = SamplingStrategies::with_file(Some(file.clone()));
        dir.write(
            NAME,
            r#"{"default_strategy":{"type":"probabilistic","param":0.9}}"#,
        )
        .unwrap();
        assert!(file.reload_if_changed().unwrap());
        assert_eq!(
            strategies.strategy("x"),
            SamplingStrategyResponse::probabilistic(0.9)
        );
        dir.write(NAME, r#"{"default_strategy":{"type":"probabilistic""#)
            .unwrap();
        let error = file.reload_if_changed().unwrap_err().to_string();
        assert!(error.contains("strategies.json"), "{error}");
        assert_eq!(
            strategies.strategy("x"),
            SamplingStrategyResponse::probabilistic(0.9)
        );
    }
}
