//! The Elasticsearch client: connection pool over `--es-url`, credentials
//! (basic, API key or client certificate) and TLS trust from the `--es-*`
//! flags, detection of the server's flavour and version from `GET /`,
//! template installation, and the two calls of the shared scroll reader.
//!
//! Errors say whether retrying can help, because the ingester retries
//! transient failures forever and must never retry a permanent one. Problems
//! in the connection flags (a missing file, a PEM that does not parse) are
//! found by [`EsClient::new`] before any request, so `Config::validate` can
//! report them in one line at start. Secrets never reach a log: they travel in
//! [`Secret`], whose `Debug` prints `***`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use elasticsearch::auth::{ClientCertificate, Credentials};
use elasticsearch::cert::{Certificate, CertificateValidation};
use elasticsearch::http::headers::{HeaderMap, HeaderValue, CONTENT_TYPE};
use elasticsearch::http::transport::{
    BuildError, MultiNodeConnectionPool, SingleNodeConnectionPool, TransportBuilder,
};
use elasticsearch::http::{Method, StatusCode, Url};
use elasticsearch::Elasticsearch;
use ferrotrace_common::es_scroll::{ScrollError, SearchClient};

use super::templates::{templates, TemplateApi, TemplateOptions};

/// Which server answers, decided from `GET /`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    Elasticsearch { major: u32 },
    OpenSearch { major: u32 },
}

impl Flavour {
    /// The template API Jaeger uses for this server.
    pub fn template_api(self) -> TemplateApi {
        match self {
            Flavour::Elasticsearch { major } => TemplateApi::for_backend(false, major),
            Flavour::OpenSearch { major } => TemplateApi::for_backend(true, major),
        }
    }
}

/// A failed Elasticsearch call, split by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum EsError {
    /// Connection trouble, timeouts, 429 and 5xx: retry later.
    #[error("elasticsearch unavailable: {0}")]
    Transient(String),
    /// Anything retrying cannot fix (bad request, auth, mapping).
    #[error("elasticsearch refused: {0}")]
    Permanent(String),
}

impl EsError {
    pub fn is_transient(&self) -> bool {
        matches!(self, EsError::Transient(_))
    }
}

/// Whether an HTTP status of Elasticsearch is worth retrying.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// A password or API key: `Debug` prints `***`, so a `{config:?}` or an
/// error message cannot leak it.
#[derive(Clone)]
pub struct Secret(String);

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How to reach Elasticsearch: the `--es-*` connection flags as given.
/// Files are read, and checked, by [`EsClient::new`].
#[derive(Clone, Debug)]
pub struct EsConnection {
    pub urls: Vec<String>,
    pub timeout: Duration,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    /// Base64 of `id:api_key`, sent as `Authorization: ApiKey <key>`.
    pub api_key: Option<Secret>,
    pub api_key_file: Option<PathBuf>,
    /// PEM bundle added to the trusted roots.
    pub tls_ca: Option<PathBuf>,
    /// Accept any server certificate (Jaeger's `es.tls.skip-host-verify`,
    /// which is Go's `InsecureSkipVerify`: neither chain nor name checked).
    pub tls_skip_host_verify: bool,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

impl EsConnection {
    /// Plain connection: no credentials, default certificate checks.
    pub fn new(urls: Vec<String>, timeout: Duration) -> Self {
        Self {
            urls,
            timeout,
            username: None,
            password: None,
            password_file: None,
            api_key: None,
            api_key_file: None,
            tls_ca: None,
            tls_skip_host_verify: false,
            tls_cert: None,
            tls_key: None,
        }
    }

