//! A TCP proxy a test can cut and restore, to take a server away from the
//! process under test for real: open connections are closed and new ones
//! are refused until [`TcpProxy::restore`]. It can also slow the server
//! down ([`TcpProxy::delay_responses`]): a slow but working server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct TcpProxy {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

struct State {
    up: AtomicBool,
    /// Milliseconds each chunk from the server waits before it is forwarded.
    delay_ms: AtomicU64,
    /// Cancelled by `cut` to end every open connection.
    connections: Mutex<CancellationToken>,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards every connection to `target`.
    pub async fn start(target: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            up: AtomicBool::new(true),
            delay_ms: AtomicU64::new(0),
            connections: Mutex::new(CancellationToken::new()),
        });
        let accept_state = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accept_state.up.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let Ok(token) = accept_state.connections.lock().map(|t| t.clone()) else {
                    continue;
                };
                let state = accept_state.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut from_client, mut to_client) = client.split();
                    let (mut from_server, mut to_server) = server.into_split();
                    let responses = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = from_server.read(&mut buf).await?;
                            if n == 0 {
                                return to_client.shutdown().await;
                            }
                            let delay = state.delay_ms.load(Ordering::SeqCst);
                            if delay > 0 {
                                tokio::time::sleep(Duration::from_millis(delay)).await;
                            }
                            to_client.write_all(&buf[..n]).await?;
                        }
                    };
                    let requests = async {
                        let _ = tokio::io::copy(&mut from_client, &mut to_server).await;
                        let _ = to_server.shutdown().await;
                        // The response may still be on its way.
                        std::future::pending::<()>().await
                    };
                    tokio::select! {
                        _ = token.cancelled() => {}
                        _ = requests => {}
                        _ = responses => {}
                    }
                });
            }
        });
        Ok(Self { addr, state, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://` URL of the proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes every open connection and refuses new ones.
    pub fn cut(&self) {
        self.state.up.store(false, Ordering::SeqCst);
        if let Ok(mut token) = self.state.connections.lock() {
            token.cancel();
            *token = CancellationToken::new();
        }
    }

    /// Holds every chunk the server sends for `delay` before forwarding it
    /// (zero: at once), so each response arrives that much later.
    pub fn delay_responses(&self, delay: Duration) {
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.state.delay_ms.store(millis, Ordering::SeqCst);
    }

    /// Forwards new connections again.
    pub fn restore(&self) {
        self.state.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}
