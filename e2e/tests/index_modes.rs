//! The document and index options users carry over from Jaeger, against a
//! real cluster: tags stored as fields (`--es-tags-as-fields-*`) and rollover
//! mode (`--es-use-aliases`), where spans go through `-write` aliases.

mod support;

use std::time::Duration;

use serde_json::json;
use support::Cluster;

const SPANS: u64 = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_as_fields_are_stored_as_searchable_keyword_fields() {
    let cluster = Cluster::start(2).await;
    // Without the metrics generator the documents come straight from the
    // protobuf wire (the wire writer's tags-as-fields).
    let mut ingester = cluster.ingester(&[
        "--es-tags-as-fields-all",
        "--service-graph=false",
        "--span-metrics=false",
    ]);
    cluster.send_traces(SPANS as usize / 10).await;
    assert_eq!(
        cluster.wait_for_spans(SPANS, Duration::from_secs(60)).await,
        SPANS
    );

    let index = format!("{}-jaeger-span-*", cluster.prefix);
    let docs = cluster.osmem.all_docs(&index).await.expect("span docs");
    let mut client_spans = 0;
    for (id, doc) in &docs {
        let kind = doc["tag"]["span@kind"].as_str();
        assert!(
            matches!(kind, Some("server" | "client")),
            "{id}: {}",
            doc["tag"]
        );
        client_spans += u64::from(kind == Some("client"));
        assert!(doc["process"]["tag"]["host@name"].is_string(), "{id}");
        assert!(
            doc["tags"]
                .as_array()
                .expect("tags array")
                .iter()
                .all(|t| t["key"] != "span.kind"),
            "{id}: a tag stored as a field is not repeated in the array"
        );
    }
    assert!(client_spans > 0 && client_spans < SPANS);

    // The template maps `tag.*` as keywords, so a term query finds them the
    // way Jaeger's query service and Kibana search.
    let found = cluster
        .osmem
        .search(
            &index,
            json!({"size": 0, "track_total_hits": true,
                   "query": {"term": {"tag.span@kind": "client"}}}),
        )
        .await
        .expect("term search");
    assert_eq!(found["hits"]["total"]["value"], client_spans);
    let (_, mapping) = cluster
        .osmem
        .get(&format!("/{index}/_mapping"))
        .await
        .expect("mapping");
    let mapped = mapping
        .as_object()
        .and_then(|indices| indices.values().next())
        .map(|m| m["mappings"]["properties"]["tag"]["properties"]["span@kind"]["type"].clone());
    assert_eq!(mapped, Some(json!("keyword")), "{mapping}");
    support::terminate(&mut ingester).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alias_mode_refuses_to_start_without_its_aliases_then_writes_through_them() {
    let cluster = Cluster::start(2).await;
    let prefix = &cluster.prefix;

    // Without `rollover init`, Elasticsearch would create a plain index named
    // like the alias and block the alias for good: the ingester stops first.
    let stderr = cluster.refused_ingester(&["--es-use-aliases"]).await;
    assert!(
        stderr.contains(&format!("{prefix}-jaeger-span-write does not exist"))
            && stderr.contains("rollover init"),
        "{stderr}"
    );

    // What `rollover init` sets up: the first index of each set behind both aliases.
    for kind in ["span", "service"] {
        cluster.first_rollover_index(kind).await;
    }
    let mut ingester = cluster.ingester(&["--es-use-aliases"]);
    let sent = cluster.send_traces(SPANS as usize / 10).await;
    assert_eq!(
        cluster.wait_for_spans(SPANS, Duration::from_secs(60)).await,
        SPANS
    );
    let stored = cluster
        .osmem
        .all_docs(&format!("{prefix}-jaeger-span-000001"))
        .await
        .expect("first rollover index");
    assert_eq!(
        stored.len() as u64,
        SPANS,
        "every span is in the write index"
    );
    let services = cluster
        .osmem
        .all_docs(&format!("{prefix}-jaeger-service-read"))
        .await
        .expect("service docs through the read alias");
    assert!(!services.is_empty());
    let names = cluster.index_names(&format!("{prefix}-*")).await;
    assert_eq!(
        names.len(),
        2,
        "no daily index and no index named like an alias: {names:?}"
    );
    assert_eq!(sent.len() as u64, SPANS);
    support::terminate(&mut ingester).await;
}
