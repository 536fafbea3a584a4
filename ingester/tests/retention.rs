//! `ferrotrace-ingester retention` against a real osmem: the real binary,
//! its real flags, daily indices named by the same code the ingester writes
//! them with, dated relative to today (UTC).

use std::collections::BTreeSet;
use std::process::Output;
use std::time::{SystemTime, UNIX_EPOCH};

use ferrotrace_format::jaeger::index::{index_base, index_name, IndexKind};
use ferrotrace_testkit::{free_port, unique_name, Osmem};
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

/// Runs `ferrotrace-ingester rollover <step…>`, which must succeed.
async fn rollover_step(es_url: &str, step: &[&str], prefix_flag: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_ferrotrace-ingester"))
        .arg("rollover")
        .args(step)
        .args([prefix_flag, &format!("--es-url={es_url}")])
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("ingester runs");
    assert!(output.status.success(), "rollover {step:?}: {output:?}");
}

/// Writes `doc` through `alias`, refreshed, and returns the index that took it.
async fn write_through(osmem: &Osmem, alias: &str, doc: serde_json::Value) -> String {
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/{alias}/_doc?refresh=true", osmem.url()))
        .json(&doc)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["_index"].as_str().expect("indexed").to_owned()
}

/// A span and a dependencies document dated `days_ago` days before now.
fn dated_docs(days_ago: u64) -> [(IndexKind, serde_json::Value); 2] {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let millis = now.as_millis() as u64 - days_ago * MICROS_PER_DAY / 1_000;
    let day = index_name(IndexKind::Span, "", "-", millis * 1_000);
    let date = day.trim_start_matches("jaeger-span-");
    [
        (
            IndexKind::Span,
            serde_json::json!({"traceID": "0af7651916cd43dd8448eb211c80319c", "startTime": millis * 1_000, "startTimeMillis": millis}),
        ),
        (
            IndexKind::Dependencies,
            serde_json::json!({"timestamp": format!("{date}T00:00:00Z"), "dependencies": []}),
        ),
    ]
}

fn alias(prefix: &str, kind: IndexKind, suffix: &str) -> String {
    format!("{}{suffix}", index_base(kind, prefix))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollover_mode_deletes_indices_whose_newest_document_is_old_never_the_write_index() {
    let osmem = Osmem::start().await.expect("osmem starts");
    let prefix = unique_name("rret");
    let prefix_flag = format!("--es-index-prefix={prefix}");
    rollover_step(osmem.url(), &["init"], &prefix_flag).await;
    let service = serde_json::json!({"serviceName": "svc", "operationName": "op"});
    // 000001: ten-day-old documents; 000002: yesterday's; 000003 (the write
    // index): ten-day-old ones again, which must not get it deleted.
    for (round, days_ago) in [10, 1, 10].into_iter().enumerate() {
        for (kind, doc) in dated_docs(days_ago) {
            write_through(&osmem, &alias(&prefix, kind, "write"), doc).await;
        }
        let service_write = alias(&prefix, IndexKind::Service, "write");
        write_through(&osmem, &service_write, service.clone()).await;
        if round < 2 {
            rollover_step(osmem.url(), &["rollover", "--conditions={}"], &prefix_flag).await;
        }
    }
    let old: BTreeSet<String> = [IndexKind::Span, IndexKind::Dependencies]
        .into_iter()
        .map(|kind| alias(&prefix, kind, "000001"))
        .collect();
    let before = index_names(&osmem).await;
    for kind in KINDS {
        for number in ["000001", "000002", "000003"] {
            assert!(before.contains(&alias(&prefix, kind, number)), "{before:?}");
        }
    }

    let dry = retention(
        osmem.url(),
        &["--rollover", "--keep-days=3", "--dry-run", &prefix_flag],
    )
    .await;
    assert!(dry.status.success(), "{dry:?}");
    assert_eq!(first_words(&dry.stdout, "would delete "), old, "{dry:?}");
    assert_eq!(
        index_names(&osmem).await,
        before,
        "a dry run deletes nothing"
    );

    let run = retention(osmem.url(), &["--rollover", "--keep-days=3", &prefix_flag]).await;
    assert!(run.status.success(), "{run:?}");
    assert_eq!(first_words(&run.stdout, "deleted "), old, "{run:?}");
    let kept_write: BTreeSet<String> = KINDS
        .into_iter()
        .map(|kind| alias(&prefix, kind, "000003"))
        .collect();
    assert_eq!(first_words(&run.stdout, "kept "), kept_write, "{run:?}");
    let expected: BTreeSet<String> = before.difference(&old).cloned().collect();
    assert_eq!(index_names(&osmem).await, expected);

    // A longer keep leaves everything; a shorter one takes yesterday's too.
    let again = retention(osmem.url(), &["--rollover", "--keep-days=30", &prefix_flag]).await;
    assert!(
        first_words(&again.stdout, "deleted ").is_empty(),
        "{again:?}"
    );
    let zero = retention(osmem.url(), &["--rollover", "--keep-days=0", &prefix_flag]).await;
    assert!(zero.status.success(), "{zero:?}");
    let yesterday: BTreeSet<String> = [IndexKind::Span, IndexKind::Dependencies]
        .into_iter()
        .map(|kind| alias(&prefix, kind, "000002"))
        .collect();
    assert_eq!(first_words(&zero.stdout, "deleted "), yesterday, "{zero:?}");
    let after = index_names(&osmem).await;
    assert!(kept_write.is_subset(&after), "{after:?}");
    // Service documents carry no time: their indices stopped taking writes
    // only now, when the next one was created.
    for number in ["000001", "000002"] {
        assert!(after.contains(&alias(&prefix, IndexKind::Service, number)));
    }
}

/// The first word after `verb` on the lines of `stdout` starting with it.
fn first_words(stdout: &[u8], verb: &str) -> BTreeSet<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|line| line.strip_prefix(verb))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}
