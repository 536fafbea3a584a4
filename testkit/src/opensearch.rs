//! An osmem-server (OpenSearch-compatible, in memory) on a free loopback port.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use super::process::{free_port, spawn_server, tool_path};

/// A running osmem-server; killed on drop.
pub struct Osmem {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl Osmem {
    /// Starts the server and waits until `GET /` answers.
    pub async fn start() -> anyhow::Result<Self> {
        let bin = tool_path("osmem-server", "FERROTRACE_OSMEM_BIN")?;
        let port = free_port();
        let mut cmd = Command::new(&bin);
        // stdin stays a pipe: osmem exits when it closes, a second guard against leaks.
        cmd.args(["-addr", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::piped());
        let child = spawn_server(&mut cmd, &bin)?;
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let server = Self { child, url, http };
        let up = super::wait_until(Duration::from_secs(30), || async {
            server
                .http
                .get(&server.url)
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false)
        })
        .await;
        anyhow::ensure!(
            up,
            "osmem-server did not answer on {} within 30 s",
            server.url
        );
        Ok(server)
    }

    /// Base URL, e.g. `http://127.0.0.1:43121`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs a search (after a refresh) and returns the raw response.
    pub async fn search(
        &self,
        index: &str,
        body: serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        self.http
            .post(format!("{}/{index}/_refresh", self.url))
            .send()
            .await?;
        let response = self
            .http
            .post(format!("{}/{index}/_search", self.url))
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let json: serde_json::Value = response.json().await?;
        anyhow::ensure!(
            status.is_success(),
            "search {index} failed with {status}: {json}"
        );
        Ok(json)
    }

    /// Returns the `_source` of every document of `index` (up to 10 000), with `_id`s.
    pub async fn all_docs(&self, index: &str) -> anyhow::Result<Vec<(String, serde_json::Value)>> {
        let json = self
            .search(
                index,
                serde_json::json!({"size": 10000, "query": {"match_all": {}}}),
            )
            .await?;
        let hits = json["hits"]["hits"].as_array().cloned().unwrap_or_default();
        Ok(hits
            .into_iter()
            .map(|h| {
                (
                    h["_id"].as_str().unwrap_or_default().to_string(),
                    h["_source"].clone(),
                )
            })
            .collect())
    }

    /// Creates an index with `body` (settings, mappings, aliases).
    pub async fn create_index(&self, name: &str, body: serde_json::Value) -> anyhow::Result<()> {
        let response = self
            .http
            .put(format!("{}/{name}", self.url))
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        anyhow::ensure!(
            status.is_success(),
            "creating {name} failed with {status}: {}",
            response.text().await.unwrap_or_default()
        );
        Ok(())
    }

    /// A GET on any path, returning status and body as JSON (Null when not JSON).
    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, serde_json::Value)> {
        let response = self.http.get(format!("{}{path}", self.url)).send().await?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(serde_json::Value::Null);
        Ok((status, body))
    }
}

impl Drop for Osmem {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
