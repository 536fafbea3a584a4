//! TLS and bearer-token settings of the sending side, read once at start so a
//! bad file fails the run before any load is sent and the hot path only
//! clones a ready header value.
//!
//! Trust: with `--tls-ca-file` only that CA (bundle) is trusted, as a
//! deployment with a private CA wants; without it, the built-in webpki roots
//! (the ones reqwest's rustls build uses too). `--tls-cert-file` with
//! `--tls-key-file` adds a client certificate for mTLS. The bearer token is
//! the first non-empty, non-`#` line of its file, the format of the
//! collector's `--auth-bearer-tokens-file`, so one file can serve both.
//!
//! The token never appears in `Debug` output or in an error message.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// What a TCP sender needs to reach a secured collector.
#[derive(Clone, Default)]
pub struct Security {
    /// PEM CA certificates trusted instead of the built-in roots.
    pub ca_pem: Option<Vec<u8>>,
    /// PEM client certificate (chain) and private key, for mTLS.
    pub client_identity: Option<ClientIdentity>,
    /// The bearer token sent on every request or call.
    pub bearer_token: Option<BearerToken>,
}

#[derive(Clone)]
pub struct ClientIdentity {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

/// A bearer token; `Debug` shows only that there is one.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// The `authorization` header value, `Bearer <token>`.
    pub fn header_value(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// A token from elsewhere than a file (the caller checks it is a valid header value).
    pub fn new(token: impl Into<String>) -> Self {
        BearerToken(token.into())
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Security")
            .field("ca_pem", &self.ca_pem.as_ref().map(Vec::len))
            .field("client_identity", &self.client_identity.is_some())
            .field("bearer_token", &self.bearer_token)
            .finish()
    }
}

/// The files named by the sending side's security flags.
#[derive(Clone, Debug, Default)]
pub struct SecurityFiles {
    pub tls_ca_file: Option<PathBuf>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub bearer_token_file: Option<PathBuf>,
}

impl SecurityFiles {
    /// Whether any TLS file is named (those need an `https://` endpoint).
    pub fn wants_tls(&self) -> bool {
        self.tls_ca_file.is_some() || self.tls_cert_file.is_some() || self.tls_key_file.is_some()
    }

    /// A flag combination that cannot work, as one line naming the flags.
    /// `endpoint` and `tcp` (false for the Jaeger UDP protocols) say where
    /// the load goes.
    pub fn problem(&self, endpoint: &str, tcp: bool) -> Option<String> {
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Some("--tls-cert-file and --tls-key-file go together".into());
        }
        if !tcp && (self.wants_tls() || self.bearer_token_file.is_some()) {
            return Some(
                "--tls-* and --bearer-token-file apply to TCP protocols, not to Jaeger UDP".into(),
            );
        }
        if self.wants_tls() && !is_https(endpoint) {
            return Some(format!(
                "--tls-ca-file, --tls-cert-file and --tls-key-file need an https:// --endpoint, not {endpoint}"
            ));
        }
        None
    }

    /// Reads every named file; an error names the flag and the path, never
    /// the content.
    pub fn load(&self) -> anyhow::Result<Security> {
        let ca_pem = self
            .tls_ca_file
            .as_deref()
            .map(|path| read("--tls-ca-file", path))
            .transpose()?;
        let client_identity = match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(cert), Some(key)) => Some(ClientIdentity {
                cert_pem: read("--tls-cert-file", cert)?,
                key_pem: read("--tls-key-file", key)?,
            }),
            (None, None) => None,
            _ => bail!("--tls-cert-file and --tls-key-file go together"),
        };
        let bearer_token = match &self.bearer_token_file {
            Some(path) => {
                let bytes = read("--bearer-token-file", path)?;
                let Ok(text) = std::str::from_utf8(&bytes) else {
                    bail!("--bearer-token-file {}: not UTF-8 text", path.display());
                };
                let Some(token) = parse_token(text) else {
                    bail!("--bearer-token-file {}: holds no token", path.display());
                };
                if !token.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
                    bail!(
                        "--bearer-token-file {}: the token is not printable ASCII, so it cannot be a header value",
                        path.display()
                    );
                }
                Some(BearerToken(token.to_owned()))
            }
            None => None,
        };
        Ok(Security {
            ca_pem,
            client_identity,
            bearer_token,
        })
    }
}

