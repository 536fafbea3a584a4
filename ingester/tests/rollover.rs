//! `ferrotrace-ingester rollover init|rollover|lookback` against a real
//! osmem: the real binary and its real flags, asserting on the aliases and
//! indices the server ends up with, not only on the report.

use std::collections::BTreeSet;
use std::process::Output;
use std::time::Duration;

use ferrotrace_testkit::{free_port, unique_name, Osmem};
use serde_json::json;
use tokio::process::Command;

const KINDS: [&str; 3] = ["span", "service", "dependencies"];

async fn rollover(es_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrotrace-ingester"))
        .arg("rollover")
        .args(args)
        .arg(format!("--es-url={es_url}"))
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("ingester runs")
}

/// Runs a step that must succeed and returns its report.
async fn ok(osmem: &Osmem, args: &[&str]) -> String {
    let output = rollover(osmem.url(), args).await;
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8(output.stdout).expect("utf-8 report")
}

fn lines(report: &str, start: &str) -> Vec<String> {
    report
        .lines()
        .filter(|line| line.starts_with(start))
        .map(str::to_owned)
        .collect()
}

/// The indices behind `alias` (none when it does not exist).
async fn aliased(osmem: &Osmem, alias: &str) -> BTreeSet<String> {
    let (status, body) = osmem.get(&format!("/_alias/{alias}")).await.unwrap();
    if status == 404 {
        return BTreeSet::new();
    }
    assert_eq!(status, 200, "{body}");
    body.as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v["aliases"].get(alias).is_some())
        .map(|(index, _)| index.clone())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// Every index under `prefix`.
async fn indices(osmem: &Osmem, prefix: &str) -> BTreeSet<String> {
    let (status, body) = osmem
        .get(&format!("/_cat/indices/{prefix}-*?format=json"))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"].as_str().unwrap().to_owned())
        .collect()
}

