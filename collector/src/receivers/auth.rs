//! Bearer-token authentication for the TCP receivers.
//!
//! `--auth-bearer-tokens-file` holds one token per line (blank lines and `#`
//! comments ignored) and is re-read when its contents change, so tokens can
//! be rotated without a restart. Every gRPC call and HTTP request must carry
//! `authorization: Bearer <token>`; the comparison takes the same time
//! whichever byte differs, and a token is never logged. A refused request is
//! counted in `ferrotrace_collector_requests_unauthenticated_total`.
//!
//! A UTF-8 byte-order mark at the start of the file (Windows editors write
//! one) is not part of the first token. Emptying the file does not revoke the
//! tokens in service: a file without tokens is refused and the previous
//! tokens stay. To revoke them all, replace them with one new random token
//! that no client has.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue, StatusCode};

use super::reload::{Reloadable, Reloading};
use crate::metrics as m;
use crate::refusals::{self, Origin, Peer};

/// Why the token file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no token in the file")]
    Empty { path: PathBuf },
}

/// Why a request was refused; the message is what the client is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unauthenticated {
    Missing,
    Invalid,
}

impl Unauthenticated {
    pub fn message(self) -> &'static str {
        match self {
            Self::Missing => {
                "missing bearer token: send the header `authorization: Bearer <token>`"
            }
            Self::Invalid => "invalid bearer token",
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Invalid => "invalid",
        }
    }

    /// Counts the refusal for `receiver`.
    /// Counts and logs the refusal.
    pub fn record(self, origin: Origin) {
        metrics::counter!(m::REQUESTS_UNAUTHENTICATED, "receiver" => origin.receiver, "reason" => self.reason())
            .increment(1);
        refusals::request_refused(origin, "unauthenticated", &self.message(), || None);
    }
}

/// The accepted tokens, reloaded when the file changes.
pub type BearerTokens = Reloading<Tokens>;

/// The tokens of one version of the file.
pub struct Tokens(Vec<Vec<u8>>);

impl Reloadable for Tokens {
    type Error = TokensError;
    const WHAT: &'static str = "bearer tokens";
    const RELOADS: &'static str = m::AUTH_TOKENS_RELOADS;

    fn read_error(path: &Path, source: std::io::Error) -> TokensError {
        TokensError::Read {
            path: path.to_owned(),
            source,
        }
    }

    fn build(paths: &[PathBuf], contents: &[Vec<u8>]) -> Result<Self, TokensError> {
        parse(&paths[0], &contents[0]).map(Tokens)
    }
}

impl Reloading<Tokens> {
    /// Checks a request's `authorization` header.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Unauthenticated> {
        let presented = headers
            .get(header::AUTHORIZATION)
            .ok_or(Unauthenticated::Missing)?
            .as_bytes();
        let token = strip_bearer(presented).ok_or(Unauthenticated::Invalid)?;
        let tokens = self.current();
        // Every token is compared in full, so timing says nothing about which one nearly matched.
        let mut matched = false;
        for known in tokens.0.iter() {
            matched |= constant_time_eq(known, token);
        }
        if matched {
            Ok(())
        } else {
            Err(Unauthenticated::Invalid)
        }
    }
}

/// `Bearer <token>`, the scheme case-insensitive (RFC 7235).
fn strip_bearer(value: &[u8]) -> Option<&[u8]> {
    if value.len() < 7 || !value[..7].eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = value[7..].trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// Equality whose time depends only on the lengths, not on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= std::hint::black_box(x ^ y);
    }
    diff == 0
}

/// The UTF-8 encoding of U+FEFF, the byte-order mark.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

fn parse(path: &Path, contents: &[u8]) -> Result<Vec<Vec<u8>>, TokensError> {
    let contents = contents.strip_prefix(UTF8_BOM).unwrap_or(contents);
    let tokens: Vec<Vec<u8>> = contents
        .split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|line| !line.is_empty() && !line.starts_with(b"#"))
        .map(<[u8]>::to_vec)
        .collect();
    if tokens.is_empty() {
        return Err(TokensError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(tokens)
}

/// What the HTTP middleware and the gRPC layer need: the tokens and the receiver to count under.
#[derive(Clone)]
pub struct ReceiverAuth {
    pub tokens: Arc<BearerTokens>,
    pub receiver: &'static str,
}

/// axum middleware: 401 with a `WWW-Authenticate` challenge unless the token is known.
pub async fn require_bearer(
    State(auth): State<ReceiverAuth>,
    request: Request,
    next: Next,
) -> Response {
    match auth.tokens.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refused) => {
            let peer = request.extensions().get::<Peer>().map(|Peer(peer)| *peer);
            refused.record(Origin::new(auth.receiver, peer));
            let mut response = (StatusCode::UNAUTHORIZED, refused.message()).into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
    }
}

