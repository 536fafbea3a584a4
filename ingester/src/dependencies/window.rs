//! One partition's live dependency counts: the pairing window, and the
//! consistent cuts written to Elasticsearch.
//!
//! Spans arrive (once their batch is stored) grouped by trace and by the UTC
//! day of their start time, which is the day of the span index the daily job
//! reads, so a trace crossing midnight is split exactly as the job splits
//! it. A trace is finished when no span of it arrived for `trace_wait`, or,
//! when more than `max_spans` spans wait, oldest first (an overflow: its
//! links are counted from the spans it had). A finished trace's links are
//! held under its last message's offset.
//!
//! The cut `W` is the highest offset such that every message up to it is
//! stored and every trace whose last message is at or below it is finished.
//! A day's document holds exactly the links of the traces whose last offset
//! is at most its `through` offset, and every flush moves the held links up
//! to the new cut into their day. So after a crash or a rebalance the
//! partition's next owner loads the document, and of the messages it reads
//! again (from the committed offset, at most `W + 1`), the traces ending at
//! or below `through` are left out: nothing is counted twice.

use ferrotrace_format::civil_date::MICROS_PER_DAY;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::links::{add_links, count_trace, LinkSpan, Links};

/// How long spans wait and how many.
#[derive(Debug, Clone, Copy)]
pub struct WindowOptions {
    /// Spans held over all pending traces of the partition.
    pub max_spans: usize,
    /// A trace with no new span for this long is finished.
    pub trace_wait: Duration,
}

/// (trace ID, UTC day).
type TraceKey = ([u8; 16], i64);

struct PendingTrace {
    spans: Vec<LinkSpan>,
    last_offset: i64,
    touched: Instant,
}

/// What the Elasticsearch document of one (partition, day) held when read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredDay {
    pub links: Links,
    /// Traces ending at or below this offset are counted in `links`.
    pub through: i64,
    pub version: Option<Version>,
}

/// Where a stored document is and which version of it was read or written:
/// a rewrite is conditional on it (`if_seq_no`, `if_primary_term`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub index: String,
    pub seq_no: u64,
    pub primary_term: u64,
}

/// A document to write: the day's whole counts.
#[derive(Debug, Clone, PartialEq)]
pub struct DayDoc {
    pub day: i64,
    pub links: Links,
    pub through: i64,
    /// None: the document did not exist (create it).
    pub version: Option<Version>,
}

#[derive(Debug)]
struct Day {
    links: Links,
    /// The offset the loaded document had counted through: held links at
    /// or below it were counted before (a replay).
    counted_through: i64,
    version: Option<Version>,
    dirty: bool,
}

/// The live state of one partition.
pub struct PartitionWindow {
    options: WindowOptions,
    traces: HashMap<TraceKey, PendingTrace>,
    /// Traces by last touch, oldest first; an entry whose time no longer
    /// matches its trace's is stale and skipped.
    order: VecDeque<(Instant, TraceKey)>,
    spans: usize,
    /// Links of finished traces by (last offset, day), not yet cut.
    held: BTreeMap<i64, BTreeMap<i64, Links>>,
    /// Days whose document has been read.
    days: BTreeMap<i64, Day>,
    /// The next offset after the contiguous stored prefix.
    stored_next: Option<i64>,
}

impl PartitionWindow {
    pub fn new(options: WindowOptions) -> Self {
        Self {
            options,
            traces: HashMap::new(),
            order: VecDeque::new(),
            spans: 0,
            held: BTreeMap::new(),
            days: BTreeMap::new(),
            stored_next: None,
        }
    }

    /// The spans of one stored message; returns how many traces were
    /// finished early because the window was full.
    pub fn add(&mut self, offset: i64, spans: Vec<([u8; 16], LinkSpan)>, now: Instant) -> u64 {
        let mut overflows = 0;
        for (trace_id, span) in spans {
            let key = (trace_id, (span.start_time / MICROS_PER_DAY) as i64);
            if !self.traces.contains_key(&key) {
                while self.spans >= self.options.max_spans.max(1) {
                    let Some(oldest) = self.oldest() else { break };
                    self.finish(oldest);
                    overflows += 1;
                }
            }
            let trace = self.traces.entry(key).or_insert_with(|| PendingTrace {
                spans: Vec::new(),
                last_offset: offset,
                touched: now,
            });
            trace.spans.push(span);
            trace.last_offset = trace.last_offset.max(offset);
            if trace.touched != now || trace.spans.len() == 1 {
                trace.touched = now;
                self.order.push_back((now, key));
            }
            self.spans += 1;
        }
        overflows
    }

