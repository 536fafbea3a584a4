//! The ingester's memory as the kernel sees it: transparent huge pages are
//! off for its process, since mimalloc would back its arenas with 2 MiB
//! pages, zeroed whole and resident while any byte of them is used (a third
//! more peak RSS at the same CPU, BENCHMARKS.md), unless
//! `MIMALLOC_ALLOW_THP=1` asks for them.

mod support;

use std::time::Duration;

use ferrotrace_testkit::{free_port, wait_until};
use support::Cluster;

/// The `THP_enabled` field of `/proc/<pid>/status`: 0 when the process has
/// transparent huge pages disabled (`PR_SET_THP_DISABLE`).
fn thp_enabled(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process runs");
    status
        .lines()
        .find_map(|line| line.strip_prefix("THP_enabled:"))
        .map(|value| value.trim().to_owned())
        .unwrap_or_else(|| {
            panic!(
                "this kernel does not report THP_enabled in /proc/<pid>/status \
                 (Linux 6.x does); the test needs it to see the process's setting"
            )
        })
}

/// Waits until the admin server at `port` answers: `main` has run.
async fn wait_for_admin(port: u16) {
    let answered = wait_until(Duration::from_secs(30), || async {
        reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .is_ok()
    })
    .await;
    assert!(answered, "the ingester's admin server answers on {port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingester_runs_without_transparent_huge_pages_unless_asked() {
    let cluster = Cluster::start(1).await;
    let admin = free_port();
    let mut ingester = cluster.ingester(&[&format!("--admin-listen=127.0.0.1:{admin}")]);
    wait_for_admin(admin).await;
    assert_eq!(thp_enabled(ingester.id().expect("running")), "0");

    let asked_admin = free_port();
    let mut asked = cluster
        .ingester_command(
            cluster.osmem.url(),
            &[&format!("--admin-listen=127.0.0.1:{asked_admin}")],
        )
        .env("MIMALLOC_ALLOW_THP", "1")
        .spawn()
        .expect("ingester starts");
    wait_for_admin(asked_admin).await;
    assert_eq!(thp_enabled(asked.id().expect("running")), "1");

    support::terminate(&mut ingester).await;
    support::terminate(&mut asked).await;
    cluster.collector_stop.cancel();
}
