//! One module per protocol the collector accepts. Each receiver turns its
//! input into an OTLP `ExportTraceServiceRequest` and hands it to the
//! [`Pipeline`](crate::pipeline::Pipeline); none of them talks to Kafka itself.
//!
//! This module holds what several receivers share: the OTLP response,
//! bounded gzip inflation, the HTTP server loop and the export of a request
//! translated from Jaeger or Zipkin. Every TCP receiver accepts through
//! [`listener`] (connection limit, TLS); bearer tokens ([`auth`]) guard their
//! requests; connections live at most [`connection_age`]. Per-packet logs go through `ferrotrace_common::log_limit`.

pub mod auth;
pub mod connection_age;
pub mod grpc_raw;
pub mod jaeger_grpc;
pub mod jaeger_http;
pub mod jaeger_udp;
pub mod listener;
pub mod otlp_grpc;
pub mod otlp_http;
pub mod reload;
pub mod tls;
pub mod zipkin;

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use axum::{Extension, Router};
use bytes::Bytes;
use ferrotrace_format::translate::Translated;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;
use tokio_util::sync::CancellationToken;

use crate::metrics as m;
use crate::pipeline::{Accepted, ExportError, Held, Pipeline};
use crate::refusals::{self, Origin, Peer};

/// The OTLP response for an accepted request: `partial_success` only when spans were rejected.
pub fn export_response(accepted: &Accepted) -> ExportTraceServiceResponse {
    let rejected = accepted.refused.total();
    let partial_success = (rejected > 0).then(|| ExportTracePartialSuccess {
        rejected_spans: rejected as i64,
        error_message: accepted.refused.first().unwrap_or_default().to_owned(),
    });
    ExportTraceServiceResponse { partial_success }
}

/// How big a request may be and how long its client may take to send it.
#[derive(Clone, Copy, Debug)]
pub struct RequestLimits {
    /// `--max-request-bytes`, after decompression.
    pub max_bytes: usize,
    /// `--read-timeout`: headers and body.
    pub read_timeout: Duration,
}

/// What every HTTP receiver's handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub pipeline: Arc<Pipeline>,
    pub limits: RequestLimits,
}

/// Serves an HTTP receiver (HTTP/1.1) on `listener` until `shutdown`;
/// in-flight requests finish first. A client gets `--read-timeout` to send
/// a request's headers (hyper closes the connection after that) and again
/// to send its body ([`read_body`]). Every request carries the client's
/// address as a [`Peer`] extension, for the refusal log. A connection past
/// its `age` is closed after its next response ([`connection_age`]).
pub async fn serve_http(
    mut listener: listener::ReceiverListener,
    router: Router,
    limits: RequestLimits,
    age: connection_age::ConnectionAge,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.read_timeout);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let connection = tokio::select! {
            _ = shutdown.cancelled() => break,
            connection = listener.next() => match connection {
                Some(connection) => connection,
                None => break,
            },
        };
        while connections.try_join_next().is_some() {}
        let router = router.clone().layer(Extension(Peer(connection.peer())));
        let deadline = age.deadline();
        let service = hyper::service::service_fn(move |request: axum::extract::Request<_>| {
            let response = tower::ServiceExt::oneshot(router.clone(), request);
            async move {
                let mut response = response.await?;
                if deadline.is_some_and(|at| tokio::time::Instant::now() >= at) {
                    // hyper closes the connection once this response is written.
                    response.headers_mut().insert(
                        header::CONNECTION,
                        header::HeaderValue::from_static("close"),
                    );
                }
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let served = http1.serve_connection(TokioIo::new(connection), service);
        connections.spawn(age.clone().serve_http1(served, deadline, shutdown.clone()));
    }
    // Every connection was told to drain by `shutdown`; wait for their requests.
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Reads a request body of at most `limits.max_bytes` within
/// `limits.read_timeout`, taking each chunk's size from the in-flight budget
/// before keeping it.
pub async fn read_body(
    body: axum::body::Body,
    limits: RequestLimits,
    held: &mut Held,
) -> Result<Bytes, ExportError> {
    tokio::time::timeout(
        limits.read_timeout,
        read_body_within(body, limits.max_bytes, held),
    )
    .await
    .unwrap_or_else(|_| {
        Err(ExportError::Timeout(format!(
            "the request body did not arrive within --read-timeout {:?}",
            limits.read_timeout
        )))
    })
}

async fn read_body_within(
    body: axum::body::Body,
    limit: usize,
    held: &mut Held,
) -> Result<Bytes, ExportError> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut len = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|error| ExportError::InvalidArgument(format!("reading the body: {error}")))?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        len += chunk.len();
        if len > limit {
            return Err(ExportError::TooLarge(format!(
                "body exceeds the limit of {limit} bytes"
            )));
        }
        held.take(chunk.len())?;
        chunks.push(chunk);
    }
    // One chunk (the usual case for a small body) is passed on without a copy.
    Ok(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.swap_remove(0),
        _ => Bytes::from(chunks.concat()),
    })
}

