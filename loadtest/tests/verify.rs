//! The verifier against a real osmem server: hand-made Jaeger span documents
//! (only `traceID`, `spanID` and `startTime`) are bulk-indexed into daily
//! span indices, and the report must count exactly what was planted.
//! Every test starts its own server, so they run in parallel.

use std::time::{Duration, Instant};

use ferrotrace_format::jaeger::ids::{self, TraceIdBytes};
use ferrotrace_loadtest::verify::{verify, verify_with_page_size, Acked, Report, VerifyOptions};
use ferrotrace_testkit::Osmem;
use serde_json::json;

/// 2026-11-26T10:00:00Z in µs.
const NOW: u64 = 1_795_687_200_000_000;
const TODAY: &str = "jaeger-span-2026-11-26";
const YESTERDAY: &str = "jaeger-span-2026-11-25";
const HOUR: u64 = 3_600_000_000;

fn trace(n: u64) -> TraceIdBytes {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&(0x9e37_79b9_7f4a_7c15u64.wrapping_mul(n)).to_be_bytes());
    id[8..].copy_from_slice(&n.to_be_bytes());
    id
}

fn trace_text(id: &TraceIdBytes) -> String {
    let mut buf = [0u8; 32];
    ids::jaeger_trace_id(id, &mut buf).to_owned()
}

fn span_text(n: u64) -> String {
    format!("{n:016x}")
}

/// One span document to plant.
struct Doc {
    index: String,
    id: String,
    trace: TraceIdBytes,
    /// The stored `traceID`: Jaeger's rendering of `trace` unless a test
    /// plants something else.
    trace_text: String,
    span: u64,
    start: u64,
}

fn doc(index: &str, trace: TraceIdBytes, span: u64) -> Doc {
    Doc {
        index: index.into(),
        id: format!("{}-{}", trace_text(&trace), span_text(span)),
        trace,
        trace_text: trace_text(&trace),
        span,
        start: NOW,
    }
}

/// Creates the indices with Jaeger's keyword mapping and bulk-indexes `docs`.
async fn plant(osmem: &Osmem, docs: &[Doc]) -> anyhow::Result<()> {
    let mut indices: Vec<&str> = docs.iter().map(|d| d.index.as_str()).collect();
    indices.sort_unstable();
    indices.dedup();
    for index in indices {
        let (status, _) = osmem.get(&format!("/{index}")).await?;
        if status == 404 {
            osmem
                .create_index(
                    index,
                    json!({"mappings": {"properties": {
                        "traceID": {"type": "keyword"},
                        "spanID": {"type": "keyword"},
                        "startTime": {"type": "long"},
                    }}}),
                )
                .await?;
        }
    }
    let mut body = String::new();
    for d in docs {
        body.push_str(&json!({"index": {"_index": d.index, "_id": d.id}}).to_string());
        body.push('\n');
        body.push_str(
            &json!({"traceID": d.trace_text, "spanID": span_text(d.span), "startTime": d.start})
                .to_string(),
        );
        body.push('\n');
    }
    let response = reqwest::Client::new()
        .post(format!("{}/_bulk?refresh=true", osmem.url()))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(
        status.is_success() && text.contains("\"errors\":false"),
        "bulk failed with {status}: {text}"
    );
    Ok(())
}

fn options(osmem: &Osmem) -> VerifyOptions {
    VerifyOptions {
        es_url: osmem.url().to_owned(),
        index_prefix: String::new(),
        since_micros: NOW - HOUR,
        wait: Duration::from_secs(20),
        idle: Duration::from_millis(300),
        max_listed: 10,
        progress_every: None,
    }
}

fn assert_counts(report: &Report, found: u64, lost: u64, duplicated: u64, foreign: u64) {
    assert_eq!(
        (
            report.found_spans,
            report.lost_spans,
            report.duplicated_spans,
            report.foreign_spans
        ),
        (found, lost, duplicated, foreign),
        "found, lost, duplicated, foreign in {report:#?}"
    );
}

#[tokio::test]
async fn exact_when_every_acked_span_is_indexed_once() -> anyhow::Result<()> {
    let osmem = Osmem::start().await?;
    // A 64-bit trace ID is stored as 16 hex digits: it must still match.
    let mut short = [0u8; 16];
    short[15] = 0x2a;
    let mut acked = Acked::default();
    acked.record(trace(1), 3);
    acked.record(short, 1);
    let mut yesterday = doc(YESTERDAY, trace(1), 3);
    yesterday.start = NOW - HOUR / 2 - 10 * HOUR;
    let mut opts = options(&osmem);
    opts.since_micros = NOW - 12 * HOUR;
    plant(
        &osmem,
        &[
            doc(TODAY, trace(1), 1),
            doc(TODAY, trace(1), 2),
            yesterday,
            doc(TODAY, short, 7),
        ],
    )
    .await?;

    let report = verify(&opts, &acked).await?;

    assert!(report.is_exact(), "{report:#?}");
    assert_eq!(report.expected_spans, 4);
    assert_counts(&report, 4, 0, 0, 0);
    assert!(report.lost_traces.is_empty() && report.duplicated.is_empty());
    Ok(())
}

