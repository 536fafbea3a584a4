//! The live path: the consume loop hands over the spans of every stored
//! batch, and a task writes each partition's counts every
//! `--dependencies-flush-interval` (see [`super::window`] for what a
//! document holds and why a replay never counts twice, and
//! [`super::store`] for how it is written).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use ferrotrace_format::jaeger::ids;
use ferrotrace_format::otlp::span_view::SpanView;

use super::links::LinkSpan;
use super::store::{self, Target, Written};
use super::window::{PartitionWindow, WindowOptions};
use crate::es::bulk::MessageRef;
use crate::es::client::EsClient;
use crate::metrics as m;

/// How often idle traces are finished.
const EXPIRE_INTERVAL: Duration = Duration::from_secs(1);
/// Days before today (UTC) kept in memory once written.
const DAYS_KEPT: i64 = 1;

/// What the live path needs to know.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub window: WindowOptions,
    pub flush_interval: Duration,
    pub topic: String,
    pub target: Target,
}

/// A span and its trace ID.
pub type TraceSpan = ([u8; 16], LinkSpan);

/// The spans of the messages of the batch being built, by message.
#[derive(Debug, Default)]
pub struct BatchSpans {
    messages: Vec<(MessageRef, Vec<TraceSpan>)>,
}

impl BatchSpans {
    /// The spans gathered so far.
    pub fn take(&mut self) -> BatchSpans {
        std::mem::take(self)
    }

    /// The spans of one message whose documents went into the batch, each
    /// reduced by [`link_span`] from the walk that wrote them.
    pub fn push(&mut self, reference: MessageRef, spans: Vec<TraceSpan>) {
        self.messages.push((reference, spans));
    }
}

/// What the links need of a span, with its trace ID; `None` for a span the
/// writer does not store (malformed IDs), which the index, and so the daily
/// job, never sees.
pub fn link_span(view: &SpanView<'_>) -> Option<TraceSpan> {
    let trace_id = writable_trace_id(
        view.trace_id(),
        view.span_id(),
        view.parent_span_id(),
        view.links(),
    )?;
    Some((trace_id, LinkSpan::from_view(view)))
}

/// The trace ID of a span the writer stores; None for one it skips for an
/// ID of an impossible length (the writer's own checks), which the index,
/// and so the daily job, never sees.
fn writable_trace_id<'a>(
    trace_id: &[u8],
    span_id: &[u8],
    parent_id: &[u8],
    mut links: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) -> Option<[u8; 16]> {
    let trace = ids::trace_id_from_wire(trace_id)?;
    ids::span_id_from_wire(span_id)?;
    ids::span_id_from_wire(parent_id)?;
    links
        .all(|(t, s)| ids::trace_id_from_wire(t).is_some() && ids::span_id_from_wire(s).is_some())
        .then_some(trace)
}

/// One partition's window and the assignment it belongs to.
struct Owned {
    epoch: u64,
    window: PartitionWindow,
}

/// The live counts of the partitions assigned here; cheap to clone.
#[derive(Clone)]
pub struct LiveLinks {
    options: Arc<LiveOptions>,
    partitions: Arc<Mutex<HashMap<i32, Owned>>>,
    /// One flush at a time: the last one (at shutdown) must not race the
    /// periodic one into a conflict with itself.
    flushing: Arc<tokio::sync::Mutex<()>>,
}

