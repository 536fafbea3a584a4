//! `ferrotrace-loadtest`: sends bursts of realistic traces to a collector and
//! reports how many spans were acknowledged, refused, and how fast.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{CommandFactory, Parser};
use ferrotrace_common::config::{parse_args_or_exit, parse_duration};
use ferrotrace_loadtest::generator::Shape;
use ferrotrace_loadtest::run::{self, Outcome, Plan};
use ferrotrace_loadtest::security::{read_secret_file, SecurityFiles};
use ferrotrace_loadtest::senders::{Options, Protocol, Sender};
use ferrotrace_loadtest::verify::{self, EsAccess, EsAuth, Report, VerifyOptions};

#[derive(Parser, Debug)]
#[command(
    name = "ferrotrace-loadtest",
    version,
    about = "Sends realistic traces to a ferrotrace collector (OTLP, Jaeger or Zipkin)"
)]
struct Args {
    /// Collector endpoint, e.g. http://127.0.0.1:4317 (gRPC) or http://127.0.0.1:4318 (HTTP);
    /// 127.0.0.1:6831 for jaeger-compact, 127.0.0.1:6832 for jaeger-binary (UDP),
    /// http://127.0.0.1:14268 jaeger-http, http://127.0.0.1:14250 jaeger-grpc, http://127.0.0.1:9411 zipkin-*.
    #[arg(
        long,
        env = "FERROTRACE_LOADTEST_ENDPOINT",
        default_value = "http://127.0.0.1:4317"
    )]
    endpoint: String,
    /// Protocol to send with.
    #[arg(
        long,
        env = "FERROTRACE_LOADTEST_PROTOCOL",
        value_enum,
        default_value = "grpc"
    )]
    protocol: Protocol,
    /// Number of traces to send in all (default 1000, or no limit with --duration).
    #[arg(long, env = "FERROTRACE_LOADTEST_TRACES")]
    traces: Option<usize>,
    /// Stop sending after this long, e.g. 60s or 5m; requests still unanswered
    /// 5 s later (retries included) count as refused, so the run ends then
    /// even when the collector does not answer.
    #[arg(long, env = "FERROTRACE_LOADTEST_DURATION", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Offered load in spans per second (open loop: latency counts from each
    /// request's due time); 0 sends as fast as the collector answers (closed loop).
    #[arg(long, env = "FERROTRACE_LOADTEST_RATE", default_value_t = 0.0)]
    rate: f64,
    /// Traces per export request.
    #[arg(
        long,
        env = "FERROTRACE_LOADTEST_TRACES_PER_REQUEST",
        default_value_t = 10
    )]
    traces_per_request: usize,
    /// Spans per trace.
    #[arg(
        long,
        env = "FERROTRACE_LOADTEST_SPANS_PER_TRACE",
        default_value_t = 10
    )]
    spans_per_trace: usize,
    /// Attributes per span.
    #[arg(long, env = "FERROTRACE_LOADTEST_ATTRIBUTES", default_value_t = 20)]
    attributes: usize,
    /// Events (span logs, two attributes each) on every span.
    #[arg(long, env = "FERROTRACE_LOADTEST_EVENTS_PER_SPAN", default_value_t = 0)]
    events_per_span: usize,
    /// Length of string attribute values in bytes (0: short natural values);
    /// sets the payload size.
    #[arg(
        long,
        env = "FERROTRACE_LOADTEST_STRING_VALUE_BYTES",
        default_value_t = 0
    )]
    string_value_bytes: usize,
    /// Whether every fourth attribute is a float64; false cycles string, int, bool (the shape of the floor instruments' reference load).
    #[arg(long, env = "FERROTRACE_LOADTEST_DOUBLE_ATTRIBUTES", default_value_t = true, action = clap::ArgAction::Set)]
    double_attributes: bool,
    /// Fraction of spans with an error status, 0 to 1.
    #[arg(long, env = "FERROTRACE_LOADTEST_ERROR_RATE", default_value_t = 0.01)]
    error_rate: f64,
    /// Connections, each with one request in flight.
    #[arg(long, env = "FERROTRACE_LOADTEST_CONCURRENCY", default_value_t = 4)]
    concurrency: usize,
    /// Jaeger UDP only: spans per second in all (UDP has no back-pressure); 0 sends as fast as possible.
    #[arg(
        long,
        env = "FERROTRACE_LOADTEST_UDP_SPANS_PER_SECOND",
        default_value_t = 20_000.0
    )]
    udp_spans_per_second: f64,
    /// Jaeger UDP only: largest packet sent; bigger batches are split.
    #[arg(
        long,
        env = "FERROTRACE_LOADTEST_UDP_MAX_PACKET_BYTES",
        default_value_t = 65_000
    )]
    udp_max_packet_bytes: usize,
    /// Print a progress line to stderr this often, also while --verify waits (0 for none).
    #[arg(long, env = "FERROTRACE_LOADTEST_REPORT_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    report_interval: Duration,
    /// Retry a retryable refusal with doubling backoff from 100 ms until the
    /// backoff would exceed this (an OpenTelemetry SDK retries for about a minute).
    #[arg(long, env = "FERROTRACE_LOADTEST_MAX_BACKOFF", default_value = "30s", value_parser = parse_duration)]
    max_backoff: Duration,
    /// PEM CA certificate(s) trusted for an https:// --endpoint instead of the built-in roots.
    #[arg(long, env = "FERROTRACE_LOADTEST_TLS_CA_FILE")]
    tls_ca_file: Option<PathBuf>,
    /// PEM client certificate for mTLS, with --tls-key-file.
    #[arg(
        long,
        env = "FERROTRACE_LOADTEST_TLS_CERT_FILE",
        requires = "tls_key_file"
    )]
    tls_cert_file: Option<PathBuf>,
    /// PEM private key of --tls-cert-file.
    #[arg(
        long,
        env = "FERROTRACE_LOADTEST_TLS_KEY_FILE",
        requires = "tls_cert_file"
    )]
    tls_key_file: Option<PathBuf>,
    /// File whose first non-empty, non-`#` line is sent as `authorization: Bearer <token>`
    /// on every request (the collector's --auth-bearer-tokens-file format).
    #[arg(long, env = "FERROTRACE_LOADTEST_BEARER_TOKEN_FILE")]
    bearer_token_file: Option<PathBuf>,
    /// Print the final report as one JSON object on stdout.
    #[arg(long, env = "FERROTRACE_LOADTEST_JSON")]
    json: bool,
    /// After the run, check Elasticsearch for every acknowledged span (lost,
    /// duplicated); the exit code is 1 unless the count is exact.
    #[arg(long, env = "FERROTRACE_LOADTEST_VERIFY", requires = "es_url")]
    verify: bool,
    /// Elasticsearch the ingesters write to, for --verify.
    #[arg(long, env = "FERROTRACE_ES_URL")]
    es_url: Option<String>,
    /// User for basic authentication to Elasticsearch, for --verify (the ingester's flag).
    #[arg(
        long,
        env = "FERROTRACE_ES_USERNAME",
        requires = "es_password_file",
        conflicts_with = "es_api_key_file"
    )]
    es_username: Option<String>,
    /// File holding the password of --es-username; a trailing newline is dropped.
    #[arg(long, env = "FERROTRACE_ES_PASSWORD_FILE", requires = "es_username")]
    es_password_file: Option<PathBuf>,
    /// File holding an API key (base64 of `id:api_key`), sent as `Authorization: ApiKey <key>`;
    /// a trailing newline is dropped.
    #[arg(long, env = "FERROTRACE_ES_API_KEY_FILE")]
    es_api_key_file: Option<PathBuf>,
    /// PEM file of CA certificates trusted for an https:// --es-url, besides the built-in roots.
    #[arg(long, env = "FERROTRACE_ES_TLS_CA")]
    es_tls_ca: Option<PathBuf>,
    /// Index prefix the ingesters use (--es-index-prefix).
    #[arg(long, env = "FERROTRACE_ES_INDEX_PREFIX", default_value = "")]
    es_index_prefix: String,
    /// --verify waits at most this long for the spans to be indexed...
    #[arg(long, env = "FERROTRACE_LOADTEST_VERIFY_WAIT", default_value = "10m", value_parser = parse_duration)]
    verify_wait: Duration,
    /// ...and stops waiting when the indexed count has not grown for this long.
    #[arg(long, env = "FERROTRACE_LOADTEST_VERIFY_IDLE", default_value = "30s", value_parser = parse_duration)]
    verify_idle: Duration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args: Args = parse_args_or_exit();
    let security_files = args.security_files();
    if let Some(problem) = security_files.problem(&args.endpoint, args.protocol.is_tcp()) {
        Args::command()
            .error(clap::error::ErrorKind::ArgumentConflict, problem)
            .exit();
    }
    // Every file is read before the first connection: a bad one fails fast.
    let security = security_files.load()?;
    let es_access = args.es_access()?;
    let concurrency = args.concurrency.max(1);
    let options = Options {
        udp_max_packet_bytes: args.udp_max_packet_bytes,
        udp_spans_per_second: args.udp_spans_per_second / concurrency as f64,
    };
    let mut senders = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        senders.push(Sender::connect(&args.endpoint, args.protocol, options, &security).await?);
    }
    let plan = Plan {
        traces: args.traces.or(if args.duration.is_some() {
            None
        } else {
            Some(1000)
        }),
        duration: args.duration,
        traces_per_request: args.traces_per_request,
        shape: Shape {
            spans_per_trace: args.spans_per_trace,
            attributes_per_span: args.attributes,
            error_rate: args.error_rate.clamp(0.0, 1.0),
            events_per_span: args.events_per_span,
            string_value_bytes: args.string_value_bytes,
            double_attributes: args.double_attributes,
        },
        rate: args.rate.max(0.0),
        concurrency,
        record_acked: args.verify,
        report_every: (!args.report_interval.is_zero()).then_some(args.report_interval),
        max_backoff: args.max_backoff,
    };
    let outcome = run::run(plan, senders).await;

    let report = match (&args.es_url, args.verify) {
        (Some(es_url), true) => {
            let options = VerifyOptions {
                es_url: es_url.clone(),
                index_prefix: args.es_index_prefix.clone(),
                // Generated spans start up to a few seconds before they are sent.
                since_micros: outcome.started_unix_micros.saturating_sub(60_000_000),
                wait: args.verify_wait,
                idle: args.verify_idle,
                max_listed: 10,
                progress_every: (!args.report_interval.is_zero()).then_some(args.report_interval),
            };
            Some(verify::verify_with_access(&options, &es_access, &outcome.acked).await?)
        }
        _ => None,
    };
    print_report(&args, &outcome, report.as_ref());
    let exact = report.as_ref().is_none_or(Report::is_exact);
    if outcome.stats.counts.refused_spans > 0 || !exact {
        std::process::exit(1);
    }
    Ok(())
}

