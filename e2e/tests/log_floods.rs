//! A failure that repeats many times a second is logged a few times, with
//! what to fix and a count of the lines held back, instead of flooding the
//! log: a dead-letter topic that does not exist, while undecodable
//! messages wait for it, and an Elasticsearch that every bulk worker retries.

mod support;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrotrace_testkit::unique_name;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use support::Cluster;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_dead_letter_topic_is_named_once_per_interval_not_per_retry() {
    let cluster = Cluster::start(1).await;
    let dlq = unique_name("no-such-dlq");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.tansu.brokers())
        .create()
        .expect("producer");
    // Each one waits for the dead-letter topic, retrying on its own.
    for i in 0..200 {
        let poison = [&b"\xff\xff poison "[..], i.to_string().as_bytes()].concat();
        producer
            .send(
                FutureRecord::<[u8], [u8]>::to(&cluster.topic).payload(&poison),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(error, _)| error)
            .expect("poison produced");
    }
    let dlq_flag = format!("--kafka-dlq-topic={dlq}");
    let started = Instant::now();
    let flags = [
        dlq_flag.as_str(),
        // librdkafka gives up on a topic it cannot find after 30 s, and from
        // then on fails every send at once: 1 s here, so the flood starts soon.
        "--kafka-producer-config=topic.metadata.propagation.max.ms=1000",
        // The letters never leave: no need to wait 30 s for them at SIGTERM.
        "--shutdown-timeout=1s",
        // Only poison on the topic: without this the partition is paused as
        // probably read with the wrong --kafka-encoding, and nothing is sent.
        "--kafka-encoding-check=0",
    ];
    let (mut ingester, output, pipes) = streaming_ingester(&cluster, cluster.osmem.url(), &flags);
    // Past one log interval (10 s), so a later line counts what it held back.
    tokio::time::sleep(Duration::from_secs(14)).await;
    support::terminate(&mut ingester).await;
    pipes.await.expect("output read");
    let log = output.lock().unwrap().clone();

    let about_dlq: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("dead-letter produce failed")
                || l.contains("dead-letter topic does not exist")
        })
        .collect();
    eprintln!(
        "{} log lines in {:?}, {} about the dead-letter topic",
        log.lines().count(),
        started.elapsed(),
        about_dlq.len()
    );
    assert!(
        !about_dlq.is_empty() && about_dlq.len() <= 4,
        "a few lines about the dead-letter topic, not one per retry:\n{log}"
    );
    assert!(
        about_dlq[0].contains("does not exist")
            && about_dlq[0].contains(&dlq)
            && about_dlq[0].contains("--kafka-dlq-topic"),
        "the first names the missing topic and what to do:\n{log}"
    );
    for line in &about_dlq {
        eprintln!("{line}");
    }
    assert!(
        most_suppressed(&about_dlq).is_some_and(|n| n > 0),
        "a later line counts the retries it held back:\n{log}"
    );
    cluster.collector_stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_retries_during_an_outage_are_logged_once_per_interval() {
    let cluster = Cluster::start(2).await;
    let proxy = cluster.es_proxy().await;
    let (mut ingester, output, pipes) = streaming_ingester(
        &cluster,
        &proxy.url(),
        // Many small requests, each retrying on its own backoff; the drain at
        // SIGTERM would retry (and log) for 30 s more.
        &[
            "--es-bulk-workers=4",
            "--es-bulk-actions=20",
            "--shutdown-timeout=1s",
        ],
    );
    let before = cluster.send_traces(5).await;
    let stored = cluster
        .wait_for_spans(before.len() as u64, Duration::from_secs(120))
        .await;
    assert_eq!(stored, before.len() as u64, "spans before the outage");

    proxy.cut();
    let cut = Instant::now();
    cluster.send_traces(100).await;
    // Until a line past the first log interval (10 s) counts what it held
    // back. Retries back off up to 10 s, so that takes 10 to about 25 s.
    let deadline = cut + Duration::from_secs(60);
    while Instant::now() < deadline
        && most_suppressed(&retry_lines(&output.lock().unwrap())).is_none_or(|n| n == 0)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let outage = cut.elapsed();
    support::terminate(&mut ingester).await;
    pipes.await.expect("output read");
    let log = output.lock().unwrap().clone();
    // Only the outage: the drain after SIGTERM is another matter.
    let during = log.split("shutdown signal received").next().unwrap_or("");
    let retries = retry_lines(during);
    for line in &retries {
        eprintln!("{line}");
    }
    let allowed = 1 + outage.as_secs().div_ceil(10) as usize;
    assert!(
        !retries.is_empty() && retries.len() <= allowed,
        "{} lines about the retries in {outage:?}, at most one per 10 s ({allowed}), \
         not one per request and attempt:\n{log}",
        retries.len()
    );
    assert!(
        most_suppressed(&retries).is_some_and(|n| n > 0),
        "a later line counts the retries it held back:\n{log}"
    );
    cluster.collector_stop.cancel();
}

/// Starts an ingester logging at info, and tasks that append its output
/// (stdout and stderr, line by line) to a buffer the test can read while it
/// runs.
fn streaming_ingester(
    cluster: &Cluster,
    es_url: &str,
    flags: &[&str],
) -> (
    tokio::process::Child,
    Arc<Mutex<String>>,
    tokio::task::JoinHandle<()>,
) {
    let mut ingester = cluster
        .ingester_command(es_url, flags)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ingester starts");
    let output = Arc::new(Mutex::new(String::new()));
    let stdout = ingester.stdout.take().expect("stdout");
    let stderr = ingester.stderr.take().expect("stderr");
    let pipes = tokio::spawn({
        let output = output.clone();
        async move {
            tokio::join!(
                append_lines(stdout, output.clone()),
                append_lines(stderr, output)
            );
        }
    });
    (ingester, output, pipes)
}

async fn append_lines(pipe: impl AsyncRead + Unpin, output: Arc<Mutex<String>>) {
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut output = output.lock().unwrap();
        output.push_str(&line);
        output.push('\n');
    }
}

fn retry_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("bulk request failed, retrying"))
        .collect()
}

/// The largest `suppressed=` count among rate-limited log lines.
fn most_suppressed(lines: &[&str]) -> Option<u64> {
    lines
        .iter()
        .filter_map(|l| l.split("suppressed=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .max()
}
