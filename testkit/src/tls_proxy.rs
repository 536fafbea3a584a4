//! A TLS-terminating, authenticating reverse proxy for integration tests,
//! and the throwaway PKI it serves: it puts `https://` and credentials in
//! front of a plain-HTTP test server (osmem) so a client's TLS and
//! authentication flags are proven against a real handshake.
//!
//! [`TestPki`] generates, with rcgen, a CA, a server certificate for
//! `localhost` and `127.0.0.1`, a client certificate signed by that CA, and
//! a second, unrelated CA with a client certificate of its own, all written
//! as PEM files. [`TlsProxy`] listens on `127.0.0.1:0`, terminates TLS with
//! rustls (ring, the provider reqwest already uses), optionally requires a
//! client certificate signed by the CA, and serves HTTP/1.1 with hyper: every
//! request on a keep-alive connection has its `Authorization` header checked,
//! answered 401 when wrong or missing, and otherwise forwarded to the
//! upstream. Counters of accepted and rejected requests and failed handshakes
//! let a test assert what actually reached the wire.
//!
//! [`TlsProxy::start_tcp`] is the same TLS front for a protocol other than
//! HTTP (Kafka in front of tansu, whose own TLS does not work): after the
//! handshake, bytes are copied both ways to the upstream unchanged. It takes
//! an already-bound listener so the caller knows the port before the
//! upstream starts (a broker must advertise the proxy's address).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::temp_dir::TempDir;

/// PEM files of a throwaway PKI, removed on drop.
pub struct TestPki {
    dir: TempDir,
    ca: CertificateDer<'static>,
    server_cert: CertificateDer<'static>,
    server_key: Vec<u8>,
    ca_pem: PathBuf,
    server_cert_pem: PathBuf,
    server_key_pem: PathBuf,
    other_ca_pem: PathBuf,
    client_cert_pem: PathBuf,
    client_key_pem: PathBuf,
    untrusted_client_cert_pem: PathBuf,
    untrusted_client_key_pem: PathBuf,
}

impl TestPki {
    /// Generates every key and certificate (ECDSA P-256) and writes the PEM files.
    pub fn generate() -> anyhow::Result<Self> {
        let dir = TempDir::new("ferrotrace-pki").context("creating the PKI directory")?;
        let ca = certificate_authority("ferrotrace test CA")?;
        let other_ca = certificate_authority("ferrotrace unrelated CA")?;

        let server_key = KeyPair::generate()?;
        let mut server = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])?;
        server
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        server.use_authority_key_identifier_extension = true;
        let server_cert = server.signed_by(&server_key, &ca)?;

        let (client_cert, client_key) = client_certificate(&ca)?;
        let (untrusted_cert, untrusted_key) = client_certificate(&other_ca)?;

        let write = |name: &str, pem: String| {
            dir.write(name, pem)
                .with_context(|| format!("writing {name}"))
        };
        Ok(Self {
            ca_pem: write("ca.pem", ca.pem())?,
            server_cert_pem: write("server.pem", server_cert.pem())?,
            server_key_pem: write("server-key.pem", server_key.serialize_pem())?,
            other_ca_pem: write("other-ca.pem", other_ca.pem())?,
            client_cert_pem: write("client.pem", client_cert)?,
            client_key_pem: write("client-key.pem", client_key)?,
            untrusted_client_cert_pem: write("untrusted-client.pem", untrusted_cert)?,
            untrusted_client_key_pem: write("untrusted-client-key.pem", untrusted_key)?,
            ca: ca.der().clone(),
            server_cert: server_cert.der().clone(),
            server_key: server_key.serialize_der(),
            dir,
        })
    }

    /// The directory holding the PEM files (and anything else a test puts there).
    pub fn dir(&self) -> &TempDir {
        &self.dir
    }

    /// The CA that signed the server and client certificates.
    pub fn ca_pem(&self) -> &Path {
        &self.ca_pem
    }

    /// A CA that signed neither: trusting it must not make the server trusted.
    /// The server certificate (`localhost`, `127.0.0.1`) signed by the CA.
    pub fn server_cert_pem(&self) -> &Path {
        &self.server_cert_pem
    }

    pub fn server_key_pem(&self) -> &Path {
        &self.server_key_pem
    }

    pub fn other_ca_pem(&self) -> &Path {
        &self.other_ca_pem
    }

    /// Client certificate signed by [`TestPki::ca_pem`].
    pub fn client_cert_pem(&self) -> &Path {
        &self.client_cert_pem
    }

    /// PKCS#8 key of [`TestPki::client_cert_pem`].
    pub fn client_key_pem(&self) -> &Path {
        &self.client_key_pem
    }

    /// Client certificate signed by [`TestPki::other_ca_pem`]: refused under mTLS.
    pub fn untrusted_client_cert_pem(&self) -> &Path {
        &self.untrusted_client_cert_pem
    }

    /// PKCS#8 key of [`TestPki::untrusted_client_cert_pem`].
    pub fn untrusted_client_key_pem(&self) -> &Path {
        &self.untrusted_client_key_pem
    }
}

