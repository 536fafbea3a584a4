//! A Prometheus server on a free loopback port that scrapes given targets
//! every `interval`, with its TSDB in a temporary directory, and a client for
//! its HTTP query API: what Jaeger's Monitor tab and Grafana read.
//!
//! The binary is Debian's `prometheus` package (2.42), which
//! `scripts/install-tools.sh` installs and links into `.tools/bin`, or
//! `FERROTRACE_PROMETHEUS_BIN`.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::process::{Child, Command};

use super::process::{free_port, spawn_server, tool_path};
use super::temp_dir::TempDir;

/// A running Prometheus; killed on drop.
pub struct Prometheus {
    child: Child,
    url: String,
    http: reqwest::Client,
    /// Holds the configuration and the TSDB; removed after the process.
    _dir: TempDir,
}

/// One series of a query result: its labels and its `(unix seconds, value)` points.
#[derive(Debug, Clone, PartialEq)]
pub struct PromSeries {
    pub labels: BTreeMap<String, String>,
    pub points: Vec<(f64, f64)>,
}

impl Prometheus {
    /// Starts Prometheus scraping `http://<target>/metrics` of each
    /// `host:port` target every `interval` (rules evaluated as often), and
    /// waits until it is ready.
    pub async fn start(targets: &[String], interval: Duration) -> anyhow::Result<Self> {
        let bin = tool_path("prometheus", "FERROTRACE_PROMETHEUS_BIN")?;
        let dir =
            TempDir::new("ferrotrace-prometheus").context("creating prometheus's directory")?;
        let interval = format!("{}ms", interval.as_millis().max(1));
        let targets = targets
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let config = format!(
            "global:\n  scrape_interval: {interval}\n  scrape_timeout: {interval}\n  evaluation_interval: {interval}\n\
             scrape_configs:\n  - job_name: ferrotrace\n    static_configs:\n      - targets: [{targets}]\n"
        );
        let config_file = dir
            .write("prometheus.yml", config)
            .context("writing prometheus.yml")?;
        let port = free_port();
        let mut cmd = Command::new(&bin);
        cmd.arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .current_dir(dir.path())
            .stdin(Stdio::null());
        let child = spawn_server(&mut cmd, &bin)?;
        let server = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            _dir: dir,
        };
        let ready = super::wait_until(Duration::from_secs(30), || async {
            server
                .http
                .get(format!("{}/-/ready", server.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        anyhow::ensure!(
            ready,
            "prometheus was not ready on {} within 30 s",
            server.url
        );
        Ok(server)
    }

    /// Base URL, e.g. `http://127.0.0.1:43121`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// An instant query evaluated at `time` (unix seconds).
    pub async fn query(&self, promql: &str, time: f64) -> anyhow::Result<Vec<PromSeries>> {
        let time = time.to_string();
        self.get("query", &[("query", promql), ("time", &time)])
            .await
    }

    /// A range query, as jaeger-query sends its Monitor tab queries.
    pub async fn query_range(
        &self,
        promql: &str,
        start: f64,
        end: f64,
        step: Duration,
    ) -> anyhow::Result<Vec<PromSeries>> {
        let (start, end) = (start.to_string(), end.to_string());
        let step = step.as_secs_f64().to_string();
        self.get(
            "query_range",
            &[
                ("query", promql),
                ("start", &start),
                ("end", &end),
                ("step", &step),
            ],
        )
        .await
    }

    async fn get(
        &self,
        endpoint: &str,
        params: &[(&str, &str)],
    ) -> anyhow::Result<Vec<PromSeries>> {
        let response = self
            .http
            .get(format!("{}/api/v1/{endpoint}", self.url))
            .query(params)
            .send()
            .await?;
        let status = response.status();
        let body: serde_json::Value = response.json().await?;
        anyhow::ensure!(
            status.is_success() && body["status"] == "success",
            "prometheus {endpoint} {params:?} failed with {status}: {body}"
        );
        parse_result(&body["data"])
    }
}

/// The series of a `vector` or `matrix` result.
fn parse_result(data: &serde_json::Value) -> anyhow::Result<Vec<PromSeries>> {
    let point = |p: &serde_json::Value| -> anyhow::Result<(f64, f64)> {
        let time = p[0].as_f64().context("sample time")?;
        let value = p[1].as_str().context("sample value")?;
        // Prometheus writes NaN and ±Inf as "NaN", "+Inf", "-Inf": f64 parses all three.
        Ok((time, value.parse().context("sample value")?))
    };
    let results = data["result"].as_array().context("result")?;
    results
        .iter()
        .map(|series| {
            let labels = series["metric"]
                .as_object()
                .context("metric")?
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            let points = match data["resultType"].as_str() {
                Some("vector") => vec![point(&series["value"])?],
                Some("matrix") => series["values"]
                    .as_array()
                    .context("values")?
                    .iter()
                    .map(point)
                    .collect::<anyhow::Result<_>>()?,
                other => anyhow::bail!("unexpected result type {other:?}"),
            };
            Ok(PromSeries { labels, points })
        })
        .collect()
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
