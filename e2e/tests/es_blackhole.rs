//! The benchmarks' blackhole Elasticsearch (`ferrotrace-es-blackhole`)
//! behind a real ingester: it must be enough of an Elasticsearch for the
//! ingester to start and index, and its counts must tell what an index
//! would hold.

mod support;

use std::time::Duration;

use ferrotrace_loadtest::es_blackhole::Counts;
use ferrotrace_testkit::{free_port, wait_until};
use support::{terminate, workspace_binary, Cluster};
use tokio::process::Command;

async fn counts(url: &str) -> Option<Counts> {
    let response = reqwest::get(format!("{url}/_blackhole")).await.ok()?;
    response.json().await.ok()
}

#[tokio::test]
async fn counts_every_span_once_and_a_replay_as_the_same_documents() {
    let cluster = Cluster::start(3).await;
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut blackhole = Command::new(workspace_binary("ferrotrace-es-blackhole"))
        .arg(format!("--listen=127.0.0.1:{port}"))
        .kill_on_drop(true)
        .spawn()
        .expect("the blackhole starts");
    assert!(
        wait_until(Duration::from_secs(10), || async {
            counts(&url).await.is_some()
        })
        .await,
        "the blackhole answers GET /_blackhole"
    );

    let sent = cluster.send_traces(30).await;
    assert_eq!(sent.len(), 300);
    let mut ingester = cluster.ingester_with_es(&url, &[]);
    let stored = |spans| {
        let url = url.clone();
        async move {
            counts(&url)
                .await
                .is_some_and(|c| c.distinct_spans >= spans)
        }
    };
    assert!(
        wait_until(Duration::from_secs(60), || stored(300)).await,
        "the ingester indexed every span into the blackhole: {:?}",
        counts(&url).await
    );
    terminate(&mut ingester).await;
    let first = counts(&url).await.expect("counts");
    assert_eq!(first.distinct_spans, 300, "{first:?}");
    assert_eq!(first.distinct_span_docs, 300, "{first:?}");
    assert!(
        first.docs > first.span_docs,
        "service documents are counted: {first:?}"
    );

    // Another consumer group reads the topic again: the same documents with
    // the same ids, so the distinct counts stay while the documents double.
    let mut replay =
        cluster.ingester_with_es(&url, &[&format!("--kafka-group={}-replay", cluster.topic)]);
    let replayed = || {
        let url = url.clone();
        async move { counts(&url).await.is_some_and(|c| c.span_docs >= 600) }
    };
    assert!(
        wait_until(Duration::from_secs(60), replayed).await,
        "the second group indexed the spans again: {:?}",
        counts(&url).await
    );
    terminate(&mut replay).await;
    let second = counts(&url).await.expect("counts");
    assert_eq!(second.span_docs, 600, "{second:?}");
    assert_eq!(
        (second.distinct_spans, second.distinct_span_docs),
        (300, 300),
        "a replay writes the same document ids: {second:?}"
    );
    blackhole.kill().await.expect("the blackhole stops");
}
