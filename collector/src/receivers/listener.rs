//! The accept loop every TCP receiver runs: the per-receiver connection
//! limit, load shedding beyond it, and the TLS handshake when configured.
//!
//! [`ReceiverListener`] hands tonic and axum a [`Connection`] (plain TCP or
//! TLS) that holds one of the receiver's `--max-connections` slots until it
//! closes. A connection that finds every slot taken is not served: a small
//! HTTP server answers its first request with HTTP 503 (plain text, with
//! `Retry-After`) or gRPC `UNAVAILABLE`, both retryable, and closes it. At
//! most [`MAX_SHEDDING`] connections are being answered that way at once, for
//! at most [`SHED_TIMEOUT`] each; beyond that a connection is closed unanswered,
//! so a connection flood costs a bounded amount of work. Every refusal is
//! counted in `ferrotrace_collector_connections_refused_total`, and the open
//! connections in the `ferrotrace_collector_connections` gauge.
//!
//! A connection on which no byte moved either way for `--idle-timeout` is
//! closed (counted in `ferrotrace_collector_connections_idle_closed_total`),
//! so clients that connect and go silent, or never read their answers, do
//! not keep slots forever. Activity costs one clock read per I/O call; the
//! timer is touched only when it fires.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use ferrotrace_common::log_limit::LogLimiter;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use super::tls::{Alpn, ServerTls};
use crate::metrics as m;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections over the limit being answered at once; more are closed unanswered.
pub const MAX_SHEDDING: usize = 64;
/// How long an over-limit connection is given to send its request and read the refusal.
pub const SHED_TIMEOUT: Duration = Duration::from_secs(5);
/// Request body bytes read (and dropped) before an HTTP/1 refusal, so the
/// client's write finishes and it reads the answer instead of a reset.
const SHED_DRAIN_BYTES: usize = 1 << 20;

/// How a receiver's listener accepts connections.
pub struct ListenerOptions {
    /// The `receiver` label of its metrics.
    pub receiver: &'static str,
    /// TLS for every connection when set; `alpn` picks the protocol it offers.
    pub tls: Option<Arc<ServerTls>>,
    pub alpn: Alpn,
    /// `--max-connections`; 0 is no limit.
    pub max_connections: usize,
    /// `--idle-timeout`; zero keeps idle connections open.
    pub idle_timeout: Duration,
}

/// A TCP listener that yields connections within the receiver's limit,
/// after their TLS handshake when TLS is on.
pub struct ReceiverListener {
    accepted: mpsc::Receiver<Connection>,
}

impl ReceiverListener {
    /// Starts accepting on `listener` until `shutdown`; handshakes run concurrently.
    pub fn spawn(
        listener: TcpListener,
        options: ListenerOptions,
        shutdown: CancellationToken,
    ) -> Self {
        let (tx, accepted) = mpsc::channel(64);
        tokio::spawn(accept_loop(listener, options, tx, shutdown));
        Self { accepted }
    }

    /// The next connection; `None` once the accept loop stopped (shutdown).
    pub async fn next(&mut self) -> Option<Connection> {
        self.accepted.recv().await
    }

    /// The connections as a stream, for tonic's `serve_with_incoming`; it
    /// ends when the accept loop stops.
    pub fn into_stream(
        self,
    ) -> impl futures::Stream<Item = io::Result<Connection>> + Send + 'static {
        futures::stream::unfold(self.accepted, |mut rx| async move {
            let connection = rx.recv().await?;
            Some((Ok(connection), rx))
        })
    }
}

async fn accept_loop(
    listener: TcpListener,
    options: ListenerOptions,
    tx: mpsc::Sender<Connection>,
    shutdown: CancellationToken,
) {
    let ListenerOptions {
        receiver,
        tls,
        alpn,
        max_connections,
        idle_timeout,
    } = options;
    let idle_closed = metrics::counter!(m::CONNECTIONS_IDLE_CLOSED, "receiver" => receiver);
    let idle = move || {
        (!idle_timeout.is_zero()).then(|| IdleTimer::new(idle_timeout, idle_closed.clone()))
    };
    let slots = (max_connections > 0).then(|| Arc::new(Semaphore::new(max_connections)));
    let open = metrics::gauge!(m::CONNECTIONS, "receiver" => receiver);
    let shedder = Arc::new(Shedder {
        receiver,
        limit: max_connections,
        message: format!(
            "the {receiver} receiver is at its limit of {max_connections} connections (--max-connections); retry later"
        ),
        tls: tls.clone(),
        alpn,
        shedding: Arc::new(Semaphore::new(MAX_SHEDDING)),
        refused: metrics::counter!(m::CONNECTIONS_REFUSED, "receiver" => receiver),
        log: LogLimiter::default(),
    });
    let failures = Arc::new(LogLimiter::default());
    let local = listener.local_addr().ok();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(%error, receiver, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let permit = match &slots {
            None => None,
            Some(slots) => match slots.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    shedder.clone().refuse(stream, peer);
                    continue;
                }
            },
        };
        let slot = Slot::take(permit, open.clone());
        let Some(tls) = &tls else {
            let connection = Connection {
                io: Io::Plain(stream),
                peer,
                local,
                idle: idle(),
                _slot: slot,
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                sent = tx.send(connection) => if sent.is_err() { return },
            }
            continue;
        };
        let acceptor = tls.acceptor(alpn);
        let idle = idle();
        let tx = tx.clone();
        let failures = failures.clone();
        tokio::spawn(async move {
            let error = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
            {
                Ok(Ok(stream)) => {
                    let connection = Connection {
                        io: Io::Tls(Box::new(stream)),
                        peer,
                        local,
                        idle,
                        _slot: slot,
                    };
                    // Err: the server is shutting down; the connection just closes.
                    let _ = tx.send(connection).await;
                    return;
                }
                Ok(Err(error)) => error.to_string(),
                Err(_) => "handshake timed out".to_owned(),
            };
            metrics::counter!(m::TLS_HANDSHAKE_FAILURES, "receiver" => receiver).increment(1);
            if let Some(suppressed) = failures.allow() {
                tracing::warn!(%peer, receiver, error, suppressed, "TLS handshake failed");
            }
        });
    }
}

