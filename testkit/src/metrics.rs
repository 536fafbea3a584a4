//! Reading a process's `/metrics` the way a test asserts on it.

use std::collections::HashMap;

/// Every sample of `http://127.0.0.1:{admin_port}/metrics`, keyed by the
/// series as printed (`name{label="value",...}`); empty when the endpoint
/// does not answer.
pub async fn scrape_metrics(admin_port: u16) -> HashMap<String, f64> {
    let url = format!("http://127.0.0.1:{admin_port}/metrics");
    let Ok(response) = reqwest::get(url).await else {
        return HashMap::new();
    };
    parse_metrics(&response.text().await.unwrap_or_default())
}

/// Every sample of a Prometheus text exposition, keyed by the series as
/// printed (`name{labels}`).
pub fn parse_metrics(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The value of one series, 0 when absent.
pub fn sample(metrics: &HashMap<String, f64>, series: &str) -> f64 {
    metrics.get(series).copied().unwrap_or(0.0)
}