    /// The one kind of credentials the client sends: the `elasticsearch`
    /// crate holds a single [`Credentials`], so basic, API key and client
    /// certificate exclude each other.
    fn credentials(&self) -> Result<Option<Credentials>, SetupError> {
        let password = match (&self.password, &self.password_file) {
            (Some(_), Some(_)) => {
                return Err(SetupError::Flags(
                    "--es-password and --es-password-file exclude each other",
                ))
            }
            (Some(password), None) => Some(password.clone()),
            (None, Some(path)) => Some(read_secret("--es-password-file", path)?),
            (None, None) => None,
        };
        let api_key = match (&self.api_key, &self.api_key_file) {
            (Some(_), Some(_)) => {
                return Err(SetupError::Flags(
                    "--es-api-key and --es-api-key-file exclude each other",
                ))
            }
            (Some(key), None) => Some(key.clone()),
            (None, Some(path)) => Some(read_secret("--es-api-key-file", path)?),
            (None, None) => None,
        };
        let identity = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(read_identity(cert, key)?),
            (None, None) => None,
            _ => {
                return Err(SetupError::Flags(
                    "--es-tls-cert and --es-tls-key go together",
                ))
            }
        };
        match (&self.username, password, api_key, identity) {
            (None, None, None, None) => Ok(None),
            (Some(username), Some(password), None, None) => {
                Ok(Some(Credentials::Basic(username.clone(), password.0)))
            }
            (Some(_), None, None, None) => Err(SetupError::Flags(
                "--es-username needs --es-password or --es-password-file",
            )),
            (None, Some(_), None, None) => Err(SetupError::Flags(
                "--es-password and --es-password-file need --es-username",
            )),
            (None, None, Some(key), None) => {
                // The crate unwraps this header value on every request; check it once here.
                if HeaderValue::from_str(&format!("ApiKey {}", key.0)).is_err() {
                    return Err(SetupError::Flags(
                        "--es-api-key holds characters not allowed in an HTTP header",
                    ));
                }
                Ok(Some(Credentials::EncodedApiKey(key.0)))
            }
            (None, None, None, Some(pem)) => {
                Ok(Some(Credentials::Certificate(ClientCertificate::Pem(pem))))
            }
            _ => Err(SetupError::Flags(
                "--es-username, --es-api-key and --es-tls-cert exclude each other: the client sends one kind of credentials",
            )),
        }
    }

    /// How the server's certificate is checked. Skipping verification wins
    /// over a CA (as in Jaeger); the CA file is still read, so a typo in its
    /// path fails at start rather than the day verification is turned on.
    fn cert_validation(&self) -> Result<Option<CertificateValidation>, SetupError> {
        let ca = self.tls_ca.as_deref().map(read_ca).transpose()?;
        Ok(match (ca, self.tls_skip_host_verify) {
            (_, true) => Some(CertificateValidation::None),
            (Some(ca), false) => Some(CertificateValidation::Full(ca)),
            (None, false) => None,
        })
    }

    fn auth_kind(&self) -> &'static str {
        if self.username.is_some() {
            "basic"
        } else if self.api_key.is_some() || self.api_key_file.is_some() {
            "api_key"
        } else if self.tls_cert.is_some() {
            "client_certificate"
        } else {
            "none"
        }
    }
}

