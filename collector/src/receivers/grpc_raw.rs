//! A unary gRPC method served over raw bytes, shared by the OTLP and Jaeger
//! gRPC receivers.
//!
//! Tonic's generated servers decode every request into prost structs. The
//! OTLP receiver must not (the pipeline splits the protobuf at the wire
//! level), so both receivers implement [`RawRpc`] — one method, bytes in,
//! bytes out — and [`RawService`] does the gRPC framing, gzip and the size
//! limit. Any other path answers `UNIMPLEMENTED`.
//!
//! The request body takes its bytes from the in-flight budget as its frames
//! arrive ([`ReservingBody`]), so concurrent calls cannot buffer more than
//! `--max-inflight-bytes` between them; a call that finds the budget used up
//! is refused `RESOURCE_EXHAUSTED` with a retry delay, like the pipeline's
//! own refusals. A gzip-compressed message also takes `--max-request-bytes`
//! (the most tonic will inflate it to) the moment its last byte arrives,
//! before tonic inflates it; the handler gives back what the inflated
//! message did not need.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes};
use tokio_util::sync::CancellationToken;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{Grpc, NamedService, UnaryService};

use super::auth::{GrpcAuthLayer, ReceiverAuth};
use super::connection_age::ConnectionAge;
use super::listener::ReceiverListener;
use super::RequestLimits;
use crate::pipeline::{ExportError, Held};
use crate::refusals::{self, Origin};

/// One unary gRPC method on raw protobuf bytes.
pub trait RawRpc: Clone + Send + Sync + 'static {
    /// The gRPC service name, e.g. `jaeger.api_v2.CollectorService`.
    const SERVICE: &'static str;
    /// The method's full path, `/{SERVICE}/{Method}`.
    const PATH: &'static str;
    /// The `receiver` label of its metrics.
    const RECEIVER: &'static str;

    /// An empty share of the in-flight budget for one call.
    fn hold(&self) -> Held;

    /// Handles one call from `peer`; `held` is what its body took of the
    /// budget so far.
    fn call(
        &self,
        request: Bytes,
        held: Held,
        peer: Option<SocketAddr>,
    ) -> impl Future<Output = Result<Bytes, tonic::Status>> + Send + 'static;
}

/// The tower service `tonic::transport::Server` routes to.
#[derive(Clone)]
pub struct RawService<R> {
    rpc: R,
    limits: RequestLimits,
}

impl<R: RawRpc> RawService<R> {
    pub fn new(rpc: R, limits: RequestLimits) -> Self {
        Self { rpc, limits }
    }
}

impl<R: RawRpc> NamedService for RawService<R> {
    const NAME: &'static str = R::SERVICE;
}

impl<R: RawRpc, B> tower::Service<http::Request<B>> for RawService<R>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != R::PATH {
            let status =
                tonic::Status::unimplemented(format!("unknown method {}", request.uri().path()));
            return Box::pin(async move { Ok(status.into_http()) });
        }
        let peer = request
            .extensions()
            .get::<tonic::transport::server::TcpConnectInfo>()
            .and_then(|info| info.remote_addr());
        let origin = Origin::new(R::RECEIVER, peer);
        let handled = Arc::new(AtomicBool::new(false));
        let held = Arc::new(Mutex::new(Some(self.rpc.hold())));
        let request = request.map(|body| ReservingBody {
            inner: Box::pin(body),
            held: held.clone(),
            message: FirstMessage::default(),
            max_bytes: self.limits.max_bytes,
        });
        let unary = Unary(self.rpc.clone(), handled.clone(), held.clone());
        let RequestLimits {
            max_bytes: max,
            read_timeout,
        } = self.limits;
        Box::pin(async move {
            let mut grpc = Grpc::new(RawCodec)
                .apply_compression_config(
                    tonic::codec::EnabledCompressionEncodings::default(),
                    tonic::codec::EnabledCompressionEncodings::default(),
                )
                .accept_compressed(CompressionEncoding::Gzip)
                .apply_max_message_size_config(Some(max), None);
            let call = grpc.unary(unary, request);
            tokio::pin!(call);
            // Only receiving the message is bounded here; once the handler
            // runs, the pipeline's own timeouts apply.
            let response = tokio::select! {
                response = &mut call => response,
                _ = tokio::time::sleep(read_timeout) => {
                    if handled.load(Ordering::Relaxed) {
                        call.await
                    } else {
                        let error = ExportError::Timeout(format!(
                            "the request message did not arrive within --read-timeout {read_timeout:?}"
                        ));
                        metrics::counter!(crate::metrics::REQUESTS, "receiver" => R::RECEIVER, "result" => error.kind())
                            .increment(1);
                        refusals::request_refused(origin, error.kind(), &error, || None);
                        return Ok(error.grpc_status().into_http());
                    }
                }
            };
            if !handled.load(Ordering::Relaxed) {
                let exhausted = lock(&held).as_ref().is_some_and(|held| held.exhausted);
                count_refused_before_handler(origin, &response, exhausted);
            }
            Ok(response)
        })
    }
}

