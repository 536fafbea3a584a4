//! Files the collector re-reads while it runs (the receivers' TLS
//! certificates, the bearer tokens), so a rotated Kubernetes Secret takes
//! effect without a restart.
//!
//! [`Reloading`] polls its files every `--reload-interval` and builds a new
//! value only when their bytes changed. A value that fails to build, or
//! files that cannot be read, keep the previous value in service; each
//! distinct failure is logged and counted once, not once per poll. Readers
//! take the current value as an `Arc`, so a reload never disturbs a
//! connection or request that already holds the old one.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// A value built from the contents of some files.
pub trait Reloadable: Sized + Send + Sync + 'static {
    type Error: std::error::Error + Send + Sync + 'static;
    /// What is reloaded, for log lines.
    const WHAT: &'static str;
    /// The counter of reloads, by `result` (`ok`, `failed`).
    const RELOADS: &'static str;

    fn read_error(path: &Path, source: io::Error) -> Self::Error;
    /// Builds the value from `contents`, one entry per path, in order.
    fn build(paths: &[PathBuf], contents: &[Vec<u8>]) -> Result<Self, Self::Error>;
}

/// The current value of `T` and the files it is rebuilt from.
pub struct Reloading<T> {
    paths: Vec<PathBuf>,
    /// The files' contents at the last look, usable or not.
    seen: Mutex<Vec<Vec<u8>>>,
    current: RwLock<Arc<T>>,
}

impl<T: Reloadable> Reloading<T> {
    /// Reads the files and builds the value; an error here should stop the collector.
    pub fn load(paths: Vec<PathBuf>) -> Result<Self, T::Error> {
        let contents = read_all::<T>(&paths)?;
        let value = T::build(&paths, &contents)?;
        Ok(Self {
            paths,
            seen: Mutex::new(contents),
            current: RwLock::new(Arc::new(value)),
        })
    }

    /// The value in service now.
    pub fn current(&self) -> Arc<T> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Rebuilds the value when any file's contents changed since the last
    /// look: `Ok(true)` when reloaded, `Ok(false)` when unchanged (or when the
    /// change was already found unusable), `Err` when the new contents are
    /// unusable (the previous value stays in service).
    pub fn reload_if_changed(&self) -> Result<bool, T::Error> {
        let contents = read_all::<T>(&self.paths)?;
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if *seen == contents {
                return Ok(false);
            }
            *seen = contents.clone();
        }
        let value = T::build(&self.paths, &contents)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(value);
        Ok(true)
    }

    /// Polls the files every `interval` until `shutdown`, counting reloads.
    pub async fn watch(self: Arc<Self>, interval: Duration, shutdown: CancellationToken) {
        // A file missing mid-rotation is common: say each failure once until it changes.
        let mut last_error: Option<String> = None;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
            match self.reload_if_changed() {
                Ok(reloaded) => {
                    last_error = None;
                    if reloaded {
                        metrics::counter!(T::RELOADS, "result" => "ok").increment(1);
                        tracing::info!(path = %self.paths[0].display(), "{} reloaded", T::WHAT);
                    }
                }
                Err(error) => {
                    let error = error.to_string();
                    if last_error.as_ref() != Some(&error) {
                        metrics::counter!(T::RELOADS, "result" => "failed").increment(1);
                        tracing::error!(%error, "{} files unusable, keeping the previous ones", T::WHAT);
                    }
                    last_error = Some(error);
                }
            }
        }
    }
}

fn read_all<T: Reloadable>(paths: &[PathBuf]) -> Result<Vec<Vec<u8>>, T::Error> {
    paths
        .iter()
        .map(|path| std::fs::read(path).map_err(|source| T::read_error(path, source)))
        .collect()
}