/// Why the client cannot be built. All of these are configuration mistakes:
/// retrying cannot help, and each renders as one line naming the flag.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("invalid --es-url {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("{flag} {}: {reason}", path.display())]
    File {
        flag: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{0}")]
    Flags(&'static str),
    #[error("building the elasticsearch client: {0}")]
    Build(String),
}

#[derive(Clone)]
pub struct EsClient {
    inner: Elasticsearch,
    timeout: Duration,
}

impl EsClient {
    /// Builds the client; reads the password, API key, CA and client
    /// certificate files. Sends nothing.
    pub fn new(connection: &EsConnection) -> Result<Self, SetupError> {
        let urls = connection
            .urls
            .iter()
            .filter(|u| !u.trim().is_empty())
            .map(|u| {
                Url::parse(u.trim()).map_err(|e| SetupError::Url {
                    url: u.clone(),
                    reason: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let credentials = connection.credentials()?;
        let validation = connection.cert_validation()?;
        let tls_flags = connection.tls_ca.is_some()
            || connection.tls_skip_host_verify
            || connection.tls_cert.is_some();
        if tls_flags && urls.iter().all(|u| u.scheme() != "https") {
            tracing::warn!("--es-tls-* flags have no effect: no --es-url uses https");
        }
        if connection.tls_skip_host_verify {
            tracing::warn!(
                "--es-tls-skip-host-verify: elasticsearch certificates are not verified"
            );
        }
        let pool = MultiNodeConnectionPool::round_robin(urls, None);
        let mut builder = TransportBuilder::new(pool)
            .timeout(connection.timeout)
            .disable_proxy();
        if let Some(credentials) = credentials {
            builder = builder.auth(credentials);
        }
        if let Some(validation) = validation {
            builder = builder.cert_validation(validation);
        }
        let transport = builder
            .build()
            .map_err(|e| SetupError::Build(build_error(&e)))?;
        tracing::info!(
            auth = connection.auth_kind(),
            tls_ca = connection.tls_ca.is_some(),
            "elasticsearch client configured"
        );
        Ok(Self {
            inner: Elasticsearch::new(transport),
            timeout: connection.timeout,
        })
    }

    /// Sends one request and returns status and body; transport errors and
    /// retryable statuses become [`EsError::Transient`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        content_type: &'static str,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes), EsError> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        let response = self
            .inner
            .send::<Bytes, ()>(method, path, headers, None, body, Some(self.timeout))
            .await
            .map_err(|e| EsError::Transient(error_chain(&e)))?;
        let status = response.status_code();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| EsError::Transient(format!("reading response: {e}")))?;
        if is_retryable_status(status.as_u16()) {
            return Err(EsError::Transient(format!(
                "{method:?} {path} answered {status}: {}",
                snippet(&bytes)
            )));
        }
        Ok((status, bytes))
    }

    /// Asks `GET /` which server this is.
    pub async fn detect_flavour(&self) -> Result<Flavour, EsError> {
        let (status, body) = self
            .request(Method::Get, "/", "application/json", None)
            .await?;
        if !status.is_success() {
            return Err(refused("GET /", status, &body));
        }
        parse_flavour(&body).map_err(EsError::Permanent)
    }

    /// Sends a JSON request and parses the JSON answer (`Null` for an empty
    /// one). A status that is neither 2xx nor in `also_ok` is a permanent
    /// error naming the request, with Elasticsearch's answer.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        also_ok: &[u16],
    ) -> Result<(u16, serde_json::Value), EsError> {
        let (status, answer) = self.json_as(method, path, body, also_ok).await?;
        Ok((status, answer.unwrap_or(serde_json::Value::Null)))
    }

    /// [`EsClient::json`] parsing the answer straight into `T` (no JSON tree
    /// in between, which matters for large search pages); `None` for an
    /// empty answer, and for an answer with a non-2xx status from `also_ok`
    /// (e.g. a 404 the caller expects), which is not parsed.
    pub async fn json_as<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        also_ok: &[u16],
    ) -> Result<(u16, Option<T>), EsError> {
        let body = body.map(|b| Bytes::from(b.to_string()));
        let (status, answer) = self.request(method, path, "application/json", body).await?;
        let request = format!("{} {path}", method_name(method));
        if !status.is_success() {
            if also_ok.contains(&status.as_u16()) {
                return Ok((status.as_u16(), None));
            }
            return Err(refused(&request, status, &answer));
        }
        if answer.is_empty() {
            return Ok((status.as_u16(), None));
        }
        let value = serde_json::from_slice(&answer).map_err(|e| {
            EsError::Permanent(format!(
                "{request}: unexpected answer ({e}): {}",
                snippet(&answer)
            ))
        })?;
        Ok((status.as_u16(), Some(value)))
    }

    /// Installs Jaeger's span, service and dependencies templates.
    pub async fn install_templates(
        &self,
        flavour: Flavour,
        options: &TemplateOptions,
    ) -> Result<(), EsError> {
        let api = flavour.template_api();
        let endpoint = api.path();
        for (name, body) in templates(api, options) {
            let path = format!("/{endpoint}/{name}");
            let (status, response) = self
                .request(
                    Method::Put,
                    &path,
                    "application/json",
                    Some(Bytes::from(body.to_string())),
                )
                .await?;
            if !status.is_success() {
                return Err(refused(&format!("PUT {path}"), status, &response));
            }
            tracing::info!(template = %name, api = endpoint, "index template installed");
        }
        Ok(())
    }
}

/// The scroll reader of `ferrotrace_common` reads through this client, with
/// its credentials and TLS trust.
impl SearchClient for EsClient {
    type Error = EsError;

    async fn post_json<T: serde::de::DeserializeOwned + Send>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Option<T>, EsError> {
        match self.json_as(Method::Post, path, Some(body), &[404]).await? {
            (404, _) => Ok(None),
            (_, Some(answer)) => Ok(Some(answer)),
            (_, None) => Err(EsError::Permanent("empty answer".into())),
        }
    }

    async fn delete_json(&self, path: &str, body: &serde_json::Value) {
        let _ = self.json(Method::Delete, path, Some(body), &[404]).await;
    }
}

impl From<ScrollError> for EsError {
    fn from(error: ScrollError) -> Self {
        EsError::Permanent(error.to_string())
    }
}

fn parse_flavour(body: &[u8]) -> Result<Flavour, String> {
    let info: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("GET / is not JSON: {e}"))?;
    let number = info["version"]["number"]
        .as_str()
        .ok_or("GET / has no version.number")?;
    let major = number
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or(format!("unparsable version {number:?}"))?;
    Ok(
        if info["version"]["distribution"].as_str() == Some("opensearch") {
            Flavour::OpenSearch { major }
        } else {
            Flavour::Elasticsearch { major }
        },
    )
}