/// The token of a token file: its first line that is neither blank nor a
/// `#` comment, without surrounding whitespace.
pub fn parse_token(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
}

pub fn is_https(endpoint: &str) -> bool {
    endpoint
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

impl Security {
    /// tonic's client TLS settings for an `https://` channel.
    pub fn grpc_tls(&self) -> tonic::transport::ClientTlsConfig {
        let mut config = tonic::transport::ClientTlsConfig::new();
        config = match &self.ca_pem {
            Some(ca) => config.ca_certificate(tonic::transport::Certificate::from_pem(ca)),
            None => config.with_webpki_roots(),
        };
        if let Some(identity) = &self.client_identity {
            config = config.identity(tonic::transport::Identity::from_pem(
                &identity.cert_pem,
                &identity.key_pem,
            ));
        }
        config
    }

    /// `builder` with this trust, client certificate and bearer token.
    pub fn http_client(
        &self,
        mut builder: reqwest::ClientBuilder,
    ) -> anyhow::Result<reqwest::ClientBuilder> {
        if let Some(ca) = &self.ca_pem {
            let certificates = reqwest::Certificate::from_pem_bundle(ca)
                .context("--tls-ca-file: not a PEM certificate bundle")?;
            if certificates.is_empty() {
                bail!("--tls-ca-file: no certificate in the file");
            }
            builder = builder.tls_built_in_root_certs(false);
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        if let Some(identity) = &self.client_identity {
            let mut pem = identity.cert_pem.clone();
            pem.push(b'\n');
            pem.extend_from_slice(&identity.key_pem);
            let identity = reqwest::Identity::from_pem(&pem)
                .context("--tls-cert-file/--tls-key-file: not a PEM certificate and key")?;
            builder = builder.identity(identity);
        }
        if let Some(token) = &self.bearer_token {
            let mut value = reqwest::header::HeaderValue::try_from(token.header_value())
                .map_err(|_| anyhow::anyhow!("--bearer-token-file: not a valid header value"))?;
            value.set_sensitive(true);
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert(reqwest::header::AUTHORIZATION, value);
            builder = builder.default_headers(headers);
        }
        Ok(builder)
    }

    /// The gRPC `authorization` metadata value, built once per sender.
    pub fn grpc_authorization(
        &self,
    ) -> anyhow::Result<Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>> {
        let Some(token) = &self.bearer_token else {
            return Ok(None);
        };
        let mut value = tonic::metadata::MetadataValue::try_from(token.header_value())
            .map_err(|_| anyhow::anyhow!("--bearer-token-file: not a valid header value"))?;
        value.set_sensitive(true);
        Ok(Some(value))
    }
}

/// A secret file as Kubernetes mounts a Secret: one value, maybe followed by
/// a newline that is not part of it (the ingester reads its
/// `--es-password-file` and `--es-api-key-file` the same way).
pub fn read_secret_file(flag: &str, path: &Path) -> anyhow::Result<String> {
    ferrotrace_common::config::read_secret_file(path)
        .map_err(|reason| anyhow::anyhow!("{flag} {}: {reason}", path.display()))
}

fn read(flag: &str, path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{flag} {}: cannot read", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    use ferrotrace_testkit::TempDir;

    fn temp_file(dir: &TempDir, name: &str, contents: &str) -> PathBuf {
        dir.write(name, contents).unwrap()
    }

    #[test]
    fn token_is_the_first_line_that_is_not_blank_or_a_comment() {
        assert_eq!(
            parse_token("# ops token\n\n  s3cret-1  \nsecond\n"),
            Some("s3cret-1")
        );
        assert_eq!(parse_token("only\r\n"), Some("only"));
        assert_eq!(parse_token("\n# nothing\n   \n"), None);
        assert_eq!(parse_token(""), None);
    }

    #[test]
    fn https_is_recognised_in_any_case() {
        assert!(is_https("https://127.0.0.1:4317"));
        assert!(is_https("HTTPS://collector:4318"));
        assert!(!is_https("http://127.0.0.1:4317"));
        assert!(!is_https("127.0.0.1:6831"));
    }

    #[test]
    fn client_certificate_and_key_go_together() {
        let files = SecurityFiles {
            tls_cert_file: Some("client.pem".into()),
            ..Default::default()
        };
        let problem = files.problem("https://127.0.0.1:4317", true).unwrap();
        assert!(problem.contains("--tls-key-file"), "{problem}");
        let files = SecurityFiles {
            tls_key_file: Some("client-key.pem".into()),
            ..Default::default()
        };
        assert!(files.problem("https://127.0.0.1:4317", true).is_some());
    }

    #[test]
    fn tls_files_need_an_https_endpoint_and_tcp() {
        let files = SecurityFiles {
            tls_ca_file: Some("ca.pem".into()),
            ..Default::default()
        };
        assert_eq!(files.problem("https://127.0.0.1:4317", true), None);
        let problem = files.problem("http://127.0.0.1:4317", true).unwrap();
        assert!(problem.contains("https://"), "{problem}");
        let token = SecurityFiles {
            bearer_token_file: Some("token".into()),
            ..Default::default()
        };
        assert_eq!(token.problem("http://127.0.0.1:4318", true), None);
        assert!(token.problem("127.0.0.1:6831", false).is_some());
        assert_eq!(
            SecurityFiles::default().problem("127.0.0.1:6831", false),
            None
        );
    }

    #[test]
    fn token_file_is_read_once_and_never_shown() {
        let dir = TempDir::new("loadtest-security").unwrap();
        let path = temp_file(&dir, "token", "# loadtest\nt0ken-Value-42\n");
        let files = SecurityFiles {
            bearer_token_file: Some(path.clone()),
            ..Default::default()
        };
        let security = files.load().unwrap();
        let token = security.bearer_token.clone().unwrap();
        assert_eq!(token.header_value(), "Bearer t0ken-Value-42");
        assert!(!format!("{security:?}").contains("t0ken"));
        let value = security.grpc_authorization().unwrap().unwrap();
        assert!(value.is_sensitive());
        assert!(!format!("{value:?}").contains("t0ken"));
        security
            .http_client(reqwest::Client::builder())
            .unwrap()
            .build()
            .unwrap();
    }

    #[test]
    fn token_file_without_a_token_fails_without_echoing_it() {
        let dir = TempDir::new("loadtest-security").unwrap();
        let path = temp_file(&dir, "empty-token", "# only a comment\n\n");
        let files = SecurityFiles {
            bearer_token_file: Some(path.clone()),
            ..Default::default()
        };
        let error = files.load().unwrap_err().to_string();
        assert!(error.contains("holds no token"), "{error}");

        let path = temp_file(&dir, "bad-token", "s3cret\u{7f}x\n");
        let files = SecurityFiles {
            bearer_token_file: Some(path.clone()),
            ..Default::default()
        };
        let error = format!("{:#}", files.load().unwrap_err());
        assert!(error.contains("not printable ASCII"), "{error}");
        assert!(!error.contains("s3cret"), "{error}");
    }

    #[test]
    fn missing_file_names_the_flag_and_path() {
        let files = SecurityFiles {
            tls_ca_file: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        let error = format!("{:#}", files.load().unwrap_err());
        assert!(
            error.starts_with("--tls-ca-file /nonexistent/ca.pem: cannot read"),
            "{error}"
        );
    }

    #[test]
    fn secret_file_drops_only_the_trailing_newline() {
        let dir = TempDir::new("loadtest-security").unwrap();
        let path = temp_file(&dir, "password", " pa ss\r\n");
        assert_eq!(
            read_secret_file("--es-password-file", &path).unwrap(),
            " pa ss"
        );
        std::fs::write(&path, "\n").unwrap();
        let error = read_secret_file("--es-password-file", &path)
            .unwrap_err()
            .to_string();
        assert!(error.ends_with("empty"), "{error}");
    }
}
