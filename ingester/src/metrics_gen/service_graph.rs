//! Service graph: Tempo's `traces_service_graph_*` metrics, from client and
//! server spans paired in memory.
//!
//! Pairing follows Tempo's metrics-generator: a CLIENT or PRODUCER span waits
//! under (trace ID, its span ID), a SERVER or CONSUMER span under (trace ID,
//! its parent span ID); when the other half arrives, one request is counted
//! for `{client, server, connection_type}`:
//! - `connection_type` is `messaging_system` when the client is a PRODUCER or
//!   the server a CONSUMER, and absent (Tempo's empty value) for a direct call;
//! - a client span with `db.namespace`, `db.name`, `db.system` or
//!   `db.system.name` (resource or span) is a `database` request, counted at
//!   once, the server named after `peer.service`, `server.address`,
//!   `network.peer.address[:network.peer.port]` or the database attribute;
//! - a root SERVER or CONSUMER span is called by a `virtual_node`: its
//!   `peer.service` (or `db.name`, `db.system`, `db.system.name`), else `user`;
//! - a client span with `peer.service` still alone when it expires called a
//!   `virtual_node` of that name (an uninstrumented service).
//!
//! A request failed when either side has status ERROR. Latencies are each
//! side's span duration; the missing side of a virtual node observes 0, as in
//! Tempo.
//!
//! Bounds: at most `max_items` halves wait; when a new one finds the store
//! full (after expired ones are evicted), the half that has waited longest
//! makes room and is counted in
//! `traces_service_graph_dropped_spans_total{client|server}`. A half alone
//! for `wait` expires into `traces_service_graph_unpaired_spans_total`.
//! Node names are interned, and label sets created, only up to the series cap;
//! beyond it requests count under `{metric_overflow="true"}`.

mod waiting;

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrotrace_common::telemetry::LocalHistogram;
use ferrotrace_format::otlp::{span_view, AnyValueView, ResourceId, SpanView};
use foldhash::HashMap;
use metrics::{Counter, Gauge, Histogram, Label};

use super::{duration_seconds, failed, label_value, labels, overflow_labels};
use crate::metrics as m;
use waiting::Waiting;

#[derive(Debug, Clone)]
pub struct ServiceGraphOptions {
    /// Halves waiting for their other half (Tempo's `max_items`).
    pub max_items: usize,
    /// How long a half waits (Tempo's `wait`).
    pub wait: Duration,
    /// Distinct `{client, server, connection_type}` label sets.
    pub max_label_sets: usize,
}

const SPAN_KIND_SERVER: i32 = 2;
const SPAN_KIND_CLIENT: i32 = 3;
const SPAN_KIND_PRODUCER: i32 = 4;
const SPAN_KIND_CONSUMER: i32 = 5;

/// An interned node (service) name.
type NodeId = u32;
/// No node: the label is absent (the missing side of an unpaired span).
const NO_NODE: NodeId = u32::MAX;
/// A name met after the interner was full: counted under the overflow series.
const OVERFLOW_NODE: NodeId = u32::MAX - 1;

/// Node names, stored once each, up to a cap.
struct Nodes {
    ids: HashMap<Arc<str>, NodeId>,
    names: Vec<Arc<str>>,
    max: usize,
}

impl Nodes {
    fn intern(&mut self, name: &str) -> NodeId {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        if self.names.len() >= self.max {
            return OVERFLOW_NODE;
        }
        let id = self.names.len() as NodeId;
        let name: Arc<str> = name.into();
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
    }