impl LiveLinks {
    pub fn new(options: LiveOptions) -> Self {
        Self {
            options: Arc::new(options),
            partitions: Arc::default(),
            flushing: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<i32, Owned>> {
        self.partitions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `partition` was assigned (again) under `epoch`: it starts afresh, and
    /// its documents are read before anything is written.
    pub fn assign(&self, partition: i32, epoch: u64) {
        let window = PartitionWindow::new(self.options.window);
        self.lock().insert(partition, Owned { epoch, window });
    }

    /// `partition` went to another ingester, which reads its documents.
    pub fn revoke(&self, partition: i32) {
        self.lock().remove(&partition);
        self.update_waiting();
    }

    /// A batch was stored: its spans enter the windows, and `advanced`
    /// (partition, next offset) moves each partition's stored prefix.
    pub fn stored(&self, batch: BatchSpans, advanced: &[(i32, i64)]) {
        let now = Instant::now();
        let mut overflows = 0;
        {
            let mut partitions = self.lock();
            for (reference, spans) in batch.messages {
                match partitions.get_mut(&reference.partition) {
                    Some(owned) if owned.epoch == reference.epoch => {
                        overflows += owned.window.add(reference.offset, spans, now);
                    }
                    _ => {}
                }
            }
            for &(partition, next) in advanced {
                if let Some(owned) = partitions.get_mut(&partition) {
                    owned.window.stored_through(next);
                }
            }
        }
        if overflows > 0 {
            metrics::counter!(m::DEPENDENCIES_WINDOW_OVERFLOWS).increment(overflows);
        }
    }

    fn update_waiting(&self) {
        let waiting: usize = self.lock().values().map(|o| o.window.waiting_spans()).sum();
        metrics::gauge!(m::DEPENDENCIES_WAITING_SPANS).set(waiting as f64);
    }

    /// Finishes idle traces every second and writes every flush interval
    /// until `shutdown`.
    pub async fn run(self, es: EsClient, shutdown: CancellationToken) {
        let mut expire = tokio::time::interval(EXPIRE_INTERVAL);
        let mut flush = tokio::time::interval(self.options.flush_interval);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        flush.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = expire.tick() => self.finish_idle(Instant::now()),
                _ = flush.tick() => self.flush(&es).await,
            }
        }
    }

    /// Counts the traces idle for `--dependencies-trace-wait` at `now`.
    pub fn finish_idle(&self, now: Instant) {
        for owned in self.lock().values_mut() {
            owned.window.expire(now);
        }
        self.update_waiting();
    }

    /// At shutdown, after the last bulk: every pending trace is finished and
    /// everything is written, so the offsets committed are all counted.
    pub async fn close(&self, es: &EsClient) {
        for owned in self.lock().values_mut() {
            owned.window.finish_all();
        }
        self.flush(es).await;
    }

    /// Writes the documents of every partition that changed.
    pub async fn flush(&self, es: &EsClient) {
        let _one_at_a_time = self.flushing.lock().await;
        let partitions: Vec<(i32, u64)> = self.lock().iter().map(|(&p, o)| (p, o.epoch)).collect();
        for (partition, epoch) in partitions {
            if let Err(error) = self.flush_partition(es, partition, epoch).await {
                tracing::warn!(%error, partition, "writing live dependencies failed; retried at the next flush");
            }
        }
        let today = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            / 86_400) as i64;
        for owned in self.lock().values_mut() {
            owned.window.retire_days_before(today - DAYS_KEPT);
        }
    }

    /// Runs `f` on the window of `partition` if it is still the assignment `epoch`.
    fn with<T>(
        &self,
        partition: i32,
        epoch: u64,
        f: impl FnOnce(&mut PartitionWindow) -> T,
    ) -> Option<T> {
        let mut partitions = self.lock();
        let owned = partitions
            .get_mut(&partition)
            .filter(|o| o.epoch == epoch)?;
        Some(f(&mut owned.window))
    }

    async fn flush_partition(
        &self,
        es: &EsClient,
        partition: i32,
        epoch: u64,
    ) -> Result<(), crate::es::admin::AdminError> {
        let (target, topic) = (&self.options.target, self.options.topic.as_str());
        let Some(days) = self.with(partition, epoch, |w| w.days_to_load()) else {
            return Ok(());
        };
        for day in days {
            let stored = store::read_live(es, target, topic, partition, day).await?;
            if self
                .with(partition, epoch, |w| w.loaded(day, stored))
                .is_none()
            {
                return Ok(());
            }
        }
        let Some(docs) = self.with(partition, epoch, |w| w.take_docs()) else {
            return Ok(());
        };
        let mut docs = docs.into_iter();
        while let Some(doc) = docs.next() {
            let day = doc.day;
            match store::write_live(es, target, topic, partition, &doc).await {
                Ok(Written::Ok(version)) => {
                    metrics::counter!(m::DEPENDENCIES_WRITES, "result" => "ok").increment(1);
                    metrics::counter!(m::DEPENDENCIES_LINKS_WRITTEN)
                        .increment(doc.links.len() as u64);
                    self.with(partition, epoch, |w| w.written(day, version));
                }
                Ok(Written::Conflict) => {
                    metrics::counter!(m::DEPENDENCIES_WRITES, "result" => "conflict").increment(1);
                    tracing::info!(partition, day = %store::date_text(day), "live dependencies changed elsewhere; reading them again");
                    self.with(partition, epoch, |w| w.conflict(day));
                }
                Err(error) => {
                    metrics::counter!(m::DEPENDENCIES_WRITES, "result" => "error").increment(1);
                    self.with(partition, epoch, |w| {
                        w.unwritten(day);
                        docs.for_each(|rest| w.unwritten(rest.day));
                    });
                    return Err(error);
                }
            }
        }
        Ok(())
    }
}