impl Args {
    fn security_files(&self) -> SecurityFiles {
        SecurityFiles {
            tls_ca_file: self.tls_ca_file.clone(),
            tls_cert_file: self.tls_cert_file.clone(),
            tls_key_file: self.tls_key_file.clone(),
            bearer_token_file: self.bearer_token_file.clone(),
        }
    }

    /// The --verify credentials and CA, read from their files.
    fn es_access(&self) -> anyhow::Result<EsAccess> {
        let auth = match (
            &self.es_username,
            &self.es_password_file,
            &self.es_api_key_file,
        ) {
            (Some(username), Some(password), _) => EsAuth::Basic {
                username: username.clone(),
                password: read_secret_file("--es-password-file", password)?,
            },
            (_, _, Some(api_key)) => {
                EsAuth::ApiKey(read_secret_file("--es-api-key-file", api_key)?)
            }
            _ => EsAuth::None,
        };
        let tls_ca_pem = self
            .es_tls_ca
            .as_ref()
            .map(|path| {
                std::fs::read(path)
                    .with_context(|| format!("--es-tls-ca {}: cannot read", path.display()))
            })
            .transpose()?;
        Ok(EsAccess { auth, tls_ca_pem })
    }
}

fn print_report(args: &Args, outcome: &Outcome, report: Option<&Report>) {
    let latency = outcome.stats.latency_ms();
    let stats = &outcome.stats.counts;
    let rate = stats.acked_spans as f64 / outcome.seconds.max(1e-9);
    let usage = own_usage();
    if args.json {
        let json = serde_json::json!({
            "protocol": format!("{:?}", args.protocol),
            "offered_rate": args.rate,
            "seconds": outcome.seconds,
            "requests": stats.requests,
            "payloads": stats.payloads,
            "sent_spans": stats.sent_spans,
            "acked_spans": stats.acked_spans,
            "rejected_spans": stats.rejected_spans,
            "refused_spans": stats.refused_spans,
            "retries": stats.retries,
            "errors": stats.errors,
            "achieved_rate": rate,
            "latency_ms": latency,
            "verify": report,
            "loadtest_cpu_seconds": usage.map(|u| u.0),
            "loadtest_peak_rss_mib": usage.map(|u| u.1),
        });
        println!("{json}");
        return;
    }
    // For UDP "acked" means sent: nothing answers a packet.
    println!(
        "spans acked={} rejected={} refused={} retries={} payloads={} seconds={:.2} rate={rate:.0} spans/s",
        stats.acked_spans,
        stats.rejected_spans,
        stats.refused_spans,
        stats.retries,
        stats.payloads,
        outcome.seconds,
    );
    println!(
        "ack latency ms: p50={:.2} p90={:.2} p99={:.2} p99.9={:.2} max={:.2} ({} requests{})",
        latency.p50,
        latency.p90,
        latency.p99,
        latency.p999,
        latency.max,
        stats.requests,
        if args.rate > 0.0 {
            ", from each request's due time"
        } else {
            ""
        },
    );
    if !stats.errors.is_empty() {
        println!("errors by kind: {}", run::error_kinds(&stats.errors));
    }
    if let Some(report) = report {
        print_verify(report);
    }
}

