//! The Elasticsearch client: connection pool over `--es-url`, detection of
//! the server's flavour and version from `GET /`, and template installation.
//!
//! Errors say whether retrying can help, because the ingester retries
//! transient failures forever and must never retry a permanent one.

use std::time::Duration;

use bytes::Bytes;
use elasticsearch::http::headers::{HeaderMap, HeaderValue, CONTENT_TYPE};
use elasticsearch::http::transport::{MultiNodeConnectionPool, TransportBuilder};
use elasticsearch::http::{Method, StatusCode, Url};
use elasticsearch::Elasticsearch;

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

#[derive(Clone)]
pub struct EsClient {
    inner: Elasticsearch,
    timeout: Duration,
}

impl EsClient {
    pub fn new(urls: &[String], timeout: Duration) -> anyhow::Result<Self> {
        let urls = urls
            .iter()
            .filter(|u| !u.trim().is_empty())
            .map(|u| {
                Url::parse(u.trim()).map_err(|e| anyhow::anyhow!("invalid --es-url {u:?}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let pool = MultiNodeConnectionPool::round_robin(urls, None);
        let transport = TransportBuilder::new(pool)
            .timeout(timeout)
            .disable_proxy()
            .build()?;
        Ok(Self {
            inner: Elasticsearch::new(transport),
            timeout,
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
    ) -> Result<(StatusCode, Vec<u8>), EsError> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        let response = self
            .inner
            .send::<Bytes, ()>(method, path, headers, None, body, Some(self.timeout))
            .await
            .map_err(|e| EsError::Transient(e.to_string()))?;
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
        Ok((status, bytes.to_vec()))
    }

    /// Asks `GET /` which server this is.
    pub async fn detect_flavour(&self) -> Result<Flavour, EsError> {
        let (status, body) = self
            .request(Method::Get, "/", "application/json", None)
            .await?;
        if !status.is_success() {
            return Err(EsError::Permanent(format!(
                "GET / answered {status}: {}",
                snippet(&body)
            )));
        }
        parse_flavour(&body).map_err(EsError::Permanent)
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
                return Err(EsError::Permanent(format!(
                    "PUT {path} answered {status}: {}",
                    snippet(&response)
                )));
            }
            tracing::info!(template = %name, api = endpoint, "index template installed");
        }
        Ok(())
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