/// Bodies from this size on the wire are decoded with the runtime told to
/// move other tasks off the worker: inflating or parsing megabytes takes
/// milliseconds of CPU that would otherwise stall every connection sharing
/// that worker.
const BLOCKING_DECODE_BYTES: usize = 256 << 10;

/// Runs the CPU-heavy decoding (gunzip, JSON, Thrift) of a body of `bytes`
/// on the wire; a large one runs as blocking work (multi-threaded runtime).
pub fn decode_work<T>(bytes: usize, work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let multi_thread = Handle::try_current()
        .is_ok_and(|handle| handle.runtime_flavor() == RuntimeFlavor::MultiThread);
    if bytes >= BLOCKING_DECODE_BYTES && multi_thread {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}

/// Bytes inflated at a time: each step takes its share of the budget first.
const INFLATE_STEP: usize = 256 << 10;

/// Inflates a gzip body, refusing to inflate past `limit` (a gzip bomb is
/// refused, not expanded). The inflated bytes take their share of the
/// in-flight budget before they are written.
pub fn decompress(
    headers: &HeaderMap,
    body: Bytes,
    limit: usize,
    held: &mut Held,
) -> Result<Bytes, ExportError> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity");
    match encoding.trim().to_ascii_lowercase().as_str() {
        "" | "identity" => Ok(body),
        "gzip" => {
            let mut out = Vec::new();
            let mut decoder = flate2::read::GzDecoder::new(&body[..]);
            loop {
                // One byte past the limit tells a body at the limit from one over it.
                let step = INFLATE_STEP.min(limit + 1 - out.len());
                held.take(step)?;
                out.reserve_exact(step);
                let read = (&mut decoder)
                    .take(step as u64)
                    .read_to_end(&mut out)
                    .map_err(|e| ExportError::InvalidArgument(format!("invalid gzip body: {e}")))?;
                if out.len() > limit {
                    return Err(ExportError::TooLarge(format!(
                        "decompressed body exceeds the limit of {limit} bytes"
                    )));
                }
                if read < step {
                    return Ok(Bytes::from(out));
                }
            }
        }
        other => Err(ExportError::Unsupported(format!(
            "unsupported content encoding {other:?}, expected gzip"
        ))),
    }
}