/// Counts a request tonic refused before it reached the handler: a message
/// over `--max-request-bytes` (before or after gzip: tonic inflates into a
/// buffer capped at the limit, so a gzip bomb is refused, not inflated), a
/// body that does not inflate, an unsupported encoding, a body refused for
/// the in-flight budget (`exhausted`). The handler counts everything else.
fn count_refused_before_handler<B>(origin: Origin, response: &http::Response<B>, exhausted: bool) {
    let code = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(tonic::Code::from_i32);
    let result = match code {
        None | Some(tonic::Code::Ok) => return,
        Some(_) if exhausted => "exhausted",
        Some(tonic::Code::ResourceExhausted | tonic::Code::OutOfRange) => "too_large",
        Some(tonic::Code::Unimplemented) => "unsupported",
        Some(_) => "invalid",
    };
    metrics::counter!(crate::metrics::REQUESTS, "receiver" => origin.receiver, "result" => result)
        .increment(1);
    let message = tonic::Status::from_header_map(response.headers())
        .map(|status| status.message().to_owned())
        .unwrap_or_default();
    refusals::request_refused(origin, result, &message, || None);
}

/// The handler, whether tonic got as far as calling it, and the budget the
/// body took (handed to the handler, which keeps it until it answers).
struct Unary<R>(R, Arc<AtomicBool>, SharedHeld);

type SharedHeld = Arc<Mutex<Option<Held>>>;

fn lock(held: &SharedHeld) -> std::sync::MutexGuard<'_, Option<Held>> {
    held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<R: RawRpc> UnaryService<Bytes> for Unary<R> {
    type Response = Bytes;
    type Future =
        Pin<Box<dyn Future<Output = Result<tonic::Response<Bytes>, tonic::Status>> + Send>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        self.1.store(true, Ordering::Relaxed);
        let mut held = lock(&self.2).take().unwrap_or_else(|| self.0.hold());
        let peer = request.remote_addr();
        let request = request.into_inner();
        // The message is decoded (inflated, if it was compressed): hold its size.
        held.shrink_to(request.len());
        let call = self.0.call(request, held, peer);
        Box::pin(async move { call.await.map(tonic::Response::new) })
    }
}

/// A request body whose data frames take their size from the in-flight
/// budget as they arrive; when it is used up the body fails with the
/// pipeline's retryable `RESOURCE_EXHAUSTED`, which tonic passes on.
pub struct ReservingBody<B> {
    inner: Pin<Box<B>>,
    held: SharedHeld,
    message: FirstMessage,
    /// `--max-request-bytes`: the inflation allowance of a compressed message.
    max_bytes: usize,
}

/// Follows the gRPC framing (a 1-byte compressed flag, a 4-byte big-endian
/// length, the message) of a call's first and only message across data
/// frames, to know when a compressed one is complete.
#[derive(Default)]
struct FirstMessage {
    header: [u8; 5],
    header_len: usize,
    remaining: usize,
    done: bool,
}

impl FirstMessage {
    /// Follows `chunk`; true when it completes a compressed message.
    fn completes_compressed(&mut self, mut chunk: &[u8]) -> bool {
        while !chunk.is_empty() && !self.done {
            if self.header_len < 5 {
                let n = (5 - self.header_len).min(chunk.len());
                self.header[self.header_len..self.header_len + n].copy_from_slice(&chunk[..n]);
                self.header_len += n;
                chunk = &chunk[n..];
                if self.header_len == 5 {
                    let [_, length @ ..] = self.header;
                    self.remaining = u32::from_be_bytes(length) as usize;
                    self.done = self.remaining == 0;
                }
                continue;
            }
            let n = self.remaining.min(chunk.len());
            self.remaining -= n;
            chunk = &chunk[n..];
            if self.remaining == 0 {
                self.done = true;
                return self.header[0] & 1 == 1;
            }
        }
        false
    }
}