#[tokio::test]
async fn reports_a_lost_span_and_a_missing_trace() -> anyhow::Result<()> {
    let osmem = Osmem::start().await?;
    let mut acked = Acked::default();
    acked.record(trace(1), 3);
    acked.record(trace(2), 2);
    acked.record(trace(3), 1);
    plant(
        &osmem,
        &[
            doc(TODAY, trace(1), 1),
            doc(TODAY, trace(1), 3),
            doc(TODAY, trace(3), 1),
        ],
    )
    .await?;

    let report = verify(&options(&osmem), &acked).await?;

    assert!(!report.is_exact());
    assert_counts(&report, 3, 1 + 2, 0, 0);
    assert_eq!(report.lost_trace_count, 2);
    let mut listed: Vec<_> = report
        .lost_traces
        .iter()
        .map(|t| (t.trace_id.clone(), t.expected, t.found))
        .collect();
    listed.sort();
    let mut want = vec![(trace_text(&trace(1)), 3, 2), (trace_text(&trace(2)), 2, 0)];
    want.sort();
    assert_eq!(listed, want);
    // Indexing had stalled below the expected count: it waited for `idle`.
    assert!(report.waited_seconds >= 0.3 && report.waited_seconds < 10.0);
    Ok(())
}

#[tokio::test]
async fn counts_duplicate_documents_of_one_span() -> anyhow::Result<()> {
    let osmem = Osmem::start().await?;
    let mut acked = Acked::default();
    acked.record(trace(1), 2);
    let mut copy = doc(TODAY, trace(1), 2);
    copy.id.push_str("-other-hash");
    let mut third = doc(YESTERDAY, trace(1), 2);
    third.start = NOW - 11 * HOUR;
    let mut opts = options(&osmem);
    opts.since_micros = NOW - 12 * HOUR;
    plant(
        &osmem,
        &[
            doc(TODAY, trace(1), 1),
            doc(TODAY, trace(1), 2),
            copy,
            third,
        ],
    )
    .await?;

    let report = verify(&opts, &acked).await?;

    assert!(!report.is_exact());
    assert_counts(&report, 2, 0, 2, 0);
    assert_eq!(report.duplicated.len(), 1);
    let dup = &report.duplicated[0];
    assert_eq!(
        (dup.trace_id.as_str(), dup.span_id.as_str(), dup.copies),
        (trace_text(&trace(1)).as_str(), "0000000000000002", 3)
    );
    Ok(())
}

#[tokio::test]
async fn foreign_traces_are_counted_not_errors() -> anyhow::Result<()> {
    let osmem = Osmem::start().await?;
    let mut acked = Acked::default();
    acked.record(trace(1), 1);
    let mut odd = doc(TODAY, trace(9), 2);
    odd.trace_text = "not-a-hex-trace-id".into();
    plant(
        &osmem,
        &[
            doc(TODAY, trace(1), 1),
            doc(TODAY, trace(8), 1),
            doc(TODAY, trace(8), 2),
            doc(TODAY, trace(9), 1),
            odd,
        ],
    )
    .await?;

    let report = verify(&options(&osmem), &acked).await?;

    assert!(report.is_exact(), "{report:#?}");
    assert_counts(&report, 1, 0, 0, 4);
    Ok(())
}

#[tokio::test]
async fn uncertain_traces_may_be_partly_stored_but_not_exceeded() -> anyhow::Result<()> {
    let osmem = Osmem::start().await?;
    let mut acked = Acked::default();
    acked.record(trace(1), 1);
    acked.record_uncertain(trace(2), 3); // one of three stored: fine
    acked.record_uncertain(trace(3), 2); // none stored: fine
    acked.record_uncertain(trace(4), 1); // two distinct stored: one extra
    plant(
        &osmem,
        &[
            doc(TODAY, trace(1), 1),
            doc(TODAY, trace(2), 2),
            doc(TODAY, trace(4), 1),
            doc(TODAY, trace(4), 2),
        ],
    )
    .await?;

    let report = verify(&options(&osmem), &acked).await?;

    assert_eq!(report.expected_spans, 1);
    assert_eq!(report.uncertain_spans, 6);
    assert_counts(&report, 4, 0, 0, 0);
    assert_eq!(report.extra_spans, 1);
    assert!(!report.is_exact());
    Ok(())
}

