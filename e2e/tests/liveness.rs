//! `/healthz` catches a stuck consume loop (`--stuck-after`): it fails with
//! the reason when the loop stops while partitions have lag and
//! Elasticsearch answers, and never for an ingester that is slow but
//! moving, or idle.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use ferrotrace_testkit::free_port;
use support::Cluster;

/// Status and body of `GET /<path>` on the admin port; `None` while it is closed.
async fn admin_get(admin: u16, path: &str) -> Option<(u16, String)> {
    let response = reqwest::get(format!("http://127.0.0.1:{admin}/{path}"))
        .await
        .ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

/// Waits until `/readyz` answers 200.
async fn wait_ready(admin: u16, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    while Instant::now() < deadline {
        last = admin_get(admin, "readyz").await;
        if last.as_ref().is_some_and(|(s, _)| *s == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("ingester not ready within {timeout:?}: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wedged_loop_with_lag_fails_liveness_with_the_reason() {
    let cluster = Cluster::start(1).await;
    let admin = free_port();
    let admin_flag = format!("--admin-listen=127.0.0.1:{admin}");
    let mut command = cluster.ingester_command(
        cluster.osmem.url(),
        &[
            &admin_flag,
            "--stuck-after=3s",
            "--test-wedge-after-messages=1",
        ],
    );
    command.stdout(Stdio::piped());
    let ingester = command.spawn().expect("ingester starts");
    wait_ready(admin, Duration::from_secs(60)).await;
    assert_eq!(admin_get(admin, "healthz").await.map(|(s, _)| s), Some(200));

    // Ten messages: the loop reads one and wedges, the rest is lag.
    cluster.send_traces(100).await;
    let sent = Instant::now();
    let mut healthz = None;
    while sent.elapsed() < Duration::from_secs(30) {
        healthz = admin_get(admin, "healthz").await;
        if healthz.as_ref().is_some_and(|(s, _)| *s == 503) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = sent.elapsed();
    let (status, body) = healthz.expect("admin server answers");
    eprintln!("/healthz {took:?} after sending:\n{body}");
    assert_eq!(status, 503, "a wedged loop with lag is not alive: {body}");
    assert!(
        body.starts_with("not alive\nconsume loop stuck:") && body.contains("--stuck-after=3s"),
        "{body}"
    );
    assert!(
        body.contains("partitions [0]"),
        "names the lagging partition: {body}"
    );
    assert!(
        took < Duration::from_secs(3 + 10),
        "flagged within --stuck-after and a few seconds, took {took:?}"
    );
    let readyz = admin_get(admin, "readyz").await;
    assert_eq!(
        readyz.map(|(s, _)| s),
        Some(200),
        "readiness stays about Elasticsearch and Kafka"
    );

    // Why, logged once at error level.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut ingester = ingester;
    ingester.start_kill().expect("kill");
    let output = ingester.wait_with_output().await.expect("output");
    let logs = String::from_utf8_lossy(&output.stdout);
    let logged = logs
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains("liveness failing"))
        .count();
    assert_eq!(logged, 1, "logged once: {logs}");
    cluster.collector_stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_but_moving_ingester_stays_alive() {
    let cluster = Cluster::start(1).await;
    let proxy = cluster.es_proxy().await;
    let admin = free_port();
    let admin_flag = format!("--admin-listen=127.0.0.1:{admin}");
    // One bulk at a time, one message per bulk: the backlog drains one
    // slow step after the other, each far shorter than --stuck-after, the
    // whole far longer.
    let mut ingester = cluster.ingester_with_es(
        &proxy.url(),
        &[
            &admin_flag,
            "--stuck-after=6s",
            "--es-bulk-workers=1",
            "--es-bulk-actions=1",
        ],
    );
    wait_ready(admin, Duration::from_secs(60)).await;
    proxy.delay_responses(Duration::from_millis(1500));
    let expected = cluster.send_traces(30).await.len() as u64;
    let started = Instant::now();
    let mut checks = 0;
    loop {
        let healthz = admin_get(admin, "healthz").await;
        assert_eq!(
            healthz.as_ref().map(|(s, _)| *s),
            Some(200),
            "slow but moving, {:?} into the drain: {healthz:?}",
            started.elapsed()
        );
        checks += 1;
        if cluster.span_count().await >= expected {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the backlog drains"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let took = started.elapsed();
    eprintln!("drained {expected} spans in {took:?}, /healthz 200 at each of {checks} checks");
    assert!(
        took > Duration::from_secs(12),
        "the drain outlasts --stuck-after twice, or the test shows nothing: {took:?}"
    );
    support::terminate(&mut ingester).await;
    cluster.collector_stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_ingester_without_lag_stays_alive() {
    let cluster = Cluster::start(2).await;
    let admin = free_port();
    let admin_flag = format!("--admin-listen=127.0.0.1:{admin}");
    let mut ingester = cluster.ingester(&[&admin_flag, "--stuck-after=3s"]);
    wait_ready(admin, Duration::from_secs(60)).await;
    // Idle from the start, then idle with everything stored.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(admin_get(admin, "healthz").await.map(|(s, _)| s), Some(200));
    let expected = cluster.send_traces(30).await.len() as u64;
    assert_eq!(
        cluster
            .wait_for_spans(expected, Duration::from_secs(60))
            .await,
        expected
    );
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let healthz = admin_get(admin, "healthz").await;
        assert_eq!(healthz.as_ref().map(|(s, _)| *s), Some(200), "{healthz:?}");
    }
    support::terminate(&mut ingester).await;
    cluster.collector_stop.cancel();
}