/// Indexes a document through `alias`, refreshes, and returns the index
/// that took it.
async fn write_through(http: &reqwest::Client, osmem: &Osmem, alias: &str) -> String {
    let answer: serde_json::Value = http
        .post(format!("{}/{alias}/_doc", osmem.url()))
        .json(&json!({"traceID": "0af7651916cd43dd8448eb211c80319c"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refreshed = http
        .post(format!("{}/{alias}/_refresh", osmem.url()))
        .send()
        .await
        .unwrap();
    assert!(refreshed.status().is_success(), "{refreshed:?}");
    answer["_index"].as_str().expect("indexed").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_rollover_and_lookback_move_the_aliases_of_each_index_set() {
    let osmem = Osmem::start().await.expect("osmem starts");
    let http = reqwest::Client::new();
    let p = unique_name("ro");
    let prefix = format!("--es-index-prefix={p}");
    let name = |kind: &str, suffix: &str| format!("{p}-jaeger-{kind}-{suffix}");

    // init: templates, first index and both aliases of every set.
    let report = ok(
        &osmem,
        &["init", &prefix, "--es-num-shards=2", "--es-num-replicas=0"],
    )
    .await;
    assert_eq!(
        lines(&report, "installed index templates"),
        ["installed index templates (_index_template)"]
    );
    for kind in KINDS {
        let first = name(kind, "000001");
        assert!(report.contains(&format!("created {first}\n")), "{report}");
        assert_eq!(aliased(&osmem, &name(kind, "write")).await, set(&[&first]));
        assert_eq!(aliased(&osmem, &name(kind, "read")).await, set(&[&first]));
        let (status, template) = osmem
            .get(&format!("/_index_template/{p}-jaeger-{kind}"))
            .await
            .unwrap();
        assert_eq!(status, 200, "{template}");
        assert_eq!(
            template["index_templates"][0]["index_template"]["index_patterns"],
            json!([format!("{p}-jaeger-{kind}-*")])
        );
        let (_, settings) = osmem.get(&format!("/{first}/_settings")).await.unwrap();
        assert_eq!(
            settings[&first]["settings"]["index"]["number_of_shards"], "2",
            "the template, with --es-num-shards, shaped {first}"
        );
    }
    let created = indices(&osmem, &p).await;
    assert_eq!(created.len(), 3, "{created:?}");

    // init again: nothing changes.
    let again = ok(&osmem, &["init", &prefix]).await;
    assert!(lines(&again, "created ").is_empty(), "{again}");
    assert!(lines(&again, "added ").is_empty(), "{again}");
    assert_eq!(lines(&again, "kept ").len(), 3, "{again}");
    assert_eq!(indices(&osmem, &p).await, created);
    for kind in KINDS {
        assert_eq!(
            aliased(&osmem, &name(kind, "write")).await,
            set(&[&name(kind, "000001")])
        );
    }

    // One span document makes max_docs 1 true for the span set only.
    let span_write = name("span", "write");
    assert_eq!(
        write_through(&http, &osmem, &span_write).await,
        name("span", "000001")
    );
    let report = ok(
        &osmem,
        &["rollover", r#"--conditions={"max_docs":1}"#, &prefix],
    )
    .await;
    assert_eq!(
        lines(&report, "rolled over "),
        [format!(
            "rolled over {span_write}: {} -> {} (max_docs 1 met)",
            name("span", "000001"),
            name("span", "000002")
        )]
    );
    for kind in ["service", "dependencies"] {
        let kept = format!(
            "kept {} on {} (no condition met)",
            name(kind, "write"),
            name(kind, "000001")
        );
        assert!(report.lines().any(|l| l == kept), "{report}");
    }
    assert_eq!(
        aliased(&osmem, &span_write).await,
        set(&[&name("span", "000002")])
    );
    assert_eq!(
        aliased(&osmem, &name("span", "read")).await,
        set(&[&name("span", "000001"), &name("span", "000002")])
    );
    assert_eq!(
        aliased(&osmem, &name("service", "write")).await,
        set(&[&name("service", "000001")])
    );
    assert_eq!(
        write_through(&http, &osmem, &span_write).await,
        name("span", "000002"),
        "new documents go to the new write index"
    );

    // The default condition (max_age 2d) is not met by minutes-old indices.
    let report = ok(&osmem, &["rollover", &prefix]).await;
    assert!(lines(&report, "rolled over ").is_empty(), "{report}");
    assert_eq!(lines(&report, "kept ").len(), 3, "{report}");

    // A lookback of two hours keeps everything...
    let report = ok(
        &osmem,
        &["lookback", "--unit=hours", "--unit-count=2", &prefix],
    )
    .await;
    assert!(lines(&report, "removed ").is_empty(), "{report}");
    assert_eq!(
        aliased(&osmem, &name("span", "read")).await,
        set(&[&name("span", "000001"), &name("span", "000002")])
    );

    // ...one of zero seconds drops every index created before this second
    // from the read alias, except the write indices.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let report = ok(
        &osmem,
        &[
            "lookback",
            "--unit",
            "seconds",
            "--unit-count",
            "0",
            &prefix,
        ],
    )
    .await;
    let removed = lines(&report, "removed ");
    assert_eq!(removed.len(), 1, "{report}");
    assert!(
        removed[0].starts_with(&format!(
            "removed {} from {} (created ",
            name("span", "000001"),
            name("span", "read")
        )),
        "{report}"
    );
    assert_eq!(
        aliased(&osmem, &name("span", "read")).await,
        set(&[&name("span", "000002")])
    );
    for kind in ["service", "dependencies"] {
        assert_eq!(
            aliased(&osmem, &name(kind, "read")).await,
            set(&[&name(kind, "000001")]),
            "the write index stays readable"
        );
    }
    assert!(
        indices(&osmem, &p).await.contains(&name("span", "000001")),
        "lookback deletes no index"
    );

    // `{}` always rolls over; --skip-dependencies leaves that set alone.
    let report = ok(
        &osmem,
        &[
            "rollover",
            "--conditions={}",
            "--skip-dependencies",
            &prefix,
        ],
    )
    .await;
    assert_eq!(lines(&report, "rolled over ").len(), 2, "{report}");
    assert!(!report.contains("dependencies"), "{report}");
    assert_eq!(
        aliased(&osmem, &span_write).await,
        set(&[&name("span", "000003")])
    );
    assert_eq!(
        aliased(&osmem, &name("service", "write")).await,
        set(&[&name("service", "000002")])
    );
    assert_eq!(
        aliased(&osmem, &name("dependencies", "write")).await,
        set(&[&name("dependencies", "000001")])
    );
    assert!(!indices(&osmem, &p)
        .await
        .contains(&name("dependencies", "000002")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollover_reuses_an_alias_free_next_index_left_by_an_interrupted_run() {
    let osmem = Osmem::start().await.expect("osmem starts");
    let p = unique_name("rc");
    let prefix = format!("--es-index-prefix={p}");
    ok(&osmem, &["init", "--skip-dependencies", &prefix]).await;
    // A run that died after creating the next index, before the alias swap.
    let next = format!("{p}-jaeger-span-000002");
    osmem
        .create_index(&next, json!({}))
        .await
        .expect("index created");

    let report = ok(
        &osmem,
        &[
            "rollover",
            "--conditions={}",
            "--skip-dependencies",
            &prefix,
        ],
    )
    .await;
    assert!(
        report.contains(&format!(
            "rolled over {p}-jaeger-span-write: {p}-jaeger-span-000001 -> {next} (no conditions)"
        )),
        "{report}"
    );
    assert_eq!(
        aliased(&osmem, &format!("{p}-jaeger-span-write")).await,
        set(&[&next])
    );
    assert_eq!(
        aliased(&osmem, &format!("{p}-jaeger-span-read")).await,
        set(&[&format!("{p}-jaeger-span-000001"), &next])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_states_it_cannot_work_from_with_one_clear_line() {
    let osmem = Osmem::start().await.expect("osmem starts");
    let fails = |output: &Output, expected: &str| {
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    };

    // Rollover before init.
    let p = unique_name("rf");
    let prefix = format!("--es-index-prefix={p}");
    let output = rollover(osmem.url(), &["rollover", &prefix]).await;
    fails(
        &output,
        &format!(
            "ferrotrace-ingester rollover rollover: no index has alias {p}-jaeger-span-write: \
             run `ferrotrace-ingester rollover init` first"
        ),
    );

    // The next index exists and belongs to someone: nothing is moved.
    ok(&osmem, &["init", &prefix]).await;
    let taken = format!("{p}-jaeger-span-000002");
    osmem
        .create_index(&taken, json!({"aliases": {"someone-else": {}}}))
        .await
        .expect("index created");
    let output = rollover(osmem.url(), &["rollover", "--conditions={}", &prefix]).await;
    fails(
        &output,
        &format!("the next index {taken} already exists with aliases someone-else"),
    );
    assert_eq!(
        aliased(&osmem, &format!("{p}-jaeger-span-write")).await,
        set(&[&format!("{p}-jaeger-span-000001")])
    );

    // An ingester that wrote before init left an index named like the alias.
    let q = unique_name("rs");
    osmem
        .create_index(&format!("{q}-jaeger-span-write"), json!({}))
        .await
        .expect("index created");
    let output = rollover(osmem.url(), &["init", &format!("--es-index-prefix={q}")]).await;
    fails(
        &output,
        &format!("{q}-jaeger-span-write is an index, not an alias"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_conditions_and_units_exit_64_without_contacting_elasticsearch() {
    // Nothing listens there: a usage error must come before any request.
    let url = format!("http://127.0.0.1:{}", free_port());
    for (args, expected) in [
        (
            &["rollover", "--conditions=max_age=2d"][..],
            "ferrotrace-ingester rollover rollover: --conditions \"max_age=2d\" is not a JSON object",
        ),
        (
            &["rollover", r#"--conditions={"min_docs":1}"#],
            "ferrotrace-ingester rollover rollover: --conditions: min_docs 1: unknown condition (supported: max_age, max_docs, max_size, max_primary_shard_size, max_primary_shard_docs)",
        ),
        (
            &["rollover", r#"--conditions={"max_age":"2 days"}"#],
            "ferrotrace-ingester rollover rollover: --conditions: max_age \"2 days\": ",
        ),
        (
            &["lookback", "--unit=fortnights"],
            "ferrotrace-ingester rollover lookback: --unit \"fortnights\": use seconds, minutes",
        ),
    ] {
        let output = rollover(&url, args).await;
        assert_eq!(output.status.code(), Some(64), "{args:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with(expected), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(output.stdout.is_empty(), "{output:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_elasticsearch_fails_with_one_clear_line() {
    let url = format!("http://127.0.0.1:{}", free_port());
    for (step, expected) in [
        ("init", "init: detecting the elasticsearch flavour: elasticsearch unavailable"),
        (
            "rollover",
            "rollover: looking up alias jaeger-span-write: elasticsearch unavailable",
        ),
        (
            "lookback",
            "lookback: reading the creation dates of the indices in jaeger-span-read: elasticsearch unavailable",
        ),
    ] {
        let output = rollover(&url, &[step, "--es-timeout=5s"]).await;
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with(&format!("ferrotrace-ingester rollover {expected}")),
            "{stderr}"
        );
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
}