#[tokio::test]
async fn ignores_documents_that_started_before_since() -> anyhow::Result<()> {
    let osmem = Osmem::start().await?;
    let mut acked = Acked::default();
    acked.record(trace(1), 2);
    // An earlier run's copies of the same spans: neither found nor duplicates.
    let mut old_1 = doc(YESTERDAY, trace(1), 1);
    old_1.id.push_str("-old");
    old_1.start = NOW - 20 * HOUR;
    let mut old_2 = doc(TODAY, trace(1), 2);
    old_2.start = NOW - 2 * HOUR;
    plant(&osmem, &[old_1, doc(TODAY, trace(1), 1), old_2]).await?;

    let report = verify(&options(&osmem), &acked).await?;

    assert_counts(&report, 1, 1, 0, 0);
    assert_eq!(report.lost_traces[0].found, 1);
    Ok(())
}

#[tokio::test]
async fn reads_only_the_indices_of_its_prefix() -> anyhow::Result<()> {
    let osmem = Osmem::start().await?;
    let mut acked = Acked::default();
    acked.record(trace(1), 2);
    let prefixed = format!("prod-{TODAY}");
    let mut stray = doc(TODAY, trace(1), 1);
    stray.id.push_str("-unprefixed");
    plant(
        &osmem,
        &[
            doc(&prefixed, trace(1), 1),
            doc(&prefixed, trace(1), 2),
            stray,
            doc(TODAY, trace(7), 1),
            doc(&format!("prodx-{TODAY}"), trace(1), 1),
        ],
    )
    .await?;
    let mut opts = options(&osmem);
    opts.index_prefix = "prod".into();

    let report = verify(&opts, &acked).await?;

    assert!(report.is_exact(), "{report:#?}");
    assert_counts(&report, 2, 0, 0, 0);

    // The unprefixed indices hold one of the two spans, a copy under another
    // prefix is not read, and trace 7 is foreign there.
    opts.index_prefix = String::new();
    let report = verify(&opts, &acked).await?;
    assert_counts(&report, 1, 1, 0, 1);
    Ok(())
}

#[tokio::test]
async fn pages_through_more_documents_than_one_page() -> anyhow::Result<()> {
    let osmem = Osmem::start().await?;
    let mut acked = Acked::default();
    let mut docs = Vec::new();
    for t in 1..=6 {
        acked.record(trace(t), 5);
        for s in 1..=5 {
            docs.push(doc(if t % 2 == 0 { TODAY } else { YESTERDAY }, trace(t), s));
        }
    }
    for d in &mut docs {
        if d.index == YESTERDAY {
            d.start = NOW - 11 * HOUR;
        }
    }
    // Two copies of one span, and a lost one, somewhere among the pages.
    let mut copy = doc(TODAY, trace(4), 3);
    copy.id.push_str("-copy");
    docs.push(copy);
    docs.retain(|d| !(d.trace == trace(5) && d.span == 5));
    for n in 0..7 {
        docs.push(doc(TODAY, trace(100 + n), 1));
    }
    plant(&osmem, &docs).await?;
    let mut opts = options(&osmem);
    opts.since_micros = NOW - 12 * HOUR;

    // 37 documents in pages of 4.
    let report = verify_with_page_size(&opts, &acked, 4).await?;

    assert_counts(&report, 29, 1, 1, 7);
    assert_eq!(report.lost_traces[0].trace_id, trace_text(&trace(5)));
    assert_eq!(report.duplicated[0].trace_id, trace_text(&trace(4)));
    Ok(())
}

#[tokio::test]
async fn missing_indices_mean_nothing_found() -> anyhow::Result<()> {
    let osmem = Osmem::start().await?;
    let mut acked = Acked::default();
    acked.record(trace(1), 2);
    let mut opts = options(&osmem);
    // Also under a prefix that matches no index at all.
    for (prefix, pattern) in [("", "jaeger-span-*"), ("nothing", "nothing-jaeger-span-*")] {
        opts.index_prefix = prefix.into();
        let report = verify(&opts, &acked).await?;
        assert_counts(&report, 0, 2, 0, 0);
        assert_eq!(report.lost_trace_count, 1);
        assert_eq!(report.no_such_index.as_deref(), Some(pattern));
    }
    // An index of the prefix, but none of our spans in it: lost, not missing.
    plant(&osmem, &[doc(TODAY, trace(7), 1)]).await?;
    opts.index_prefix = String::new();
    let report = verify(&opts, &acked).await?;
    assert_counts(&report, 0, 2, 0, 1);
    assert_eq!(report.no_such_index, None);
    Ok(())
}