    /// Every message before `next` is stored.
    pub fn stored_through(&mut self, next: i64) {
        self.stored_next = Some(self.stored_next.map_or(next, |n| n.max(next)));
    }

    /// Finishes the traces idle for `trace_wait`.
    pub fn expire(&mut self, now: Instant) {
        while let Some(&(touched, key)) = self.order.front() {
            if now.saturating_duration_since(touched) < self.options.trace_wait {
                break;
            }
            self.order.pop_front();
            if self.traces.get(&key).is_some_and(|t| t.touched == touched) {
                self.finish(key);
            }
        }
    }

    /// Spans waiting in the window.
    pub fn waiting_spans(&self) -> usize {
        self.spans
    }

    /// The cut: the highest offset through which everything is counted or
    /// held; -1 before any message is stored.
    pub fn cut(&self) -> i64 {
        let stored = self.stored_next.map_or(-1, |n| n - 1);
        let pending = self.traces.values().map(|t| t.last_offset - 1).min();
        pending.map_or(stored, |p| p.min(stored))
    }

    /// Days the next [`Self::take_docs`] writes whose document must be read first.
    pub fn days_to_load(&self) -> Vec<i64> {
        let cut = self.cut();
        let mut days: Vec<i64> = self
            .held
            .range(..=cut)
            .flat_map(|(_, by_day)| by_day.keys().copied())
            .filter(|day| !self.days.contains_key(day))
            .collect();
        days.sort_unstable();
        days.dedup();
        days
    }

    /// The document of `day` as read (None: there is none).
    pub fn loaded(&mut self, day: i64, stored: Option<StoredDay>) {
        let stored = stored.unwrap_or(StoredDay {
            through: -1,
            ..StoredDay::default()
        });
        self.days.insert(
            day,
            Day {
                links: stored.links,
                counted_through: stored.through,
                version: stored.version,
                dirty: false,
            },
        );
    }

    /// Moves the held links up to the cut into their days and returns the
    /// documents of the days that changed, each with its whole counts.
    /// Links of a day not loaded yet stay held.
    pub fn take_docs(&mut self) -> Vec<DayDoc> {
        let cut = self.cut();
        let offsets: Vec<i64> = self.held.range(..=cut).map(|(&o, _)| o).collect();
        for offset in offsets {
            let Some(by_day) = self.held.get_mut(&offset) else {
                continue;
            };
            by_day.retain(|day, links| {
                let Some(state) = self.days.get_mut(day) else {
                    return true;
                };
                if offset > state.counted_through {
                    add_links(&mut state.links, links);
                    state.dirty = true;
                }
                false
            });
            if by_day.is_empty() {
                self.held.remove(&offset);
            }
        }
        self.days
            .iter_mut()
            .filter(|(_, state)| state.dirty)
            .map(|(&day, state)| {
                state.dirty = false;
                DayDoc {
                    day,
                    links: state.links.clone(),
                    through: cut,
                    version: state.version.clone(),
                }
            })
            .collect()
    }

    /// `doc` was written and now has `version`.
    pub fn written(&mut self, day: i64, version: Version) {
        if let Some(state) = self.days.get_mut(&day) {
            state.version = Some(version);
        }
    }

    /// Writing `day` failed: it is written again at the next flush.
    pub fn unwritten(&mut self, day: i64) {
        if let Some(state) = self.days.get_mut(&day) {
            state.dirty = true;
        }
    }

    /// Finishes every pending trace (at shutdown, when the partition's
    /// stored offsets are committed and nobody reads its messages again).
    pub fn finish_all(&mut self) {
        let keys: Vec<TraceKey> = self.traces.keys().copied().collect();
        for key in keys {
            self.finish(key);
        }
        self.order.clear();
    }

    /// The document of `day` changed under us (another owner, or the daily
    /// job): what we counted for it is dropped and the document read again.
    pub fn conflict(&mut self, day: i64) {
        self.days.remove(&day);
    }