/// tower layer for tonic's server: every call, whatever its method, is
/// answered `UNAUTHENTICATED` unless it carries a known token (`None`: no check).
#[derive(Clone)]
pub struct GrpcAuthLayer(pub Option<ReceiverAuth>);

impl<S> tower::Layer<S> for GrpcAuthLayer {
    type Service = GrpcAuth<S>;

    fn layer(&self, inner: S) -> GrpcAuth<S> {
        GrpcAuth {
            inner,
            auth: self.0.clone(),
        }
    }
}

/// The service [`GrpcAuthLayer`] wraps around tonic's routes.
#[derive(Clone)]
pub struct GrpcAuth<S> {
    inner: S,
    auth: Option<ReceiverAuth>,
}

impl<S, B> tower::Service<http::Request<B>> for GrpcAuth<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if let Some(auth) = &self.auth {
            if let Err(refused) = auth.tokens.check(request.headers()) {
                let peer = request
                    .extensions()
                    .get::<tonic::transport::server::TcpConnectInfo>()
                    .and_then(|info| info.remote_addr());
                refused.record(Origin::new(auth.receiver, peer));
                let status = tonic::Status::unauthenticated(refused.message());
                return Box::pin(std::future::ready(Ok(status.into_http())));
            }
        }
        Box::pin(self.inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_header(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn tokens_file_skips_comments_and_blank_lines_and_reloads_on_change() {
        let dir = ferrotrace_testkit::TempDir::new("tokens-unit").unwrap();
        let path = dir
            .write("tokens", "# team a\n\n  alpha  \r\nbeta\n# gamma\n")
            .unwrap();
        let tokens = BearerTokens::load(vec![path.clone()]).unwrap();
        assert_eq!(tokens.check(&with_header("Bearer alpha")), Ok(()));
        assert_eq!(tokens.check(&with_header("bearer beta")), Ok(()));
        assert_eq!(
            tokens.check(&with_header("Bearer gamma")),
            Err(Unauthenticated::Invalid)
        );
        assert_eq!(
            tokens.check(&with_header("Bearer alph")),
            Err(Unauthenticated::Invalid)
        );
        assert_eq!(
            tokens.check(&with_header("Basic alpha")),
            Err(Unauthenticated::Invalid)
        );
        assert_eq!(
            tokens.check(&HeaderMap::new()),
            Err(Unauthenticated::Missing)
        );

        assert!(!tokens.reload_if_changed().unwrap());
        std::fs::write(&path, "# nothing left\n").unwrap();
        assert!(
            tokens.reload_if_changed().is_err(),
            "an empty file is refused"
        );
        assert_eq!(
            tokens.check(&with_header("Bearer alpha")),
            Ok(()),
            "old tokens kept"
        );
        std::fs::write(&path, "gamma\n").unwrap();
        assert!(tokens.reload_if_changed().unwrap());
        assert_eq!(tokens.check(&with_header("Bearer gamma")), Ok(()));
        assert_eq!(
            tokens.check(&with_header("Bearer alpha")),
            Err(Unauthenticated::Invalid)
        );
    }

    #[test]
    fn byte_order_mark_is_not_part_of_the_first_token() {
        let dir = ferrotrace_testkit::TempDir::new("tokens-bom").unwrap();
        let path = dir.write("tokens", "\u{FEFF}alpha\r\nbeta\r\n").unwrap();
        let tokens = BearerTokens::load(vec![path.clone()]).unwrap();
        assert_eq!(tokens.check(&with_header("Bearer alpha")), Ok(()));
        assert_eq!(tokens.check(&with_header("Bearer beta")), Ok(()));

        // Only at the start: a mark inside the file stays part of its token.
        std::fs::write(&path, "gamma\n\u{FEFF}delta\n").unwrap();
        assert!(tokens.reload_if_changed().unwrap());
        assert_eq!(tokens.check(&with_header("Bearer gamma")), Ok(()));
        assert_eq!(
            tokens.check(&with_header("Bearer delta")),
            Err(Unauthenticated::Invalid)
        );

        // A file holding only the mark holds no token.
        std::fs::write(&path, "\u{FEFF}\n").unwrap();
        assert!(matches!(
            tokens.reload_if_changed(),
            Err(TokensError::Empty { .. })
        ));
    }

    #[test]
    fn constant_time_eq_compares_whole_slices() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abc\0"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
