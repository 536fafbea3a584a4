//! The ingester refuses settings that cannot work before it contacts
//! anything: exit code 64 (EX_USAGE) and one line naming the flag, never a
//! librdkafka property name for one of its own flags, an overflow, a panic
//! or a secret value. The collector's cases are in
//! `collector/tests/process.rs`.

use ferrotrace_testkit::usage_error;
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_that_cannot_work_stop_it_with_exit_code_64_naming_the_flag() {
    const SECRET: &str = "hunter2-Secret";
    let misspelled = format!("sasl.pasword={SECRET}");
    // (arguments, the flag the one line must name)
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--kafka-brokers", ""], "--kafka-brokers"),
        (vec!["--kafka-brokers", "a:9092,b:0"], "--kafka-brokers"),
        (vec!["--es-timeout", "0s"], "--es-timeout"),
        (
            vec!["--shutdown-timeout", "99999999999999999999999s"],
            "--shutdown-timeout",
        ),
        (
            vec!["--es-bulk-flush-interval", "-1s"],
            "--es-bulk-flush-interval",
        ),
        (vec!["--es-bulk-workers", "-1"], "--es-bulk-workers"),
        (
            vec!["--kafka-prefetch-bytes", "100"],
            "--kafka-prefetch-bytes",
        ),
        (vec!["--es-num-shards", "0"], "--es-num-shards"),
        (
            vec!["--kafka-consumer-config", &misspelled],
            "--kafka-consumer-config",
        ),
        (
            vec!["--kafka-producer-config", &misspelled],
            "--kafka-producer-config",
        ),
        (vec!["--admin-listen", "localhost:port"], "--admin-listen"),
        (vec!["--stuck-after", "500ms"], "--stuck-after"),
        (
            vec!["--dependencies-flush-interval", "0s"],
            "--dependencies-flush-interval",
        ),
        (
            vec!["--dependencies-max-spans", "0"],
            "--dependencies-max-spans",
        ),
        (
            vec!["--sampling-adaptive", "--sampling-delta-tolerance=-0.5"],
            "--sampling-delta-tolerance",
        ),
        (
            vec![
                "--sampling-adaptive",
                "--sampling-min-sampling-probability",
                "2",
            ],
            "--sampling-min-sampling-probability",
        ),
        // A host name is a valid listen address: the line is about the other flag.
        (
            vec!["--admin-listen", "localhost:0", "--es-timeout", "0s"],
            "--es-timeout",
        ),
    ];
    for (args, flag) in cases {
        let mut ingester = Command::new(env!("CARGO_BIN_EXE_ferrotrace-ingester"));
        ingester
            .args(&args)
            .env_remove("FERROTRACE_KAFKA_CONSUMER_CONFIG")
            .env_remove("FERROTRACE_KAFKA_PRODUCER_CONFIG");
        let stderr = usage_error(ingester).await;
        assert!(
            stderr.starts_with(&format!("ferrotrace-ingester: {flag}")),
            "{args:?}: names {flag}: {stderr}"
        );
        for hidden in [SECRET, "panicked"] {
            assert!(!stderr.contains(hidden), "{args:?}: {hidden} in {stderr}");
        }
    }
}