    /// Forgets days before `oldest` with nothing left to write: a late span
    /// of such a day reads its document again.
    pub fn retire_days_before(&mut self, oldest: i64) {
        self.days.retain(|&day, state| day >= oldest || state.dirty);
    }

    fn oldest(&mut self) -> Option<TraceKey> {
        while let Some((touched, key)) = self.order.pop_front() {
            if self.traces.get(&key).is_some_and(|t| t.touched == touched) {
                return Some(key);
            }
        }
        None
    }

    fn finish(&mut self, key: TraceKey) {
        let Some(trace) = self.traces.remove(&key) else {
            return;
        };
        self.spans -= trace.spans.len();
        let mut links = Links::new();
        count_trace(&mut links, &trace.spans);
        if links.is_empty() {
            return;
        }
        let held = self
            .held
            .entry(trace.last_offset)
            .or_default()
            .entry(key.1)
            .or_default();
        add_links(held, &links);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 20_000;

    fn span(id: &str, service: &str, parent: Option<&str>) -> LinkSpan {
        LinkSpan {
            span_id: id.into(),
            service: service.into(),
            kind: None,
            refs: parent.iter().map(|p| p.to_string()).collect(),
            peer_service: None,
            start_time: DAY as u64 * MICROS_PER_DAY + 1_000,
        }
    }

    fn trace(n: u8) -> [u8; 16] {
        [n; 16]
    }

    fn window(max_spans: usize) -> PartitionWindow {
        PartitionWindow::new(WindowOptions {
            max_spans,
            trace_wait: Duration::from_secs(10),
        })
    }

    fn links(pairs: &[(&str, &str, u64)]) -> Links {
        pairs
            .iter()
            .map(|(p, c, n)| ((p.to_string(), c.to_string()), *n))
            .collect()
    }

    /// Loads every day asked for from `stored` (or as absent) and takes the docs.
    fn flush(w: &mut PartitionWindow, stored: Option<StoredDay>) -> Vec<DayDoc> {
        for day in w.days_to_load() {
            w.loaded(day, stored.clone());
        }
        w.take_docs()
    }

    #[test]
    fn a_trace_split_over_messages_is_counted_once_it_is_idle() {
        let mut w = window(100);
        let t0 = Instant::now();
        w.add(0, vec![(trace(1), span("a", "web", None))], t0);
        w.add(1, vec![(trace(1), span("b", "api", Some("a")))], t0);
        w.stored_through(2);
        assert_eq!(
            w.cut(),
            0,
            "the pending trace holds the cut below its last message"
        );
        assert!(flush(&mut w, None).is_empty());
        w.expire(t0 + Duration::from_secs(9));
        assert_eq!(w.waiting_spans(), 2, "not idle long enough");
        w.expire(t0 + Duration::from_secs(10));
        assert_eq!(w.waiting_spans(), 0);
        assert_eq!(w.cut(), 1);
        let docs = flush(&mut w, None);
        assert_eq!(
            docs,
            [DayDoc {
                day: DAY,
                links: links(&[("web", "api", 1)]),
                through: 1,
                version: None
            }]
        );
        assert!(w.take_docs().is_empty(), "nothing changed since");
    }

    #[test]
    fn the_cut_stays_below_messages_not_yet_stored() {
        let mut w = window(100);
        let t0 = Instant::now();
        // Offset 5 is stored before 4 (bulks finish out of order).
        w.add(5, vec![(trace(1), span("b", "api", Some("a")))], t0);
        w.add(3, vec![(trace(1), span("a", "web", None))], t0);
        w.stored_through(4);
        w.expire(t0 + Duration::from_secs(60));
        assert_eq!(w.cut(), 3, "offset 4 is not stored yet");
        assert!(flush(&mut w, None).is_empty(), "the trace ends at 5 > 3");
        w.stored_through(6);
        assert_eq!(flush(&mut w, None)[0].links, links(&[("web", "api", 1)]));
    }

    #[test]
    fn a_replay_does_not_count_traces_the_document_already_holds() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(60);
        let messages: Vec<(i64, [u8; 16], LinkSpan)> = vec![
            (0, trace(1), span("a", "web", None)),
            (1, trace(1), span("b", "api", Some("a"))),
            (2, trace(2), span("c", "web", None)),
            (3, trace(2), span("d", "db", Some("c"))),
            (4, trace(3), span("e", "api", None)),
            (5, trace(3), span("f", "db", Some("e"))),
        ];
        // The first owner counts offsets 0..=3 and writes them, then dies
        // before its commit: the next owner reads from offset 2 again.
        let mut first = window(100);
        for (offset, t, s) in &messages[..4] {
            first.add(*offset, vec![(*t, s.clone())], t0);
        }
        first.stored_through(4);
        first.expire(later);
        let written = flush(&mut first, None).remove(0);
        assert_eq!(written.through, 3);
        let stored = StoredDay {
            links: written.links,
            through: written.through,
            version: None,
        };
        let mut next = window(100);
        for (offset, t, s) in &messages[2..] {
            next.add(*offset, vec![(*t, s.clone())], t0);
        }
        next.stored_through(6);
        next.expire(later);
        let docs = flush(&mut next, Some(stored));
        // A single owner reading everything once counts the same.
        let mut once = window(100);
        for (offset, t, s) in &messages {
            once.add(*offset, vec![(*t, s.clone())], t0);
        }
        once.stored_through(6);
        once.expire(later);
        let expected = flush(&mut once, None).remove(0).links;
        assert_eq!(
            expected,
            links(&[("web", "api", 1), ("web", "db", 1), ("api", "db", 1)])
        );
        assert_eq!(docs[0].links, expected);
        assert_eq!(docs[0].through, 5);
    }