/// A permanent refusal, with a hint for the statuses a flag can fix.
/// The HTTP verb, for messages.
pub fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Put => "PUT",
        Method::Post => "POST",
        Method::Delete => "DELETE",
        Method::Head => "HEAD",
    }
}

fn refused(request: &str, status: StatusCode, body: &[u8]) -> EsError {
    let hint = match status.as_u16() {
        401 => " (credentials missing or rejected: check --es-username and --es-password/--es-password-file, or --es-api-key)",
        403 => " (the user lacks a privilege this request needs)",
        _ => "",
    };
    EsError::Permanent(format!(
        "{request} answered {status}{hint}: {}",
        snippet(body)
    ))
}

fn read_file(flag: &'static str, path: &Path) -> Result<Vec<u8>, SetupError> {
    std::fs::read(path).map_err(|e| SetupError::File {
        flag,
        path: path.to_owned(),
        reason: format!("cannot read: {e}"),
    })
}

/// A password or key file as Kubernetes mounts a Secret: one value, maybe
/// followed by a newline that is not part of it.
fn read_secret(flag: &'static str, path: &Path) -> Result<Secret, SetupError> {
    let invalid = |reason: &str| SetupError::File {
        flag,
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    ferrotrace_common::config::read_secret_file(path)
        .map(Secret)
        .map_err(|reason| invalid(&reason))
}

/// One or more PEM certificates for the trusted roots.
fn read_ca(path: &Path) -> Result<Certificate, SetupError> {
    const FLAG: &str = "--es-tls-ca";
    let pem = read_file(FLAG, path)?;
    let invalid = |reason: String| SetupError::File {
        flag: FLAG,
        path: path.to_owned(),
        reason,
    };
    let parse = || {
        Certificate::from_pem(&pem)
            .map_err(|e| invalid(format!("no PEM certificate: {}", error_chain(&e))))
    };
    probe(
        TransportBuilder::new(SingleNodeConnectionPool::default())
            .cert_validation(CertificateValidation::Full(parse()?)),
    )
    .map_err(|reason| invalid(format!("not a valid certificate: {reason}")))?;
    parse()
}

/// Certificate chain and private key, concatenated as the crate wants them.
fn read_identity(cert: &Path, key: &Path) -> Result<Vec<u8>, SetupError> {
    let mut pem = read_file("--es-tls-cert", cert)?;
    pem.push(b'\n');
    pem.extend(read_file("--es-tls-key", key)?);
    probe(
        TransportBuilder::new(SingleNodeConnectionPool::default())
            .auth(ClientCertificate::Pem(pem.clone()).into()),
    )
    .map_err(|reason| SetupError::File {
        flag: "--es-tls-cert",
        path: cert.to_owned(),
        reason: format!(
            "with --es-tls-key {}: not a PEM certificate and private key: {reason}",
            key.display()
        ),
    })?;
    Ok(pem)
}

/// The crate hands certificates and keys to rustls only when a transport is
/// built, so a throwaway transport holding one of them tells which flag is
/// at fault.
fn probe(builder: TransportBuilder) -> Result<(), String> {
    builder.build().map(drop).map_err(|e| build_error(&e))
}

/// `BuildError` implements only the deprecated `cause`, so its `source`
/// chain is empty: unwrap the reqwest error by hand to keep rustls' reason.
fn build_error(error: &BuildError) -> String {
    match error {
        BuildError::Cert(inner) => error_chain(inner),
        other => error_chain(other),
    }
}

/// An error and its causes on one line: reqwest's "error sending request"
/// alone does not say whether DNS, TCP or the TLS handshake failed.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

/// The first bytes of a response body, for error messages.
pub fn snippet(body: &[u8]) -> String {
    let end = body.len().min(300);
    String::from_utf8_lossy(&body[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavour_is_detected_from_the_root_endpoint() {
        let os = br#"{"version":{"distribution":"opensearch","number":"2.11.1"}}"#;
        assert_eq!(parse_flavour(os).unwrap(), Flavour::OpenSearch { major: 2 });
        let es7 = br#"{"version":{"number":"7.17.9","build_flavor":"default"}}"#;
        assert_eq!(
            parse_flavour(es7).unwrap(),
            Flavour::Elasticsearch { major: 7 }
        );
        assert_eq!(
            parse_flavour(es7).unwrap().template_api(),
            TemplateApi::Legacy
        );
        let es8 = br#"{"version":{"number":"8.15.0"}}"#;
        assert_eq!(
            parse_flavour(es8).unwrap().template_api(),
            TemplateApi::Composable
        );
        assert!(parse_flavour(b"{}").is_err());
    }

    /// A throwaway EC P-256 self-signed certificate and its key, made with
    /// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1
    /// -nodes -days 36500 -subj /CN=ferrotrace-test-ca`. Test data only.
    const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBkDCCATegAwIBAgIUBHMCyEWEo29KG4XZ8xj5u0BPw8QwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSZmVycm90cmFjZS10ZXN0LWNhMCAXDTI2MTEyNjAzNDkzNloY
DzIxMjYxMTAyMDM0OTM2WjAdMRswGQYDVQQDDBJmZXJyb3RyYWNlLXRlc3QtY2Ew
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAR01I5imhAzMyAc3mDUlgQT23nm73z/
bJZHxz2mZ2onpOJBKoTLI2pC2LMu/DnSzbJBHVX4owA3KCBsGvzAzpsho1MwUTAd
BgNVHQ4EFgQUCiEO44V8X7futE9j73t9P4iZTIQwHwYDVR0jBBgwFoAUCiEO44V8
X7futE9j73t9P4iZTIQwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBE
AiBMa3V8eQi+WsPZXWNOYg39AOEwuGaKBh9eCjF2yzOwZgIgEqDvztag6LAbEChF
QZrrrfLnsnLwSn1AK17u8Pozpkg=
-----END CERTIFICATE-----
";
    const TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgUPv4P1n8jW8H83l+
xr/tOJNuZDUfKbebd0dy7tvqwsehRANCAAR01I5imhAzMyAc3mDUlgQT23nm73z/
bJZHxz2mZ2onpOJBKoTLI2pC2LMu/DnSzbJBHVX4owA3KCBsGvzAzpsh
-----END PRIVATE KEY-----
";

    /// A file in the temp directory, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, contents: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "ferrotrace-es-client-{}-{name}",
                std::process::id()
            ));
            std::fs::write(&path, contents).unwrap();
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn https() -> EsConnection {
        EsConnection::new(vec!["https://es:9200".into()], Duration::from_secs(5))
    }

    #[test]
    fn secrets_are_masked_in_debug() {
        let connection = EsConnection {
            username: Some("elastic".into()),
            password: Some(Secret::from("hunter2".to_string())),
            api_key: Some(Secret::from("a2V5OnNlY3JldA==".to_string())),
            ..https()
        };
        let debug = format!("{connection:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("a2V5"),
            "{debug}"
        );
        assert!(debug.contains("***"), "{debug}");
    }

    #[test]
    fn password_file_loses_its_trailing_newline_only() {
        let file = TempFile::new("password", "  pass word \r\n");
        let connection = EsConnection {
            username: Some("elastic".into()),
            password_file: Some(file.0.clone()),
            ..https()
        };
        match connection.credentials().unwrap() {
            Some(Credentials::Basic(user, password)) => {
                assert_eq!(
                    (user.as_str(), password.as_str()),
                    ("elastic", "  pass word ")
                )
            }
            other => panic!("expected basic credentials, got {other:?}"),
        }
        let empty = TempFile::new("empty-password", "\n");
        let connection = EsConnection {
            password_file: Some(empty.0.clone()),
            ..connection
        };
        let error = connection.credentials().unwrap_err().to_string();
        assert!(
            error.starts_with("--es-password-file ") && error.ends_with(": empty"),
            "{error}"
        );
    }

    #[test]
    fn api_key_is_sent_as_given_and_must_fit_a_header() {
        let connection = EsConnection {
            api_key: Some(Secret::from("a2V5OnNlY3JldA==".to_string())),
            ..https()
        };
        assert!(matches!(
            connection.credentials().unwrap(),
            Some(Credentials::EncodedApiKey(key)) if key == "a2V5OnNlY3JldA=="
        ));
        let file = TempFile::new("api-key", "a2V5OnNlY3JldA==\n");
        let from_file = EsConnection {
            api_key: None,
            api_key_file: Some(file.0.clone()),
            ..connection.clone()
        };
        assert!(matches!(
            from_file.credentials().unwrap(),
            Some(Credentials::EncodedApiKey(key)) if key == "a2V5OnNlY3JldA=="
        ));
        let bad = EsConnection {
            api_key: Some(Secret::from("line\nbreak".to_string())),
            ..connection
        };
        assert!(EsClient::new(&bad).is_err());
    }

    #[test]
    fn credentials_of_two_kinds_are_refused() {
        let connection = EsConnection {
            username: Some("elastic".into()),
            password: Some(Secret::from("pw".to_string())),
            api_key: Some(Secret::from("a2V5".to_string())),
            ..https()
        };
        let error = EsClient::new(&connection).err().unwrap().to_string();
        assert!(error.contains("exclude each other"), "{error}");
    }

    #[test]
    fn ca_file_with_one_or_more_certificates_is_loaded() {
        let one = TempFile::new("ca-one.pem", TEST_CA);
        let two = TempFile::new("ca-two.pem", &format!("{TEST_CA}{TEST_CA}"));
        for file in [&one, &two] {
            let connection = EsConnection {
                tls_ca: Some(file.0.clone()),
                ..https()
            };
            assert!(matches!(
                connection.cert_validation().unwrap(),
                Some(CertificateValidation::Full(ca)) if !ca.is_empty()
            ));
            assert!(EsClient::new(&connection).is_ok());
        }
        let skip = EsConnection {
            tls_ca: Some(one.0.clone()),
            tls_skip_host_verify: true,
            ..https()
        };
        assert!(matches!(
            skip.cert_validation().unwrap(),
            Some(CertificateValidation::None)
        ));
    }

    #[test]
    fn unreadable_or_invalid_ca_is_one_line_naming_the_flag() {
        let no_pem = TempFile::new("ca-text.pem", "not a certificate\n");
        let corrupt = TempFile::new(
            "ca-corrupt.pem",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );
        let missing = std::env::temp_dir().join("ferrotrace-es-client-no-such-ca.pem");
        for (path, expected) in [
            (no_pem.0.clone(), "no PEM certificate"),
            (corrupt.0.clone(), "not a valid certificate"),
            (missing, "cannot read"),
        ] {
            let connection = EsConnection {
                tls_ca: Some(path.clone()),
                ..https()
            };
            let error = EsClient::new(&connection).err().unwrap().to_string();
            let prefix = format!("--es-tls-ca {}: ", path.display());
            assert!(error.starts_with(&prefix), "{error}");
            assert!(error.contains(expected), "{error}");
            assert!(!error.contains('\n'), "{error}");
        }
    }

    #[test]
    fn client_certificate_and_key_are_loaded() {
        let cert = TempFile::new("client.crt", TEST_CA);
        let key = TempFile::new("client.key", TEST_KEY);
        let connection = EsConnection {
            tls_cert: Some(cert.0.clone()),
            tls_key: Some(key.0.clone()),
            ..https()
        };
        assert!(matches!(
            connection.credentials().unwrap(),
            Some(Credentials::Certificate(_))
        ));
        assert!(EsClient::new(&connection).is_ok());
        let wrong_key = EsConnection {
            tls_key: Some(cert.0.clone()),
            ..connection
        };
        let error = EsClient::new(&wrong_key).err().unwrap().to_string();
        assert!(error.starts_with("--es-tls-cert "), "{error}");
    }

    #[test]
    fn unauthorized_names_the_flags_to_check() {
        let EsError::Permanent(message) = refused("GET /", StatusCode::UNAUTHORIZED, b"{}") else {
            panic!("401 must be permanent");
        };
        assert!(
            message.contains("401") && message.contains("--es-username"),
            "{message}"
        );
    }

    #[test]
    fn only_transient_statuses_are_retried() {
        for status in [429, 502, 503, 504] {
            assert!(is_retryable_status(status), "{status}");
        }
        for status in [200, 400, 401, 403, 404, 409, 413] {
            assert!(!is_retryable_status(status), "{status}");
        }
    }
}
