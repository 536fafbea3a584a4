//! TLS for the TCP receivers: the certificate files and their reload. The
//! handshake itself runs in the receivers' accept loop
//! ([`listener`](super::listener)).
//!
//! [`ServerTls`] reads `--tls-cert-file`, `--tls-key-file` and the optional
//! `--tls-client-ca-file` and builds one rustls `ServerConfig` per ALPN
//! family (`h2` for gRPC, `http/1.1` for the HTTP receivers). Every accepted
//! connection takes the configs current at that moment, so a reload (files'
//! contents changed, e.g. a rotated Kubernetes Secret) reaches new
//! connections while established ones keep the certificate they shook hands
//! with. Files that fail to load keep the previous configs in service; they
//! are logged and counted once per change, not once per poll.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

use super::reload::{Reloadable, Reloading};
use crate::metrics as m;

/// The PEM files the receivers' TLS is built from.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// When set, clients must present a certificate signed by this CA.
    pub client_ca: Option<PathBuf>,
}

/// Why the TLS files could not be turned into a server config.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("building the TLS config: {0}")]
    Config(String),
}

/// Which protocol a listener negotiates with ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// gRPC: HTTP/2 only.
    Grpc,
    /// The HTTP receivers: HTTP/1.1.
    Http,
}

/// The server configs of one set of TLS files, one per ALPN family.
pub struct Configs {
    grpc: Arc<ServerConfig>,
    http: Arc<ServerConfig>,
}

/// The receivers' TLS configs, rebuilt when the files change.
pub type ServerTls = Reloading<Configs>;

impl TlsFiles {
    /// The files in the order [`Configs`] reads them: cert, key, client CA.
    pub fn paths(&self) -> Vec<PathBuf> {
        let mut paths = vec![self.cert.clone(), self.key.clone()];
        paths.extend(self.client_ca.clone());
        paths
    }
}

impl Reloadable for Configs {
    type Error = TlsError;
    const WHAT: &'static str = "TLS certificate";
    const RELOADS: &'static str = m::TLS_RELOADS;

    fn read_error(path: &Path, source: io::Error) -> TlsError {
        TlsError::Read {
            path: path.to_owned(),
            source,
        }
    }

    fn build(paths: &[PathBuf], contents: &[Vec<u8>]) -> Result<Self, TlsError> {
        let files = TlsFiles {
            cert: paths[0].clone(),
            key: paths[1].clone(),
            client_ca: paths.get(2).cloned(),
        };
        build(&files, contents)
    }
}

impl Reloading<Configs> {
    /// An acceptor with the configs current now.
    pub fn acceptor(&self, alpn: Alpn) -> TlsAcceptor {
        let current = self.current();
        TlsAcceptor::from(match alpn {
            Alpn::Grpc => current.grpc.clone(),
            Alpn::Http => current.http.clone(),
        })
    }
}

fn build(files: &TlsFiles, contents: &[Vec<u8>]) -> Result<Configs, TlsError> {
    let invalid = |path: &Path, message: String| TlsError::Invalid {
        path: path.to_owned(),
        message,
    };
    let certs = CertificateDer::pem_slice_iter(&contents[0])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(&files.cert, format!("invalid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(&files.cert, "no certificate found".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(&contents[1])
        .map_err(|e| invalid(&files.key, format!("no usable private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = match (&files.client_ca, contents.get(2)) {
        (Some(path), Some(pem)) => Some(client_verifier(path, pem, &provider)?),
        _ => None,
    };
    let config = |alpn: &[u8]| -> Result<Arc<ServerConfig>, TlsError> {
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = match &verifier {
            Some(verifier) => builder.with_client_cert_verifier(verifier.clone()),
            None => builder.with_no_client_auth(),
        };
        // with_single_cert refuses a key that does not match the certificate.
        let mut config = builder
            .with_single_cert(certs.clone(), key.clone_key())
            .map_err(|e| invalid(&files.key, format!("does not fit the certificate: {e}")))?;
        config.alpn_protocols = vec![alpn.to_vec()];
        Ok(Arc::new(config))
    };
    Ok(Configs {
        grpc: config(b"h2")?,
        http: config(b"http/1.1")?,
    })
}

fn client_verifier(
    path: &Path,
    pem: &[u8],
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let invalid = |message: String| TlsError::Invalid {
        path: path.to_owned(),
        message,
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| invalid(format!("invalid PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| invalid(format!("unusable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(invalid("no CA certificate found".into()));
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| invalid(format!("building the client verifier: {e}")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair,
    };

    /// PEM of a CA and of a `localhost` server certificate it signed, with its key.
    pub(crate) fn server_identity() -> (String, String, String) {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name.push(DnType::CommonName, "test CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut server =
            CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = server.signed_by(&key, &ca).unwrap();
        (ca.pem(), cert.pem(), key.serialize_pem())
    }

    #[test]
    fn invalid_files_are_refused_at_load_and_kept_out_on_reload() {
        let dir = ferrotrace_testkit::TempDir::new("tls-unit").unwrap();
        let (ca, cert, key) = server_identity();
        let files = TlsFiles {
            cert: dir.write("server.pem", &cert).unwrap(),
            key: dir.write("server-key.pem", &key).unwrap(),
            client_ca: None,
        };
        let tls = ServerTls::load(files.paths()).unwrap();
        assert!(!tls.reload_if_changed().unwrap(), "unchanged files");

        // A certificate whose key is not the key file's.
        let before = Arc::as_ptr(&tls.current().grpc);
        let (_, other_cert, other_key) = server_identity();
        std::fs::write(&files.cert, &other_cert).unwrap();
        assert!(matches!(
            tls.reload_if_changed(),
            Err(TlsError::Invalid { .. })
        ));
        assert_eq!(before, Arc::as_ptr(&tls.current().grpc));
        assert!(
            !tls.reload_if_changed().unwrap(),
            "same bad files: no retry"
        );
        std::fs::write(&files.key, &other_key).unwrap();
        assert!(tls.reload_if_changed().unwrap(), "now they fit");
        assert_ne!(before, Arc::as_ptr(&tls.current().grpc));

        let ca_file = dir.write("ca.pem", &ca).unwrap();
        assert!(ServerTls::load(
            TlsFiles {
                client_ca: Some(ca_file),
                ..files.clone()
            }
            .paths()
        )
        .is_ok());
        assert!(
            ServerTls::load(
                TlsFiles {
                    client_ca: Some(files.key.clone()),
                    ..files.clone()
                }
                .paths()
            )
            .is_err(),
            "a key is not a CA"
        );
        std::fs::write(&files.cert, "not a certificate").unwrap();
        assert!(ServerTls::load(files.paths()).is_err());
    }
}