/// The media type of a `Content-Type` header, lowercased, without parameters.
pub fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Exports a request translated from Jaeger or Zipkin.
///
/// Jaeger and Zipkin have no `partial_success`: when some spans were refused
/// (by the translation's checks or by the split, which applies the same
/// rules as to OTLP input and counts its refusals itself), the valid ones
/// are still stored and the client gets `InvalidArgument` saying how many
/// were refused and why. Clients do not retry that, so nothing is stored
/// twice.
pub async fn export_translated(
    pipeline: &Pipeline,
    origin: Origin,
    translated: Translated,
    started: Instant,
    held: Held,
) -> Result<u64, ExportError> {
    let receiver = origin.receiver;
    let service = || refusals::service_of(&translated.request).map(str::to_owned);
    let refused = &translated.refused;
    for (reason, count) in refused.by_reason() {
        metrics::counter!(m::SPANS_REFUSED, "receiver" => receiver, "reason" => reason)
            .increment(count);
    }
    let described = || refused.first().unwrap_or_default().to_owned();
    if translated.spans == 0 {
        if refused.total() == 0 {
            return Ok(0);
        }
        let error = ExportError::InvalidArgument(format!(
            "all {} spans refused; first: {}",
            refused.total(),
            described()
        ));
        error.record_from(origin, service, started);
        return Err(error);
    }
    let request = translated.request.encode_to_vec();
    let accepted = pipeline.export(origin, &request, started, held).await?;
    let total_refused = refused.total() + accepted.refused.total();
    if total_refused > 0 {
        let first = refused
            .first()
            .or(accepted.refused.first())
            .unwrap_or_default();
        // The pipeline logged the spans it rejected; these the translation refused.
        if refused.total() > 0 {
            refusals::spans_refused(origin, refused.total(), first, service);
        }
        return Err(ExportError::InvalidArgument(format!(
            "{total_refused} spans refused, the other {} accepted; first: {first}",
            accepted.accepted_spans
        )));
    }
    Ok(accepted.accepted_spans)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::producer::Budget;
    use axum::http::HeaderValue;

    /// A header map from static pairs, for receiver tests.
    pub(crate) fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    fn held(budget_bytes: usize) -> (Budget, Held) {
        let budget = Budget::new(budget_bytes);
        (budget.clone(), Held::new(budget))
    }

    fn gzip(len: usize) -> Bytes {
        use flate2::{write::GzEncoder, Compression};
        use std::io::Write;
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(&vec![0u8; len]).unwrap();
        Bytes::from(encoder.finish().unwrap())
    }

    #[test]
    fn gzip_bodies_inflate_within_the_limit_and_bombs_are_refused() {
        let compressed = gzip(100_000);
        let gzip = headers(&[("content-encoding", "gzip")]);
        let (_, mut h) = held(1 << 30);
        assert_eq!(
            decompress(&gzip, compressed.clone(), 100_000, &mut h)
                .unwrap()
                .len(),
            100_000
        );
        assert!(matches!(
            decompress(&gzip, compressed, 99_999, &mut h),
            Err(ExportError::TooLarge(_))
        ));
        assert!(matches!(
            decompress(&gzip, Bytes::from_static(b"not gzip"), 1000, &mut h),
            Err(ExportError::InvalidArgument(_))
        ));
        assert!(matches!(
            decompress(
                &headers(&[("content-encoding", "br")]),
                Bytes::new(),
                10,
                &mut h
            ),
            Err(ExportError::Unsupported(_))
        ));
    }

    #[test]
    fn inflating_takes_the_budget_first_and_stops_when_it_is_used_up() {
        let gzip_header = headers(&[("content-encoding", "gzip")]);
        // 1 MiB inflated needs four steps of budget; three are there.
        let (budget, mut h) = held(3 * INFLATE_STEP);
        let refused = decompress(&gzip_header, gzip(1 << 20), 16 << 20, &mut h);
        assert!(
            matches!(refused, Err(ExportError::Exhausted(_))),
            "{refused:?}"
        );
        assert!(h.exhausted);
        assert_eq!(h.bytes(), 3 * INFLATE_STEP);
        drop(h);
        // Everything held came back.
        let all = budget
            .try_reserve(3 * INFLATE_STEP)
            .expect("budget returned");
        drop(all);
        let (_, mut h) = held(1 << 30);
        let inflated = decompress(&gzip_header, gzip(1 << 20), 16 << 20, &mut h).unwrap();
        assert_eq!(inflated.len(), 1 << 20);
        assert!(h.bytes() >= 1 << 20 && h.bytes() <= (1 << 20) + INFLATE_STEP);
    }

    fn limits(max_bytes: usize) -> RequestLimits {
        RequestLimits {
            max_bytes,
            read_timeout: Duration::from_secs(30),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn large_decoding_runs_as_blocking_work_on_a_multi_threaded_runtime() {
        // On the only worker, a decoding that waits for a task queued behind
        // it finishes only if the worker's other tasks moved to another thread.
        let waited = tokio::spawn(async {
            let (tx, rx) = std::sync::mpsc::channel();
            tokio::spawn(async move { tx.send(()).unwrap() });
            decode_work(BLOCKING_DECODE_BYTES, || {
                rx.recv_timeout(Duration::from_secs(10)).is_ok()
            })
        })
        .await
        .unwrap();
        assert!(waited, "the queued task ran while the decoding blocked");
        assert_eq!(decode_work(10, || 7), 7);
    }

    #[tokio::test]
    async fn decoding_on_a_current_thread_runtime_runs_inline() {
        assert_eq!(decode_work(BLOCKING_DECODE_BYTES, || 7), 7);
    }

    #[tokio::test]
    async fn a_body_that_does_not_arrive_in_time_is_refused() {
        use futures::StreamExt;
        let first = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"a"))]);
        let trickle = axum::body::Body::from_stream(first.chain(futures::stream::pending()));
        let (_, mut h) = held(10_000);
        let limits = RequestLimits {
            max_bytes: 2000,
            read_timeout: Duration::from_millis(100),
        };
        let refused = read_body(trickle, limits, &mut h).await;
        assert!(
            matches!(refused, Err(ExportError::Timeout(_))),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn a_body_takes_its_bytes_as_it_is_read() {
        let body = || {
            let chunks = [Bytes::from(vec![1u8; 600]), Bytes::from(vec![2u8; 600])];
            axum::body::Body::from_stream(futures::stream::iter(
                chunks.map(Ok::<_, std::io::Error>),
            ))
        };
        let (_, mut h) = held(10_000);
        let read = read_body(body(), limits(2000), &mut h).await.unwrap();
        assert_eq!(read.len(), 1200);
        assert_eq!(&read[598..602], &[1, 1, 2, 2]);
        assert_eq!(h.bytes(), 1200);
        // The second chunk does not fit the budget: refused, retryable.
        let (_, mut h) = held(1000);
        let refused = read_body(body(), limits(2000), &mut h).await;
        assert!(
            matches!(refused, Err(ExportError::Exhausted(_))),
            "{refused:?}"
        );
        // Over the size limit: refused as too large, whatever the budget.
        let (_, mut h) = held(10_000);
        let refused = read_body(body(), limits(1000), &mut h).await;
        assert!(
            matches!(refused, Err(ExportError::TooLarge(_))),
            "{refused:?}"
        );
    }

    #[test]
    fn media_type_drops_parameters_and_case() {
        assert_eq!(
            media_type(&headers(&[(
                "content-type",
                "Application/JSON; charset=utf-8"
            )])),
            "application/json"
        );
        assert_eq!(media_type(&headers(&[])), "");
    }
}