fn print_verify(report: &Report) {
    if let Some(pattern) = &report.no_such_index {
        println!(
            "verify: no such index: nothing matches {pattern} (check --es-index-prefix, or whether an ingester ever stored a span); expected {} spans",
            report.expected_spans
        );
        return;
    }
    println!(
        "verify: expected {} spans, found {}: lost={} duplicated={} extra={} ({} spans of other traces in the time range; waited {:.1}s){}",
        report.expected_spans,
        report.found_spans,
        report.lost_spans,
        report.duplicated_spans,
        report.extra_spans,
        report.foreign_spans,
        report.waited_seconds,
        if report.is_exact() { ": exact" } else { "" },
    );
    for lost in &report.lost_traces {
        println!("  lost: {lost:?}");
    }
    for duplicated in &report.duplicated {
        println!("  duplicated: {duplicated:?}");
    }
}

/// This process's CPU seconds (user + system) and peak RSS in MiB, from
/// /proc (Linux), so benchmark scripts can count the load generator too.
fn own_usage() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hwm_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    // USER_HZ is 100 on every Linux architecture Rust targets.
    Some((ticks / 100.0, hwm_kib / 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(flags: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("ferrotrace-loadtest").chain(flags.iter().copied()))
    }

    #[test]
    fn client_certificate_without_key_is_a_usage_error() {
        let error = parse(&["--tls-cert-file=client.pem"]).unwrap_err();
        assert_eq!(
            error.kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
        assert!(error.to_string().contains("--tls-key-file"), "{error}");
        assert_eq!(error.exit_code(), 2);
        let error = parse(&["--tls-key-file=client-key.pem"]).unwrap_err();
        assert!(error.to_string().contains("--tls-cert-file"), "{error}");
        parse(&["--tls-cert-file=c.pem", "--tls-key-file=k.pem"]).unwrap();
    }

    #[test]
    fn tls_flags_need_an_https_endpoint() {
        let args = parse(&["--tls-ca-file=ca.pem"]).unwrap();
        let problem = args
            .security_files()
            .problem(&args.endpoint, args.protocol.is_tcp())
            .unwrap();
        assert!(problem.contains("https://"), "{problem}");
        let args = parse(&["--tls-ca-file=ca.pem", "--endpoint=https://127.0.0.1:4317"]).unwrap();
        assert_eq!(
            args.security_files()
                .problem(&args.endpoint, args.protocol.is_tcp()),
            None
        );
        let args = parse(&[
            "--bearer-token-file=token",
            "--protocol=jaeger-compact",
            "--endpoint=127.0.0.1:6831",
        ])
        .unwrap();
        assert!(args
            .security_files()
            .problem(&args.endpoint, args.protocol.is_tcp())
            .is_some());
    }

    #[test]
    fn es_username_and_password_file_go_together_and_exclude_the_api_key() {
        assert!(parse(&["--es-username=elastic"]).is_err());
        assert!(parse(&["--es-password-file=pw"]).is_err());
        assert!(parse(&[
            "--es-username=elastic",
            "--es-password-file=pw",
            "--es-api-key-file=key"
        ])
        .is_err());
        parse(&["--es-username=elastic", "--es-password-file=pw"]).unwrap();
        parse(&["--es-api-key-file=key", "--es-tls-ca=ca.pem"]).unwrap();
    }

    #[test]
    fn es_api_key_file_is_read_without_its_newline() {
        let dir = ferrotrace_testkit::TempDir::new("loadtest-main").unwrap();
        let path = dir.write("api-key", "a2V5OnNlY3JldA==\n").unwrap();
        let flag = format!("--es-api-key-file={}", path.display());
        let access = parse(&[&flag]).unwrap().es_access();
        let access = access.unwrap();
        assert!(matches!(&access.auth, EsAuth::ApiKey(key) if key == "a2V5OnNlY3JldA=="));
        assert!(!format!("{access:?}").contains("a2V5"), "{access:?}");
    }

    #[test]
    fn help_names_the_flags_but_no_secret() {
        let help = Args::command().render_long_help().to_string();
        for flag in [
            "--tls-ca-file",
            "--tls-cert-file",
            "--tls-key-file",
            "--bearer-token-file",
            "--es-username",
            "--es-password-file",
            "--es-api-key-file",
            "--es-tls-ca",
        ] {
            assert!(help.contains(flag), "{flag} missing from --help");
        }
        assert!(!help.contains("tls-skip-verify"));
    }
}