    #[test]
    fn a_full_window_counts_its_oldest_trace_early() {
        let mut w = window(2);
        let t0 = Instant::now();
        w.add(0, vec![(trace(1), span("a", "web", None))], t0);
        w.add(1, vec![(trace(1), span("b", "api", Some("a")))], t0);
        let overflows = w.add(2, vec![(trace(2), span("c", "web", None))], t0);
        assert_eq!(overflows, 1);
        assert_eq!(w.waiting_spans(), 1);
        w.stored_through(3);
        assert_eq!(flush(&mut w, None)[0].links, links(&[("web", "api", 1)]));
        // A span of a trace already waiting does not evict.
        assert_eq!(
            w.add(3, vec![(trace(2), span("d", "db", Some("c")))], t0),
            0
        );
    }

    #[test]
    fn a_trace_crossing_midnight_counts_in_each_day_as_the_job_reads_it() {
        let mut w = window(100);
        let t0 = Instant::now();
        let mut late = span("b", "api", Some("a"));
        late.start_time += MICROS_PER_DAY;
        let mut late_child = span("c", "db", Some("b"));
        late_child.start_time += MICROS_PER_DAY;
        w.add(
            0,
            vec![
                (trace(1), span("a", "web", None)),
                (trace(1), late),
                (trace(1), late_child),
            ],
            t0,
        );
        w.stored_through(1);
        w.expire(t0 + Duration::from_secs(60));
        let docs = flush(&mut w, None);
        // The job reads day D without "b" and day D+1 without "a".
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].day, DAY + 1);
        assert_eq!(docs[0].links, links(&[("api", "db", 1)]));
    }

    #[test]
    fn counts_wait_for_their_day_to_be_read_and_a_conflict_reads_it_again() {
        let mut w = window(100);
        let t0 = Instant::now();
        w.add(0, vec![(trace(1), span("a", "web", None))], t0);
        w.add(0, vec![(trace(1), span("b", "api", Some("a")))], t0);
        w.stored_through(1);
        w.expire(t0 + Duration::from_secs(60));
        assert_eq!(w.days_to_load(), [DAY]);
        assert!(w.take_docs().is_empty(), "not read yet: held");
        let version = Version {
            index: "i".into(),
            seq_no: 7,
            primary_term: 1,
        };
        w.loaded(
            DAY,
            Some(StoredDay {
                links: links(&[("web", "api", 4)]),
                through: -1,
                version: Some(version.clone()),
            }),
        );
        let docs = w.take_docs();
        assert_eq!(
            docs[0].links,
            links(&[("web", "api", 5)]),
            "added to what was stored"
        );
        assert_eq!(docs[0].version, Some(version));
        w.conflict(DAY);
        w.add(1, vec![(trace(2), span("c", "web", None))], t0);
        w.add(1, vec![(trace(2), span("d", "api", Some("c")))], t0);
        w.stored_through(2);
        w.expire(t0 + Duration::from_secs(120));
        assert_eq!(w.days_to_load(), [DAY], "read again after the conflict");
    }
}
