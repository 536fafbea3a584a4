//! `ferrotrace-ingester retention` against a real osmem: the real binary,
//! its real flags, daily indices named by the same code the ingester writes
//! them with, dated relative to today (UTC).

use std::collections::BTreeSet;
use std::process::Output;
use std::time::{SystemTime, UNIX_EPOCH};

use ferrotrace_common::jaeger::index::{index_name, IndexKind};
use ferrotrace_common::testkit::{free_port, unique_name, Osmem};
use tokio::process::Command;

const MICROS_PER_DAY: u64 = 86_400_000_000;
const KINDS: [IndexKind; 3] = [IndexKind::Span, IndexKind::Service, IndexKind::Dependencies];

/// The daily index of `kind` under `prefix` dated `days_ago` days before today.
fn daily(kind: IndexKind, prefix: &str, days_ago: u64) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let micros = now.as_micros() as u64 - days_ago * MICROS_PER_DAY;
    index_name(kind, prefix, "-", micros)
}

async fn index_names(osmem: &Osmem) -> BTreeSet<String> {
    let (status, body) = osmem.get("/_cat/indices?format=json").await.unwrap();
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"].as_str().unwrap().to_owned())
        .collect()
}

async fn retention(es_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrotrace-ingester"))
        .arg("retention")
        .args(args)
        .arg(format!("--es-url={es_url}"))
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("ingester runs")
}

/// The index names on the lines of `stdout` starting with `verb`.
fn listed(stdout: &[u8], verb: &str) -> BTreeSet<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|line| line.strip_prefix(verb))
        .map(|name| name.trim().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_only_old_daily_indices_of_its_prefix_and_never_a_write_aliased_one() {
    let osmem = Osmem::start().await.expect("osmem starts");
    let prefix = unique_name("ret");
    let mut old = BTreeSet::new();
    let mut young = BTreeSet::new();
    for days_ago in [0, 2, 5, 10] {
        for kind in KINDS {
            let name = daily(kind, &prefix, days_ago);
            osmem
                .create_index(&name, serde_json::json!({}))
                .await
                .expect("index created");
            if days_ago > 3 { &mut old } else { &mut young }.insert(name);
        }
    }
    let aliased = daily(IndexKind::Span, &prefix, 20);
    let write_alias = format!("{prefix}-jaeger-span-write");
    osmem
        .create_index(&aliased, serde_json::json!({"aliases": {write_alias: {}}}))
        .await
        .expect("index created");
    let foreign = [
        "unrelated-2020-01-01".to_owned(),
        daily(IndexKind::Span, &format!("{prefix}x"), 10),
        daily(IndexKind::Span, "", 10).replace('-', "."),
    ];
    for name in &foreign {
        osmem
            .create_index(name, serde_json::json!({}))
            .await
            .expect("index created");
    }
    let before = index_names(&osmem).await;
    let prefix_flag = format!("--es-index-prefix={prefix}");

    let dry = retention(osmem.url(), &["--keep-days=3", "--dry-run", &prefix_flag]).await;
    assert!(dry.status.success(), "{dry:?}");
    assert_eq!(listed(&dry.stdout, "would delete "), old, "{dry:?}");
    assert_eq!(
        listed(&dry.stdout, "kept "),
        BTreeSet::from([format!("{aliased} (behind a -write alias)")])
    );
    let summary = String::from_utf8_lossy(&dry.stdout);
    assert!(
        summary.contains("\nsummary (dry run): would delete 6 indices"),
        "{summary}"
    );
    assert_eq!(
        index_names(&osmem).await,
        before,
        "a dry run deletes nothing"
    );

    let run = retention(osmem.url(), &[&prefix_flag, "--keep-days", "3"]).await;
    assert!(run.status.success(), "{run:?}");
    assert_eq!(listed(&run.stdout, "deleted "), old, "{run:?}");
    let after = index_names(&osmem).await;
    let expected: BTreeSet<String> = before.difference(&old).cloned().collect();
    assert_eq!(after, expected);
    assert!(after.contains(&aliased) && young.is_subset(&after));
    assert!(foreign.iter().all(|name| after.contains(name)));

    let again = retention(osmem.url(), &["--keep-days=3", &prefix_flag]).await;
    assert!(again.status.success(), "{again:?}");
    assert!(listed(&again.stdout, "deleted ").is_empty(), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_elasticsearch_fails_with_one_clear_line() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let output = retention(&url, &["--keep-days=3"]).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(
            "ferrotrace-ingester retention: listing indices: elasticsearch unavailable"
        ),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "{output:?}");
}