impl<B> http_body::Body for ReservingBody<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, tonic::Status>>> {
        let this = self.get_mut();
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(held)) = (frame.data_ref(), lock(&this.held).as_mut()) {
                    let mut take = data.len();
                    if this.message.completes_compressed(data) {
                        take += this.max_bytes;
                    }
                    if let Err(error) = held.take(take) {
                        return Poll::Ready(Some(Err(error.grpc_status())));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => {
                Poll::Ready(Some(Err(tonic::Status::from_error(error.into()))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A codec that leaves message bodies as bytes in both directions (also
/// what tests use as a client to send bodies no prost type would encode).
#[derive(Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Self::Error> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// The HTTP/2 settings of a gRPC receiver's connections.
#[derive(Clone, Copy, Debug)]
pub struct Http2Settings {
    /// Calls one connection may have open at once; clients queue the rest.
    pub max_concurrent_streams: u32,
    pub max_frame_bytes: u32,
    pub stream_window_bytes: u32,
    pub connection_window_bytes: u32,
}

/// Serves `routes` (one or more [`RawService`]s, told apart by their gRPC
/// service name) on the receiver's connections until `shutdown`;
/// in-flight calls finish first. With `auth`, every call needs a known
/// bearer token; a connection follows `settings` and lives for at most `age`.
///
/// tonic's routes run on our own HTTP/2 loop rather than tonic's server, so
/// each connection can be drained at its own (jittered) age and counted.
pub async fn serve(
    mut listener: ReceiverListener,
    routes: tonic::service::Routes,
    auth: Option<ReceiverAuth>,
    settings: Http2Settings,
    age: ConnectionAge,
    shutdown: CancellationToken,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use tonic::transport::server::Connected;
    use tower::Layer;
    let routes = GrpcAuthLayer(auth).layer(routes);
    let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    http2
        .timer(TokioTimer::new())
        .max_concurrent_streams(settings.max_concurrent_streams)
        // Large frames and windows cut per-request overhead for big batches (measured: docs/design.md §6).
        .max_frame_size(settings.max_frame_bytes)
        .initial_stream_window_size(settings.stream_window_bytes)
        .initial_connection_window_size(settings.connection_window_bytes);
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
        // What tonic's `Request::remote_addr` reads.
        let info = connection.connect_info();
        let routes = routes.clone();
        let service =
            hyper::service::service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(info.clone());
                tower::ServiceExt::oneshot(routes.clone(), request)
            });
        let served = http2.serve_connection(TokioIo::new(connection), service);
        connections.spawn(age.clone().serve(served, shutdown.clone()));
    }
    // Every connection was told to drain by `shutdown`; wait for their calls.
    while connections.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::Budget;

    fn frame(compressed: bool, message: &[u8]) -> Vec<u8> {
        let mut frame = vec![u8::from(compressed)];
        frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
        frame.extend_from_slice(message);
        frame
    }

    #[test]
    fn a_compressed_message_is_seen_complete_across_any_chunking() {
        let bytes = frame(true, b"0123456789");
        for cut in 0..bytes.len() {
            let mut message = FirstMessage::default();
            let (first, second) = bytes.split_at(cut);
            let completes = [first, second].map(|chunk| message.completes_compressed(chunk));
            assert_eq!(completes, [false, true], "cut at {cut}");
            assert!(
                !message.completes_compressed(b"more"),
                "only the first message"
            );
        }
        let mut message = FirstMessage::default();
        for byte in &bytes[..bytes.len() - 1] {
            assert!(!message.completes_compressed(std::slice::from_ref(byte)));
        }
        assert!(message.completes_compressed(&bytes[bytes.len() - 1..]));
    }

    #[test]
    fn uncompressed_and_empty_messages_take_no_allowance() {
        let mut message = FirstMessage::default();
        assert!(!message.completes_compressed(&frame(false, b"0123456789")));
        let mut message = FirstMessage::default();
        assert!(!message.completes_compressed(&frame(true, b"")));
    }

    #[test]
    fn a_held_allowance_shrinks_back_to_the_message() {
        let budget = Budget::new(1000);
        let mut held = Held::new(budget.clone());
        held.take(100).unwrap();
        held.take(800).unwrap();
        assert!(held.take(200).is_err(), "900 of 1000 held");
        held.shrink_to(150);
        assert_eq!(held.bytes(), 150);
        held.take(850).expect("the excess went back to the budget");
        drop(held);
        budget.try_reserve(1000).expect("everything went back");
    }
}