    fn name(&self, id: NodeId) -> &str {
        self.names.get(id as usize).map_or("", |n| n)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Connection {
    Direct,
    MessagingSystem,
    Database,
    VirtualNode,
}

impl Connection {
    fn label(self) -> &'static str {
        match self {
            Self::Direct => "",
            Self::MessagingSystem => "messaging_system",
            Self::Database => "database",
            Self::VirtualNode => "virtual_node",
        }
    }

    fn of(messaging: bool) -> Self {
        if messaging {
            Self::MessagingSystem
        } else {
            Self::Direct
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SeriesKey {
    client: NodeId,
    server: NodeId,
    connection: Connection,
}

enum Event {
    Request {
        failed: bool,
        client_seconds: f64,
        server_seconds: f64,
    },
    Unpaired,
    Dropped,
}

/// The series of one label set, each registered on its first sample (as
/// Tempo creates a series on its first sample), and what was counted since
/// the last [`flush`](Self::flush).
#[derive(Default)]
struct EdgeSeries {
    requests: LocalCounter,
    failed: LocalCounter,
    server_seconds: Option<(Histogram, LocalHistogram)>,
    client_seconds: Option<(Histogram, LocalHistogram)>,
    unpaired: LocalCounter,
    dropped: LocalCounter,
}

/// A counter registered on its first count, and its counts since the last flush.
#[derive(Default)]
struct LocalCounter {
    handle: Option<Counter>,
    pending: u64,
}

impl LocalCounter {
    fn add(&mut self, name: &'static str, labels: &dyn Fn() -> Vec<Label>) {
        self.handle
            .get_or_insert_with(|| metrics::counter!(name, labels()));
        self.pending += 1;
    }

    fn flush(&mut self) {
        if let (Some(handle), pending @ 1..) = (&self.handle, self.pending) {
            handle.increment(pending);
            self.pending = 0;
        }
    }
}

fn histogram<'s>(
    slot: &'s mut Option<(Histogram, LocalHistogram)>,
    name: &'static str,
    labels: &dyn Fn() -> Vec<Label>,
) -> &'s mut LocalHistogram {
    let (_, pending) = slot.get_or_insert_with(|| {
        (
            metrics::histogram!(name, labels()),
            LocalHistogram::new(m::SERVICE_GRAPH_BUCKETS),
        )
    });
    pending
}

impl EdgeSeries {
    fn record(&mut self, event: &Event, labels: &dyn Fn() -> Vec<Label>) {
        match *event {
            Event::Request {
                failed,
                client_seconds,
                server_seconds,
            } => {
                self.requests.add(m::SG_REQUESTS, labels);
                if failed {
                    self.failed.add(m::SG_REQUESTS_FAILED, labels);
                }
                histogram(&mut self.server_seconds, m::SG_SERVER_SECONDS, labels)
                    .record(server_seconds);
                histogram(&mut self.client_seconds, m::SG_CLIENT_SECONDS, labels)
                    .record(client_seconds);
            }
            Event::Unpaired => self.unpaired.add(m::SG_UNPAIRED_SPANS, labels),
            Event::Dropped => self.dropped.add(m::SG_DROPPED_SPANS, labels),
        }
    }

    /// Adds what was counted since the last flush to the series.
    fn flush(&mut self) {
        for counter in [
            &mut self.requests,
            &mut self.failed,
            &mut self.unpaired,
            &mut self.dropped,
        ] {
            counter.flush();
        }
        for (handle, pending) in [&mut self.server_seconds, &mut self.client_seconds]
            .into_iter()
            .flatten()
        {
            pending.flush(handle);
        }
    }
}

/// The exported side: node names, label sets and their handles.
struct GraphSeries {
    nodes: Nodes,
    series: HashMap<SeriesKey, EdgeSeries>,
    max_label_sets: usize,
    overflow: EdgeSeries,
    overflowed: Counter,
    label_sets: Gauge,
}

impl GraphSeries {
    fn record(&mut self, key: SeriesKey, event: Event) {
        let overflowing = key.client == OVERFLOW_NODE || key.server == OVERFLOW_NODE;
        let len = self.series.len();
        let edge = match self.series.entry(key) {
            Entry::Occupied(known) => Some(known.into_mut()),
            Entry::Vacant(new) if !overflowing && len < self.max_label_sets => {
                self.label_sets.set((len + 1) as f64);
                Some(new.insert(EdgeSeries::default()))
            }
            Entry::Vacant(_) => None,
        };
        match edge {
            Some(edge) => {
                let nodes = &self.nodes;
                edge.record(&event, &|| {
                    labels(&[
                        ("client", nodes.name(key.client)),
                        ("server", nodes.name(key.server)),
                        ("connection_type", key.connection.label()),
                    ])
                });
            }
            None => {
                self.overflowed.increment(1);
                self.overflow.record(&event, &overflow_labels);
            }
        }
    }
}

/// Where a half waits: a 64-bit hash of (trace ID, span ID) under a seed
/// drawn at start-up. At the default 10,000 waiting halves, two distinct
/// spans meet under one key with a chance of about 5 × 10⁻¹⁶ per half, and
/// would count one request on a wrong edge. A third of the size of the IDs
/// themselves, it keeps the store small enough to stay in cache longer
/// (this is looked up for every client and server span).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct EdgeKey(u64);

struct EdgeKeys(foldhash::quality::RandomState);

impl EdgeKeys {
    /// None for IDs of the wrong length (such spans are not indexed either).
    fn key(&self, trace_id: &[u8], span_id: &[u8]) -> Option<EdgeKey> {
        let trace_id: &[u8; 16] = trace_id.try_into().ok()?;
        let span_id: &[u8; 8] = span_id.try_into().ok()?;
        Some(EdgeKey(self.0.hash_one((trace_id, span_id))))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// A client or server span, as it waits for its other half.
#[derive(Debug, Clone, Copy)]
struct Half {
    side: Side,
    node: NodeId,
    /// A client's `peer.service`, or [`NO_NODE`].
    peer: NodeId,
    seconds: f64,
    failed: bool,
    /// PRODUCER or CONSUMER.
    messaging: bool,
}

pub struct ServiceGraph {
    wait: Duration,
    max_items: usize,
    keys: EdgeKeys,
    waiting: Waiting,
    user: NodeId,
    /// The last resource scanned for peer and database attributes, and
    /// whether it held any: its other spans skip the scan when it held none
    /// (as most resources: these are span attributes).
    last_resource: Option<(ResourceId, bool)>,
    /// The last resource's service node: its other spans need not intern it again.
    last_node: Option<(ResourceId, NodeId)>,
    graph: GraphSeries,
    waiting_gauge: Gauge,
}

impl ServiceGraph {
    pub fn new(options: ServiceGraphOptions) -> Self {
        let mut nodes = Nodes {
            ids: HashMap::default(),
            names: Vec::new(),
            // A node is in at least one label set; one more for `user`.
            max: options.max_label_sets.saturating_add(1),
        };
        let user = nodes.intern("user");
        metrics::gauge!(m::SG_MAX_WAITING).set(options.max_items as f64);
        Self {
            wait: options.wait,
            max_items: options.max_items,
            keys: EdgeKeys(foldhash::quality::RandomState::default()),
            waiting: Waiting::new(),
            user,
            last_resource: None,
            last_node: None,
            graph: GraphSeries {
                nodes,
                series: HashMap::default(),
                max_label_sets: options.max_label_sets,
                overflow: EdgeSeries::default(),
                overflowed: metrics::counter!(m::METRICS_GEN_OVERFLOW, "processor" => "service_graph"),
                label_sets: metrics::gauge!(m::METRICS_GEN_LABEL_SETS, "processor" => "service_graph"),
            },
            waiting_gauge: metrics::gauge!(m::SG_WAITING),
        }
    }

    /// Pairs a client or server span, whose resource's non-empty
    /// `service.name` (already cut to the label length) is `service`.
    pub fn observe(&mut self, service: &str, span: &SpanView<'_>, now: Instant) {
        let kind = span.kind();
        let side = match kind {
            SPAN_KIND_CLIENT | SPAN_KIND_PRODUCER => Side::Client,
            SPAN_KIND_SERVER | SPAN_KIND_CONSUMER => Side::Server,
            _ => return,
        };
        let resource = span.resource_id();
        let node = match self.last_node {
            Some((last, node)) if last == resource => node,
            _ => {
                let node = self.graph.nodes.intern(service);
                self.last_node = Some((resource, node));
                node
            }
        };
        let half = Half {
            side,
            node,
            peer: NO_NODE,
            seconds: duration_seconds(span),
            failed: failed(span),
            messaging: matches!(kind, SPAN_KIND_PRODUCER | SPAN_KIND_CONSUMER),
        };
        match side {
            Side::Client => self.client(span, half, now),
            Side::Server => self.server(span, half, now),
        }
    }

    fn client(&mut self, span: &SpanView<'_>, mut half: Half, now: Instant) {
        let Some(key) = self.keys.key(span.trace_id(), span.span_id()) else {
            return;
        };
        let attributes = Attributes::scan(span.attributes());
        let resource = self.resource_attributes(span);
        if let Some(database) = database_node(&resource, &attributes) {
            // Tempo completes a database call from the client span alone; a
            // server half already waiting under it is merged in.
            let server = self.graph.nodes.intern(label_value(&database));
            let mut failed = half.failed;
            if let Some(other) = self.waiting.take(key) {
                failed |= other.side == Side::Server && other.failed;
            }
            let key = SeriesKey {
                client: half.node,
                server,
                connection: Connection::Database,
            };
            let event = Event::Request {
                failed,
                client_seconds: half.seconds,
                server_seconds: half.seconds,
            };
            self.graph.record(key, event);
            return;
        }
        if let Some(peer) = attributes.peer_service.and_then(text) {
            half.peer = self.graph.nodes.intern(label_value(&peer));
        }
        self.pair_or_wait(key, half, now);
    }

    /// The peer and database attributes of the span's resource.
    fn resource_attributes<'a>(&mut self, span: &SpanView<'a>) -> Attributes<'a> {
        let resource = span.resource_id();
        if self.last_resource == Some((resource, false)) {
            return Attributes::default();
        }
        let found = Attributes::scan(span.resource_attributes());
        self.last_resource = Some((resource, found.any()));
        found
    }

    fn server(&mut self, span: &SpanView<'_>, half: Half, now: Instant) {
        if span.parent_span_id().is_empty() {
            // Nothing can pair with a root span: its caller is a virtual node
            // right away (Tempo counts it the same once it expires).
            let attributes = Attributes::scan(span.attributes());
            let peer = [
                attributes.peer_service,
                attributes.db_name,
                attributes.db_system,
                attributes.db_system_name,
            ]
            .into_iter()
            .find_map(|v| v.and_then(text));
            let client = match peer {
                Some(peer) => self.graph.nodes.intern(label_value(&peer)),
                None => self.user,
            };
            let key = SeriesKey {
                client,
                server: half.node,
                connection: Connection::VirtualNode,
            };
            let event = Event::Request {
                failed: half.failed,
                client_seconds: 0.0,
                server_seconds: half.seconds,
            };
            self.graph.record(key, event);
            return;
        }
        if let Some(key) = self.keys.key(span.trace_id(), span.parent_span_id()) {
            self.pair_or_wait(key, half, now);
        }
    }

    fn pair_or_wait(&mut self, key: EdgeKey, half: Half, now: Instant) {
        let Some(at) = self.waiting.find(key) else {
            return self.wait(key, half, now);
        };
        let waiting = self.waiting.at_mut(at);
        if waiting.side == half.side {
            // The same side again (a message read twice): the latest wins,
            // the deadline stays.
            *waiting = half;
            return;
        }
        let other = self.waiting.take_at(key, at);
        let (client, server) = match half.side {
            Side::Client => (half, other),
            Side::Server => (other, half),
        };
        self.complete(client, server);
    }

    fn complete(&mut self, client: Half, server: Half) {
        let key = SeriesKey {
            client: client.node,
            server: server.node,
            connection: Connection::of(client.messaging || server.messaging),
        };
        let event = Event::Request {
            failed: client.failed || server.failed,
            client_seconds: client.seconds,
            server_seconds: server.seconds,
        };
        self.graph.record(key, event);
    }

    fn wait(&mut self, key: EdgeKey, half: Half, now: Instant) {
        if self.waiting.len() >= self.max_items {
            self.expire_due(now);
        }
        // Nothing to drop for room only in a store of no items.
        if self.waiting.len() >= self.max_items && !self.drop_oldest() {
            self.graph.record(alone(&half), Event::Dropped);
            return;
        }
        self.waiting.push(key, half, now + self.wait);
        // Paired halves leave their slots behind; drop those before the
        // queue outgrows the store, so memory follows max_items, not the rate.
        self.waiting
            .compact_beyond(self.max_items.saturating_mul(2).max(1024));
    }

    /// Makes room in a full store by dropping the half that has waited
    /// longest. Halves that will pair mostly do so within the exporters'
    /// batching delay, while a store that fills up is full of halves that
    /// never pair: keeping the newest halves keeps pairs forming. Dropping
    /// new ones instead would count no request until the old ones expired.
    /// False when no half waits.
    fn drop_oldest(&mut self) -> bool {
        while let Some(slot) = self.waiting.pop_front() {
            if let Some(half) = slot {
                self.graph.record(alone(&half), Event::Dropped);
                return true;
            }
        }
        false
    }

    /// Counts every half whose deadline passed as unpaired (or as a call to
    /// the virtual node its `peer.service` names), and sets the gauge of the
    /// halves still waiting.
    pub fn expire(&mut self, now: Instant) {
        self.expire_due(now);
        self.waiting_gauge.set(self.waiting.len() as f64);
    }

    /// [`expire`](Self::expire) without the gauge: a full store tries it
    /// before every new half.
    fn expire_due(&mut self, now: Instant) {
        while self.waiting.front_deadline().is_some_and(|due| due <= now) {
            let Some(Some(half)) = self.waiting.pop_front() else {
                continue;
            };
            if half.side == Side::Client && half.peer != NO_NODE {
                let key = SeriesKey {
                    client: half.node,
                    server: half.peer,
                    connection: Connection::VirtualNode,
                };
                let event = Event::Request {
                    failed: half.failed,
                    client_seconds: half.seconds,
                    server_seconds: 0.0,
                };
                self.graph.record(key, event);
            } else {
                self.graph.record(alone(&half), Event::Unpaired);
            }
        }
    }

    /// Adds what was counted since the last flush to the series.
    pub fn flush(&mut self) {
        let graph = &mut self.graph;
        graph.series.values_mut().for_each(EdgeSeries::flush);
        graph.overflow.flush();
    }

    /// Halves waiting for their other half.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
}

/// The label set of a half without its other half: only its own side's label.
fn alone(half: &Half) -> SeriesKey {
    let (client, server) = match half.side {
        Side::Client => (half.node, NO_NODE),
        Side::Server => (NO_NODE, half.node),
    };
    SeriesKey {
        client,
        server,
        connection: Connection::of(half.messaging),
    }
}

/// The attributes that name peers and databases, first occurrence of each.
#[derive(Default)]
struct Attributes<'a> {
    peer_service: Option<AnyValueView<'a>>,
    db_namespace: Option<AnyValueView<'a>>,
    db_name: Option<AnyValueView<'a>>,
    db_system: Option<AnyValueView<'a>>,
    db_system_name: Option<AnyValueView<'a>>,
    server_address: Option<AnyValueView<'a>>,
    network_peer_address: Option<AnyValueView<'a>>,
    network_peer_port: Option<AnyValueView<'a>>,
}

impl<'a> Attributes<'a> {
    /// Keys compared as bytes: only the values of the keys looked for are
    /// read (a client span carries tens of other attributes).
    fn scan(attributes: span_view::Attributes<'a>) -> Self {
        let mut found = Self::default();
        for kv in attributes.raw() {
            let slot = match kv.key() {
                b"peer.service" => &mut found.peer_service,
                b"db.namespace" => &mut found.db_namespace,
                b"db.name" => &mut found.db_name,
                b"db.system" => &mut found.db_system,
                b"db.system.name" => &mut found.db_system_name,
                b"server.address" => &mut found.server_address,
                b"network.peer.address" => &mut found.network_peer_address,
                b"network.peer.port" => &mut found.network_peer_port,
                _ => continue,
            };
            if slot.is_none() {
                let value = kv.value();
                if value != AnyValueView::Empty {
                    *slot = Some(value);
                }
            }
        }
        found
    }