/// One of the receiver's connection slots, held for as long as the connection is open.
struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
    open: metrics::Gauge,
}

impl Slot {
    fn take(permit: Option<OwnedSemaphorePermit>, open: metrics::Gauge) -> Self {
        open.increment(1.0);
        Self {
            _permit: permit,
            open,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.decrement(1.0);
    }
}

/// Answers connections over the limit with a retryable refusal.
struct Shedder {
    receiver: &'static str,
    limit: usize,
    /// The refusal's text: the HTTP body, the gRPC status message.
    message: String,
    tls: Option<Arc<ServerTls>>,
    alpn: Alpn,
    shedding: Arc<Semaphore>,
    refused: metrics::Counter,
    log: LogLimiter,
}

impl Shedder {
    fn refuse(self: Arc<Self>, stream: TcpStream, peer: SocketAddr) {
        self.refused.increment(1);
        if let Some(suppressed) = self.log.allow() {
            tracing::warn!(%peer, receiver = self.receiver, limit = self.limit, suppressed, "connection refused: the receiver is at --max-connections");
        }
        // Too many being answered already: close this one unanswered.
        let Ok(permit) = self.shedding.clone().try_acquire_owned() else {
            return;
        };
        tokio::spawn(async move {
            let _permit = permit;
            let answer = async {
                match &self.tls {
                    None => answer_unavailable(stream, &self.message).await,
                    Some(tls) => {
                        if let Ok(stream) = tls.acceptor(self.alpn).accept(stream).await {
                            answer_unavailable(stream, &self.message).await;
                        }
                    }
                }
            };
            let _ = tokio::time::timeout(SHED_TIMEOUT, answer).await;
        });
    }
}

/// Serves `io` just long enough to refuse its first request: gRPC
/// `UNAVAILABLE` for a gRPC call, HTTP 503 otherwise; then closes it.
async fn answer_unavailable<IO>(io: IO, message: &str)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let answered = Arc::new(Notify::new());
    let service = {
        let answered = answered.clone();
        let message = message.to_owned();
        hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
            let answered = answered.clone();
            let message = message.clone();
            async move {
                let response = unavailable_response(request, message).await;
                answered.notify_one();
                Ok::<_, Infallible>(response)
            }
        })
    };
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http1().keep_alive(false);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        _ = answered.notified() => connection.as_mut().graceful_shutdown(),
    }
    let _ = connection.await;
}

async fn unavailable_response(
    request: http::Request<hyper::body::Incoming>,
    message: String,
) -> http::Response<Full<Bytes>> {
    let grpc = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if grpc {
        return tonic::Status::unavailable(message).into_http();
    }
    // Read what the client is sending (up to a bound) so it gets to read the answer.
    let mut body = request.into_body();
    let mut drained = 0;
    while drained < SHED_DRAIN_BYTES {
        match body.frame().await {
            Some(Ok(frame)) => drained += frame.data_ref().map_or(0, |data| data.len()),
            _ => break,
        }
    }
    let mut response = http::Response::new(Full::new(Bytes::from(message + "\n")));
    *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from(1));
    response
}

/// An accepted connection within the limit, plain or TLS.
pub struct Connection {
    io: Io,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    idle: Option<IdleTimer>,
    _slot: Slot,
}

impl Connection {
    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Passes an I/O result through, noting activity; a pending operation
    /// fails with `TimedOut` once nothing moved for the idle timeout.
    fn track<T>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let Some(idle) = &mut self.idle else {
            return result;
        };
        match result {
            Poll::Ready(_) => {
                idle.last_activity = Instant::now();
                result
            }
            Poll::Pending if idle.expired(cx) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle for longer than --idle-timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The idle timeout of one connection.
struct IdleTimer {
    timeout: Duration,
    last_activity: Instant,
    /// Fires at the earliest moment the connection may be idle for `timeout`.
    timer: Pin<Box<Sleep>>,
    closed: metrics::Counter,
}

impl IdleTimer {
    fn new(timeout: Duration, closed: metrics::Counter) -> Self {
        let now = Instant::now();
        Self {
            timeout,
            last_activity: now,
            timer: Box::pin(tokio::time::sleep_until(now + timeout)),
            closed,
        }
    }

    /// True once nothing moved for the timeout; otherwise the task is woken
    /// when it might be.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            let deadline = self.last_activity + self.timeout;
            if deadline <= Instant::now() {
                self.closed.increment(1);
                return true;
            }
            self.timer.as_mut().reset(deadline);
        }
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl tonic::transport::server::Connected for Connection {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        tonic::transport::server::TcpConnectInfo {
            local_addr: self.local,
            remote_addr: Some(self.peer),
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        this.track(cx, result)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        };
        this.track(cx, result)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        };
        this.track(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        };
        this.track(cx, result)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