fn certificate_authority(name: &str) -> anyhow::Result<CertifiedIssuer<'static, KeyPair>> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(CertifiedIssuer::self_signed(params, KeyPair::generate()?)?)
}

/// Certificate and key PEM of a client identity issued by `ca`.
fn client_certificate(ca: &CertifiedIssuer<'_, KeyPair>) -> anyhow::Result<(String, String)> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "ferrotrace-ingester");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, ca)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// The `Authorization` header the proxy demands of every request.
#[derive(Clone, Debug, Default)]
pub enum ProxyAuth {
    /// Any request passes.
    #[default]
    None,
    /// `Basic base64(username:password)`.
    Basic { username: String, password: String },
    /// `ApiKey <key>`, the key as given (base64 of `id:api_key`).
    ApiKey(String),
}

impl ProxyAuth {
    /// The exact header value accepted, if any is required.
    pub fn header(&self) -> Option<String> {
        match self {
            ProxyAuth::None => None,
            ProxyAuth::Basic { username, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
            ProxyAuth::ApiKey(key) => Some(format!("ApiKey {key}")),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct TlsProxyOptions {
    pub auth: ProxyAuth,
    /// mTLS: refuse the handshake unless the client presents a certificate
    /// signed by the PKI's CA.
    pub require_client_cert: bool,
}

/// What the proxy saw, shared with its connection tasks.
#[derive(Default)]
struct Stats {
    tls_connections: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
    handshake_failures: AtomicU64,
    handshake_errors: Mutex<Vec<String>>,
}

struct Route {
    upstream: SocketAddr,
    authorization: Option<HeaderValue>,
    http: reqwest::Client,
    stats: Arc<Stats>,
}

/// What the proxy does with a connection once TLS is up.
#[derive(Clone)]
enum Mode {
    /// HTTP/1.1 requests, each checked and forwarded.
    Http(Arc<Route>),
    /// Raw bytes, copied both ways to this upstream.
    Tcp(SocketAddr),
}

/// A running proxy; stops accepting and closes its connections on drop.
pub struct TlsProxy {
    addr: SocketAddr,
    stats: Arc<Stats>,
    stop: CancellationToken,
}

impl TlsProxy {
    /// Listens on a free loopback port with the PKI's server certificate and
    /// forwards authorized requests to `upstream` over plain HTTP.
    pub async fn start(
        upstream: SocketAddr,
        pki: &TestPki,
        options: TlsProxyOptions,
    ) -> anyhow::Result<Self> {
        let mut config = server_config(pki, &options)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let stats = Arc::new(Stats::default());
        let authorization = options
            .auth
            .header()
            .map(|h| HeaderValue::from_str(&h))
            .transpose()
            .context("credentials that fit an HTTP header")?;
        let route = Arc::new(Route {
            upstream,
            authorization,
            http: reqwest::Client::builder().no_proxy().build()?,
            stats: stats.clone(),
        });
        Self::spawn(listener, config, Mode::Http(route), stats)
    }

    /// Terminates TLS on `listener` (bound by the caller, so its port can be
    /// advertised before the upstream starts) and copies the bytes of each
    /// connection both ways to `upstream`, over plain TCP. `options.auth`
    /// must be [`ProxyAuth::None`]: there are no requests to check.
    pub async fn start_tcp(
        listener: TcpListener,
        upstream: SocketAddr,
        pki: &TestPki,
        options: TlsProxyOptions,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            matches!(options.auth, ProxyAuth::None),
            "a raw TCP proxy cannot check an Authorization header"
        );
        let config = server_config(pki, &options)?;
        Self::spawn(
            listener,
            config,
            Mode::Tcp(upstream),
            Arc::new(Stats::default()),
        )
    }

    fn spawn(
        listener: TcpListener,
        config: ServerConfig,
        mode: Mode,
        stats: Arc<Stats>,
    ) -> anyhow::Result<Self> {
        let addr = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let stop = CancellationToken::new();
        let accept_stop = stop.clone();
        let conn_stats = stats.clone();
        tokio::spawn(async move {
            loop {
                let tcp = tokio::select! {
                    _ = accept_stop.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((tcp, _)) => tcp,
                        Err(_) => continue,
                    },
                };
                tokio::spawn(serve(
                    tcp,
                    acceptor.clone(),
                    mode.clone(),
                    conn_stats.clone(),
                    accept_stop.clone(),
                ));
            }
        });
        Ok(Self { addr, stats, stop })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:<port>`: the server certificate names the IP.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Connections whose TLS handshake succeeded.
    pub fn tls_connections(&self) -> u64 {
        self.stats.tls_connections.load(Ordering::SeqCst)
    }

    /// Requests that passed the `Authorization` check and were forwarded.
    pub fn accepted(&self) -> u64 {
        self.stats.accepted.load(Ordering::SeqCst)
    }

    /// Requests answered 401.
    pub fn rejected(&self) -> u64 {
        self.stats.rejected.load(Ordering::SeqCst)
    }

    /// Connections whose TLS handshake failed (untrusted certificate on
    /// either side, missing client certificate, not TLS at all).
    pub fn handshake_failures(&self) -> u64 {
        self.stats.handshake_failures.load(Ordering::SeqCst)
    }

    /// rustls' reason for each failed handshake, in order.
    pub fn handshake_errors(&self) -> Vec<String> {
        self.stats
            .handshake_errors
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn server_config(pki: &TestPki, options: &TlsProxyOptions) -> anyhow::Result<ServerConfig> {
    // Explicit provider: no process-wide default to install, and no chance
    // of picking aws-lc-rs should another crate enable it.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = if options.require_client_cert {
        let mut roots = RootCertStore::empty();
        roots.add(pki.ca.clone())?;
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key.clone()));
    Ok(builder.with_single_cert(vec![pki.server_cert.clone()], key)?)
}

/// One connection: the handshake, then HTTP/1.1 requests or raw bytes
/// until either side closes or the proxy stops.
async fn serve(
    tcp: TcpStream,
    acceptor: TlsAcceptor,
    mode: Mode,
    stats: Arc<Stats>,
    stop: CancellationToken,
) {
    let mut tls = tokio::select! {
        _ = stop.cancelled() => return,
        handshake = acceptor.accept(tcp) => match handshake {
            Ok(tls) => tls,
            Err(error) => {
                stats.handshake_failures.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut errors) = stats.handshake_errors.lock() {
                    errors.push(error.to_string());
                }
                return;
            }
        },
    };
    stats.tls_connections.fetch_add(1, Ordering::SeqCst);
    match mode {
        Mode::Http(route) => {
            let service = service_fn(move |request| handle(route.clone(), request));
            let connection = http1::Builder::new().serve_connection(TokioIo::new(tls), service);
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = connection => {}
            }
        }
        Mode::Tcp(upstream) => {
            let Ok(mut upstream) = TcpStream::connect(upstream).await else {
                return;
            };
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream) => {}
            }
        }
    }
}

async fn handle(
    route: Arc<Route>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if let Some(expected) = &route.authorization {
        if request.headers().get(header::AUTHORIZATION) != Some(expected) {
            route.stats.rejected.fetch_add(1, Ordering::SeqCst);
            return Ok(unauthorized());
        }
    }
    route.stats.accepted.fetch_add(1, Ordering::SeqCst);
    Ok(forward(&route, request).await.unwrap_or_else(|error| {
        json_response(
            StatusCode::BAD_GATEWAY,
            serde_json::json!({"error": {"type": "proxy_error", "reason": format!("{error:#}")}, "status": 502}),
        )
    }))
}

/// Sends the request on to the upstream, without the credentials and the
/// hop-by-hop headers, and returns its answer whole.
async fn forward(
    route: &Route,
    request: Request<Incoming>,
) -> anyhow::Result<Response<Full<Bytes>>> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut upstream = route
        .http
        .request(parts.method, format!("http://{}{target}", route.upstream))
        .body(body);
    for (name, value) in &parts.headers {
        if !is_hop_by_hop(name) && name != header::AUTHORIZATION {
            upstream = upstream.header(name, value);
        }
    }
    let answer = upstream.send().await?;
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if !is_hop_by_hop(name) {
            response = response.header(name, value);
        }
    }
    Ok(response.body(Full::new(answer.bytes().await?))?)
}

fn is_hop_by_hop(name: &header::HeaderName) -> bool {
    [
        header::HOST,
        header::CONNECTION,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::TE,
        header::UPGRADE,
    ]
    .contains(name)
}

/// Elasticsearch's answer to missing or wrong credentials.
fn unauthorized() -> Response<Full<Bytes>> {
    let mut response = json_response(
        StatusCode::UNAUTHORIZED,
        serde_json::json!({
            "error": {
                "type": "security_exception",
                "reason": "unable to authenticate user",
            },
            "status": 401,
        }),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"security\" charset=\"UTF-8\""),
    );
    response
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::wait_until;

    #[test]
    fn basic_and_api_key_headers_are_what_elasticsearch_expects() {
        let basic = ProxyAuth::Basic {
            username: "elastic".into(),
            password: "s3cret".into(),
        };
        assert_eq!(
            basic.header().as_deref(),
            Some("Basic ZWxhc3RpYzpzM2NyZXQ=")
        );
        assert_eq!(
            ProxyAuth::ApiKey("aWQ6a2V5".into()).header().as_deref(),
            Some("ApiKey aWQ6a2V5")
        );
        assert_eq!(ProxyAuth::None.header(), None);
    }

    /// A plain-HTTP upstream answering `GET /` with `ok`.
    async fn upstream() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    fn client(pki: &TestPki, identity: Option<(&Path, &Path)>) -> reqwest::Client {
        let ca = std::fs::read(pki.ca_pem()).unwrap();
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap());
        if let Some((cert, key)) = identity {
            let mut pem = std::fs::read(cert).unwrap();
            pem.extend(std::fs::read(key).unwrap());
            builder = builder.identity(reqwest::Identity::from_pem(&pem).unwrap());
        }
        builder.build().unwrap()
    }

    #[tokio::test]
    async fn checks_basic_auth_on_every_request_over_tls() {
        let pki = TestPki::generate().unwrap();
        let auth = ProxyAuth::Basic {
            username: "elastic".into(),
            password: "s3cret".into(),
        };
        let options = TlsProxyOptions {
            auth,
            require_client_cert: false,
        };
        let proxy = TlsProxy::start(upstream().await, &pki, options)
            .await
            .unwrap();
        let http = client(&pki, None);
        // One keep-alive connection: each request is checked, not just the first.
        for (password, status) in [("s3cret", 200), ("wrong", 401), ("s3cret", 200)] {
            let response = http
                .get(proxy.url())
                .basic_auth("elastic", Some(password))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), status, "{password}");
        }
        let missing = http.get(proxy.url()).send().await.unwrap();
        assert_eq!(missing.status().as_u16(), 401);
        assert!(missing.text().await.unwrap().contains("security_exception"));
        assert_eq!((proxy.accepted(), proxy.rejected()), (2, 2));
        assert_eq!(proxy.handshake_failures(), 0);

        // A client that does not trust the CA never gets to send a request.
        let stranger = reqwest::Client::builder().no_proxy().build().unwrap();
        assert!(stranger.get(proxy.url()).send().await.is_err());
        assert!(
            wait_until(Duration::from_secs(5), || async {
                proxy.handshake_failures() == 1
            })
            .await
        );
        assert_eq!((proxy.accepted(), proxy.rejected()), (2, 2));
    }

    #[tokio::test]
    async fn mutual_tls_requires_a_client_certificate_from_the_ca() {
        let pki = TestPki::generate().unwrap();
        let options = TlsProxyOptions {
            auth: ProxyAuth::None,
            require_client_cert: true,
        };
        let proxy = TlsProxy::start(upstream().await, &pki, options)
            .await
            .unwrap();
        let trusted = client(&pki, Some((pki.client_cert_pem(), pki.client_key_pem())));
        let response = trusted.get(proxy.url()).send().await.unwrap();
        assert_eq!(response.text().await.unwrap(), "ok");
        for identity in [
            None,
            Some((
                pki.untrusted_client_cert_pem(),
                pki.untrusted_client_key_pem(),
            )),
        ] {
            let refused = client(&pki, identity).get(proxy.url()).send().await;
            assert!(refused.is_err(), "{refused:?}");
        }
        assert!(
            wait_until(Duration::from_secs(5), || async {
                proxy.handshake_failures() == 2
            })
            .await,
            "{:?}",
            proxy.handshake_errors()
        );
        assert_eq!(proxy.accepted(), 1);
    }

    /// A TCP upstream that echoes every byte back.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = tcp.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn raw_tcp_mode_forwards_bytes_after_the_handshake() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let pki = TestPki::generate().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = TlsProxy::start_tcp(listener, echo().await, &pki, TlsProxyOptions::default())
            .await
            .unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(pki.ca.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(proxy.addr()).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        tls.write_all(b"not http at all").await.unwrap();
        let mut echoed = [0u8; 15];
        tls.read_exact(&mut echoed).await.unwrap();
        assert_eq!(&echoed, b"not http at all");
        assert_eq!(
            (proxy.tls_connections(), proxy.handshake_failures()),
            (1, 0)
        );

        // Plain TCP is not let through.
        let mut plain = TcpStream::connect(proxy.addr()).await.unwrap();
        plain.write_all(b"\0\0\0\x10hello kafka").await.unwrap();
        assert!(
            wait_until(Duration::from_secs(5), || async {
                proxy.handshake_failures() == 1
            })
            .await
        );
        assert!(TlsProxy::start_tcp(
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
            proxy.addr(),
            &pki,
            TlsProxyOptions {
                auth: ProxyAuth::ApiKey("a2V5".into()),
                require_client_cert: false,
            },
        )
        .await
        .is_err());
    }

    #[test]
    fn pki_files_are_pem_and_removed_on_drop() {
        let pki = TestPki::generate().unwrap();
        let dir = pki.dir().path().to_owned();
        for (path, label) in [
            (pki.ca_pem(), "CERTIFICATE"),
            (pki.other_ca_pem(), "CERTIFICATE"),
            (pki.client_cert_pem(), "CERTIFICATE"),
            (pki.client_key_pem(), "PRIVATE KEY"),
            (pki.untrusted_client_cert_pem(), "CERTIFICATE"),
            (pki.untrusted_client_key_pem(), "PRIVATE KEY"),
        ] {
            let pem = std::fs::read_to_string(path).unwrap();
            assert!(
                pem.starts_with(&format!("-----BEGIN {label}-----")),
                "{}: {pem}",
                path.display()
            );
        }
        assert_ne!(
            std::fs::read(pki.ca_pem()).unwrap(),
            std::fs::read(pki.other_ca_pem()).unwrap()
        );
        drop(pki);
        assert!(!dir.exists());
    }
}