    /// Whether any of the attributes was found (the pattern names every
    /// field, so a new one cannot be left out).
    fn any(&self) -> bool {
        !matches!(
            self,
            Self {
                peer_service: None,
                db_namespace: None,
                db_name: None,
                db_system: None,
                db_system_name: None,
                server_address: None,
                network_peer_address: None,
                network_peer_port: None,
            }
        )
    }
}

/// The server node of a database call, or None when the client span is not
/// one. Tempo looks each attribute up in the resource first, then the span.
fn database_node<'a>(resource: &Attributes<'a>, span: &Attributes<'a>) -> Option<Cow<'a, str>> {
    let find = |get: fn(&Attributes<'a>) -> Option<AnyValueView<'a>>| {
        get(resource)
            .and_then(text)
            .or_else(|| get(span).and_then(text))
    };
    let database = [
        (|a: &Attributes<'a>| a.db_namespace) as fn(&Attributes<'a>) -> _,
        |a| a.db_name,
        |a| a.db_system,
        |a| a.db_system_name,
    ]
    .into_iter()
    .find_map(find)?;
    if let Some(name) = find(|a| a.peer_service).or_else(|| find(|a| a.server_address)) {
        return Some(name);
    }
    if let Some(host) = find(|a| a.network_peer_address) {
        return Some(match find(|a| a.network_peer_port) {
            Some(port) => Cow::Owned(format!("{host}:{port}")),
            None => host,
        });
    }
    Some(database)
}

/// An attribute value as a label value (Tempo stringifies scalars); None when empty.
fn text(value: AnyValueView<'_>) -> Option<Cow<'_, str>> {
    let text = match value {
        AnyValueView::Str(s) => Cow::Borrowed(s),
        AnyValueView::Int(i) => Cow::Owned(i.to_string()),
        AnyValueView::Double(d) => Cow::Owned(d.to_string()),
        AnyValueView::Bool(b) => Cow::Owned(b.to_string()),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::trace::v1::Span;
    use std::collections::HashMap as Map;

    const WAIT: Duration = Duration::from_secs(10);

    fn graph(max_items: usize, max_label_sets: usize) -> ServiceGraph {
        ServiceGraph::new(ServiceGraphOptions {
            max_items,
            wait: WAIT,
            max_label_sets,
        })
    }

    fn feed(graph: &mut ServiceGraph, service: &str, spans: Vec<Span>, now: Instant) {
        views(&request(service, spans), |view| {
            graph.observe(service, &view, now)
        });
    }

    /// Runs `body` with a fresh graph under a local recorder; returns what it rendered.
    fn run(
        max_items: usize,
        max_label_sets: usize,
        body: impl FnOnce(&mut ServiceGraph, Instant),
    ) -> Map<String, f64> {
        let recorder = recorder();
        metrics::with_local_recorder(&recorder, || {
            let mut g = graph(max_items, max_label_sets);
            body(&mut g, Instant::now());
            g.flush();
        });
        render(&recorder)
    }

    fn requests(client: &str, server: &str, connection: &str) -> String {
        series(
            "traces_service_graph_request_total",
            client,
            server,
            connection,
        )
    }

    fn series(name: &str, client: &str, server: &str, connection: &str) -> String {
        let mut labels = Vec::new();
        for (k, v) in [
            ("client", client),
            ("server", server),
            ("connection_type", connection),
        ] {
            if !v.is_empty() {
                labels.push(format!(r#"{k}="{v}""#));
            }
        }
        format!("{name}{{{}}}", labels.join(","))
    }

    #[test]
    fn pairs_client_and_server_spans_across_services_in_either_order() {
        let out = run(100, 100, |g, now| {
            // Trace 1: the client span first; trace 2: the server span first.
            feed(
                g,
                "frontend",
                vec![span(1, 2, Some(1), CLIENT, "GET /api", 40)],
                now,
            );
            feed(
                g,
                "backend",
                vec![span(1, 3, Some(2), SERVER, "GET /api", 30)],
                now,
            );
            feed(
                g,
                "backend",
                vec![span(2, 3, Some(2), SERVER, "GET /api", 300)],
                now,
            );
            feed(
                g,
                "frontend",
                vec![span(2, 2, Some(1), CLIENT, "GET /api", 400)],
                now,
            );
            assert_eq!(g.waiting(), 0);
        });
        assert_eq!(
            sample(&out, &requests("frontend", "backend", "")),
            2.0,
            "{out:#?}"
        );
        let count = |name| series(name, "frontend", "backend", "").replace('{', "_count{");
        assert_eq!(
            sample(&out, &count("traces_service_graph_request_client_seconds")),
            2.0
        );
        assert_eq!(
            sample(&out, &count("traces_service_graph_request_server_seconds")),
            2.0
        );
        // Tempo's buckets: 0.1 s doubling to 12.8 s.
        let bucket = |name: &str, le: &str| {
            format!(r#"{name}_bucket{{client="frontend",server="backend",le="{le}"}}"#)
        };
        let server = "traces_service_graph_request_server_seconds";
        let client = "traces_service_graph_request_client_seconds";
        assert_eq!(sample(&out, &bucket(server, "0.1")), 1.0, "{out:#?}");
        assert_eq!(sample(&out, &bucket(server, "0.4")), 2.0);
        assert_eq!(sample(&out, &bucket(client, "0.2")), 1.0);
        assert_eq!(sample(&out, &bucket(client, "0.4")), 2.0, "le is inclusive");
        assert_eq!(sample(&out, &bucket(client, "12.8")), 2.0);
        let sum = r#"traces_service_graph_request_client_seconds_sum{client="frontend",server="backend"}"#;
        assert!((sample(&out, sum) - 0.44).abs() < 1e-9, "{out:#?}");
        assert_eq!(
            sample(
                &out,
                &series(
                    "traces_service_graph_request_failed_total",
                    "frontend",
                    "backend",
                    ""
                )
            ),
            0.0,
            "no failed series without a failure"
        );
    }

    #[test]
    fn producer_and_consumer_pair_as_messaging_system() {
        let out = run(100, 100, |g, now| {
            feed(
                g,
                "orders",
                vec![span(1, 2, Some(1), PRODUCER, "publish", 1)],
                now,
            );
            feed(
                g,
                "billing",
                vec![span(1, 3, Some(2), CONSUMER, "process", 1)],
                now,
            );
        });
        assert_eq!(
            sample(&out, &requests("orders", "billing", "messaging_system")),
            1.0,
            "{out:#?}"
        );
        assert_eq!(sample(&out, &requests("orders", "billing", "")), 0.0);
    }

    #[test]
    fn a_request_failed_when_either_side_is_an_error() {
        let out = run(100, 100, |g, now| {
            feed(
                g,
                "frontend",
                vec![
                    error(span(1, 2, Some(1), CLIENT, "call", 1)),
                    span(2, 2, Some(1), CLIENT, "call", 1),
                    span(3, 2, Some(1), CLIENT, "call", 1),
                ],
                now,
            );
            feed(
                g,
                "backend",
                vec![
                    span(1, 3, Some(2), SERVER, "serve", 1),
                    error(span(2, 3, Some(2), SERVER, "serve", 1)),
                    span(3, 3, Some(2), SERVER, "serve", 1),
                ],
                now,
            );
        });
        assert_eq!(
            sample(&out, &requests("frontend", "backend", "")),
            3.0,
            "{out:#?}"
        );
        let failed = series(
            "traces_service_graph_request_failed_total",
            "frontend",
            "backend",
            "",
        );
        assert_eq!(sample(&out, &failed), 2.0);
    }

    #[test]
    fn halves_alone_past_the_wait_count_as_unpaired() {
        let out = run(100, 100, |g, now| {
            feed(
                g,
                "frontend",
                vec![span(1, 2, Some(1), CLIENT, "call", 1)],
                now,
            );
            feed(
                g,
                "backend",
                vec![span(2, 3, Some(9), SERVER, "serve", 1)],
                now,
            );
            feed(
                g,
                "orders",
                vec![span(3, 2, Some(1), PRODUCER, "publish", 1)],
                now,
            );
            g.expire(now + WAIT - Duration::from_millis(1));
            assert_eq!(g.waiting(), 3, "nothing expires before the wait");
            g.expire(now + WAIT);
            assert_eq!(g.waiting(), 0);
            // A late server half no longer finds its client: unpaired too.
            feed(
                g,
                "backend",
                vec![span(1, 3, Some(2), SERVER, "serve", 1)],
                now + WAIT,
            );
            g.expire(now + WAIT * 2);
        });
        let unpaired = "traces_service_graph_unpaired_spans_total";
        assert_eq!(
            sample(&out, &series(unpaired, "frontend", "", "")),
            1.0,
            "{out:#?}"
        );
        assert_eq!(sample(&out, &series(unpaired, "", "backend", "")), 2.0);
        assert_eq!(
            sample(&out, &series(unpaired, "orders", "", "messaging_system")),
            1.0
        );
        assert!(
            !out.keys()
                .any(|k| k.starts_with("traces_service_graph_request_total")),
            "{out:#?}"
        );
        assert_eq!(
            sample(&out, "ferrotrace_ingester_service_graph_waiting_spans"),
            0.0
        );
    }

    #[test]
    fn an_unpaired_client_with_peer_service_calls_a_virtual_node() {
        let out = run(100, 100, |g, now| {
            let lonely = with_attributes(
                error(span(1, 2, Some(1), CLIENT, "charge", 250)),
                &[("peer.service", "payments")],
            );
            // peer.service on a client that does pair changes nothing.
            let paired = with_attributes(
                span(2, 2, Some(1), CLIENT, "call", 1),
                &[("peer.service", "backend-alias")],
            );
            feed(g, "frontend", vec![lonely, paired], now);
            feed(
                g,
                "backend",
                vec![span(2, 3, Some(2), SERVER, "serve", 1)],
                now,
            );
            g.expire(now + WAIT);
        });
        assert_eq!(
            sample(&out, &requests("frontend", "payments", "virtual_node")),
            1.0,
            "{out:#?}"
        );
        let failed = series(
            "traces_service_graph_request_failed_total",
            "frontend",
            "payments",
            "virtual_node",
        );
        assert_eq!(sample(&out, &failed), 1.0);
        assert_eq!(sample(&out, &requests("frontend", "backend", "")), 1.0);
        assert_eq!(
            sample(&out, &requests("frontend", "backend-alias", "virtual_node")),
            0.0
        );
        assert!(!out
            .keys()
            .any(|k| k.starts_with("traces_service_graph_unpaired")));
    }

    #[test]
    fn a_root_server_span_is_called_by_user_or_its_peer() {
        let out = run(100, 100, |g, now| {
            feed(
                g,
                "frontend",
                vec![
                    span(1, 1, None, SERVER, "GET /", 1),
                    span(2, 1, None, SERVER, "GET /", 1),
                    with_attributes(
                        span(3, 1, None, CONSUMER, "cron", 1),
                        &[("peer.service", "scheduler")],
                    ),
                ],
                now,
            );
            assert_eq!(g.waiting(), 0, "a root span never waits");
        });
        assert_eq!(
            sample(&out, &requests("user", "frontend", "virtual_node")),
            2.0,
            "{out:#?}"
        );
        assert_eq!(
            sample(&out, &requests("scheduler", "frontend", "virtual_node")),
            1.0
        );
        let client_sum = r#"traces_service_graph_request_client_seconds_sum{client="user",server="frontend",connection_type="virtual_node"}"#;
        assert_eq!(sample(&out, client_sum), 0.0, "the missing side observes 0");
    }

    #[test]
    fn a_client_span_with_database_attributes_is_a_database_call_at_once() {
        let out = run(100, 100, |g, now| {
            feed(
                g,
                "backend",
                vec![
                    with_attributes(
                        span(1, 2, Some(1), CLIENT, "SELECT", 1),
                        &[("db.system", "postgresql"), ("server.address", "pg-main")],
                    ),
                    with_attributes(
                        span(2, 2, Some(1), CLIENT, "GET", 1),
                        &[("db.name", "sessions")],
                    ),
                    with_attributes(
                        span(3, 2, Some(1), CLIENT, "SET", 1),
                        &[
                            ("db.system", "redis"),
                            ("peer.service", "cache"),
                            ("server.address", "10.0.0.1"),
                        ],
                    ),
                ],
                now,
            );
            assert_eq!(g.waiting(), 0);
        });
        assert_eq!(
            sample(&out, &requests("backend", "pg-main", "database")),
            1.0,
            "{out:#?}"
        );
        assert_eq!(
            sample(&out, &requests("backend", "sessions", "database")),
            1.0
        );
        assert_eq!(sample(&out, &requests("backend", "cache", "database")), 1.0);
    }

    #[test]
    fn a_resource_is_scanned_for_its_spans_and_never_mistaken_for_another() {
        // Two requests walked one after the other, of one resource each (the
        // same place in their messages): the first names no database, the
        // second does, for both its client spans.
        let client = |trace| span(trace, 2, Some(1), CLIENT, "query", 1);
        let plain = request("backend", vec![client(1), client(2)]);
        let mut database = request("backend", vec![client(3), client(4)]);
        if let Some(resource) = database.resource_spans[0].resource.as_mut() {
            resource.attributes.push(kv("db.system", "postgresql"));
        }
        let out = run(100, 100, |g, now| {
            for request in [&plain, &database] {
                views(request, |view| g.observe("backend", &view, now));
            }
            assert_eq!(g.waiting(), 2, "the plain clients wait for their servers");
        });
        assert_eq!(
            sample(&out, &requests("backend", "postgresql", "database")),
            2.0,
            "{out:#?}"
        );
    }

    /// `database_node` of a span with `span_attrs` under a resource with
    /// `service.name` and `resource_attrs`, scanned from the wire.
    fn database_of(resource_attrs: Vec<KeyValue>, span_attrs: Vec<KeyValue>) -> Option<String> {
        let span = Span {
            attributes: span_attrs,
            ..span(1, 2, Some(1), CLIENT, "query", 1)
        };
        let mut request = request("backend", vec![span]);
        if let Some(resource) = request.resource_spans[0].resource.as_mut() {
            resource.attributes.extend(resource_attrs);
        }
        let mut node = None;
        views(&request, |view| {
            let resource = Attributes::scan(view.resource_attributes());
            let attributes = Attributes::scan(view.attributes());
            node = database_node(&resource, &attributes).map(Cow::into_owned);
        });
        node
    }

    #[test]
    fn database_node_falls_back_to_the_network_peer_then_the_database() {
        let port = KeyValue {
            key: "network.peer.port".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::IntValue(3306)),
            }),
            ..Default::default()
        };
        let span_attrs = vec![
            kv("db.system", "mysql"),
            port,
            kv("network.peer.address", "10.1.2.3"),
        ];
        assert_eq!(
            database_of(vec![], span_attrs).as_deref(),
            Some("10.1.2.3:3306")
        );
        let only_db = || vec![kv("db.system", "mysql")];
        assert_eq!(database_of(vec![], only_db()).as_deref(), Some("mysql"));
        // The resource wins over the span, as in Tempo.
        let resource = vec![kv("db.namespace", "main")];
        assert_eq!(database_of(resource, only_db()).as_deref(), Some("main"));
        assert_eq!(database_of(vec![], vec![kv("peer.service", "x")]), None);
        // Keys are matched whole: a longer or shorter key is not one of them.
        let near = vec![kv("db.systems", "mysql"), kv("db.syste", "mysql")];
        assert_eq!(database_of(vec![], near), None);
    }

    #[test]
    fn a_full_store_drops_the_half_that_waited_longest() {
        let client = |t: u8| span(t, 2, Some(1), CLIENT, "call", 1);
        let server = |t: u8| span(t, 3, Some(2), SERVER, "serve", 1);
        let out = run(2, 100, |g, now| {
            feed(g, "frontend", (1..=3).map(client).collect(), now);
            assert_eq!(g.waiting(), 2);
            // A pair arriving while the store is full still pairs: its
            // client makes room by dropping trace 2's.
            feed(g, "frontend", vec![client(4)], now);
            feed(g, "backend", vec![server(4)], now);
            assert_eq!(g.waiting(), 1);
            // Expired halves make room before a waiting one is dropped.
            feed(g, "backend", vec![server(5)], now);
            assert_eq!(g.waiting(), 2);
            feed(g, "backend", vec![server(6)], now + WAIT);
            assert_eq!(g.waiting(), 1);
        });
        let dropped = "traces_service_graph_dropped_spans_total";
        assert_eq!(
            sample(&out, &series(dropped, "frontend", "", "")),
            2.0,
            "{out:#?}"
        );
        assert_eq!(sample(&out, &series(dropped, "", "backend", "")), 0.0);
        assert_eq!(sample(&out, &requests("frontend", "backend", "")), 1.0);
        let unpaired = "traces_service_graph_unpaired_spans_total";
        assert_eq!(sample(&out, &series(unpaired, "frontend", "", "")), 1.0);
        assert_eq!(sample(&out, &series(unpaired, "", "backend", "")), 1.0);
    }

    #[test]
    fn a_store_of_no_items_drops_every_half() {
        let out = run(0, 100, |g, now| {
            feed(
                g,
                "frontend",
                vec![span(1, 2, Some(1), CLIENT, "call", 1)],
                now,
            );
            assert_eq!(g.waiting(), 0);
        });
        let dropped = "traces_service_graph_dropped_spans_total";
        assert_eq!(sample(&out, &series(dropped, "frontend", "", "")), 1.0);
    }

    #[test]
    fn label_sets_beyond_the_cap_count_under_the_overflow_series() {
        let out = run(100, 2, |g, now| {
            let pair =
                |g: &mut ServiceGraph, t: u8, client: &str, server: &str, kinds: (i32, i32)| {
                    feed(
                        g,
                        client,
                        vec![span(t, 2, Some(1), kinds.0, "call", 1)],
                        now,
                    );
                    feed(
                        g,
                        server,
                        vec![span(t, 3, Some(2), kinds.1, "serve", 1)],
                        now,
                    );
                };
            pair(g, 1, "a", "b", (CLIENT, SERVER));
            pair(g, 2, "b", "a", (CLIENT, SERVER));
            // A third label set over known nodes.
            pair(g, 3, "a", "b", (PRODUCER, CONSUMER));
            // A known label set keeps counting.
            pair(g, 4, "a", "b", (CLIENT, SERVER));
            // Node names stop being interned at the cap (user, a, b) too.
            pair(g, 5, "a", "c", (CLIENT, SERVER));
            pair(g, 6, "d", "e", (CLIENT, SERVER));
            assert_eq!(g.graph.nodes.names.len(), 3, "the interner is capped");
        });
        assert_eq!(sample(&out, &requests("a", "b", "")), 2.0, "{out:#?}");
        assert_eq!(sample(&out, &requests("b", "a", "")), 1.0, "{out:#?}");
        assert_eq!(sample(&out, &requests("a", "b", "messaging_system")), 0.0);
        assert_eq!(sample(&out, &requests("a", "c", "")), 0.0);
        assert_eq!(
            sample(
                &out,
                r#"traces_service_graph_request_total{metric_overflow="true"}"#
            ),
            3.0,
            "{out:#?}"
        );
        assert_eq!(
            sample(
                &out,
                r#"traces_service_graph_request_client_seconds_count{metric_overflow="true"}"#
            ),
            3.0,
        );
        assert_eq!(
            sample(
                &out,
                r#"ferrotrace_ingester_metrics_generator_overflow_total{processor="service_graph"}"#
            ),
            3.0
        );
        assert_eq!(
            sample(
                &out,
                r#"ferrotrace_ingester_metrics_generator_label_sets{processor="service_graph"}"#
            ),
            2.0
        );
        let series = out
            .keys()
            .filter(|k| k.starts_with("traces_service_graph_request_total{"))
            .count();
        assert_eq!(series, 3, "two label sets and the overflow: {out:#?}");
    }

    #[test]
    fn spans_with_malformed_ids_are_ignored() {
        let out = run(100, 100, |g, now| {
            let mut client = span(1, 2, Some(1), CLIENT, "call", 1);
            client.trace_id.truncate(8);
            let mut server = span(1, 3, Some(2), SERVER, "serve", 1);
            server.parent_span_id.push(0);
            feed(g, "a", vec![client], now);
            feed(g, "b", vec![server], now);
            assert_eq!(g.waiting(), 0);
            g.expire(now + WAIT);
        });
        assert!(!out.keys().any(|k| k.starts_with("traces_")), "{out:#?}");
    }

    #[test]
    fn a_half_read_twice_pairs_once() {
        let out = run(100, 100, |g, now| {
            let client = span(1, 2, Some(1), CLIENT, "call", 1);
            feed(g, "a", vec![client.clone(), client], now);
            assert_eq!(g.waiting(), 1);
            feed(g, "b", vec![span(1, 3, Some(2), SERVER, "serve", 1)], now);
            g.expire(now + WAIT);
        });
        assert_eq!(sample(&out, &requests("a", "b", "")), 1.0, "{out:#?}");
        assert!(!out
            .keys()
            .any(|k| k.starts_with("traces_service_graph_unpaired")));
    }

    #[test]
    fn deadlines_of_paired_halves_do_not_pile_up() {
        run(10, 100, |g, now| {
            for i in 0..5000u32 {
                let mut client = span(0, 2, Some(1), CLIENT, "call", 1);
                client.trace_id[..4].copy_from_slice(&i.to_be_bytes());
                let mut server = span(0, 3, Some(2), SERVER, "serve", 1);
                server.trace_id = client.trace_id.clone();
                feed(g, "a", vec![client], now);
                feed(g, "b", vec![server], now);
            }
            assert!(g.waiting.queued() <= 1025, "{}", g.waiting.queued());
            assert_eq!(g.waiting(), 0);
        });
    }
}