#[tokio::test]
async fn waits_for_documents_indexed_late() -> anyhow::Result<()> {
    let osmem = Osmem::start().await?;
    let mut acked = Acked::default();
    acked.record(trace(1), 2);
    plant(&osmem, &[doc(TODAY, trace(1), 1)]).await?;
    let mut opts = options(&osmem);
    opts.idle = Duration::from_secs(10);
    let started = Instant::now();

    let (report, planted) = tokio::join!(verify(&opts, &acked), async {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        plant(&osmem, &[doc(TODAY, trace(1), 2)]).await
    });
    planted?;
    let report = report?;

    assert!(report.is_exact(), "{report:#?}");
    // It stopped as soon as the count was reached, well before `idle`.
    assert!(report.waited_seconds >= 1.4, "{report:#?}");
    assert!(started.elapsed() < Duration::from_secs(8));
    Ok(())
}

#[tokio::test]
async fn other_traffic_reaching_the_count_early_does_not_make_late_spans_lost() -> anyhow::Result<()>
{
    let osmem = Osmem::start().await?;
    let mut acked = Acked::default();
    acked.record(trace(1), 2);
    // An earlier run's two spans are in the range: with one of ours, the
    // count passes the expected 2 before our second span is indexed.
    plant(
        &osmem,
        &[
            doc(TODAY, trace(9), 1),
            doc(TODAY, trace(9), 2),
            doc(TODAY, trace(1), 1),
        ],
    )
    .await?;
    let mut opts = options(&osmem);
    opts.idle = Duration::from_secs(3);

    let (report, planted) = tokio::join!(verify(&opts, &acked), async {
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        plant(&osmem, &[doc(TODAY, trace(1), 2)]).await
    });
    planted?;
    let report = report?;

    assert!(report.is_exact(), "{report:#?}");
    assert_counts(&report, 2, 0, 0, 2);
    Ok(())
}

#[tokio::test]
async fn gives_up_after_wait_even_while_the_count_grows() -> anyhow::Result<()> {
    let osmem = Osmem::start().await?;
    let mut acked = Acked::default();
    acked.record(trace(1), 100);
    // Created up front: osmem's first index creation can take seconds.
    plant(&osmem, &[doc(TODAY, trace(1), 0)]).await?;
    let mut opts = options(&osmem);
    opts.idle = Duration::from_millis(1_200);
    opts.wait = Duration::from_secs(2);

    // A span every 300 ms for 3.6 s: the count never stalls for `idle`
    // before `wait` is over, so only `wait` can end the waiting.
    let (report, planted) = tokio::join!(verify(&opts, &acked), async {
        for s in 1..=12 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            plant(&osmem, &[doc(TODAY, trace(1), s)]).await?;
        }
        anyhow::Ok(())
    });
    planted?;
    let report = report?;

    assert!((1.9..3.0).contains(&report.waited_seconds), "{report:#?}");
    assert!(report.found_spans >= 5, "{report:#?}");
    assert_eq!(report.lost_spans, 100 - report.found_spans);
    Ok(())
}

#[tokio::test]
async fn http_errors_name_the_url_and_status() -> anyhow::Result<()> {
    let osmem = Osmem::start().await?;
    let mut acked = Acked::default();
    acked.record(trace(1), 1);
    // osmem has no handler under `/_cat/<index>/_count`: a 400 with a body.
    let mut opts = options(&osmem);
    let bad = VerifyOptions {
        es_url: format!("{}/_cat/", osmem.url()),
        ..opts.clone()
    };
    let error = verify(&bad, &acked)
        .await
        .expect_err("a 400 must be an error");
    let text = format!("{error:#}");
    assert!(
        text.contains(&format!("{}/_cat/jaeger-span-*/_count", osmem.url()))
            && text.contains("400")
            && text.contains("no handler found"),
        "{text}"
    );

    // Nothing listens on this port: the error names the URL.
    opts.es_url = format!("http://127.0.0.1:{}", ferrotrace_testkit::free_port());
    let error = verify(&opts, &acked)
        .await
        .expect_err("no server must be an error");
    let text = format!("{error:#}");
    assert!(
        text.contains(&opts.es_url) && text.contains("_count"),
        "{text}"
    );
    Ok(())
}
