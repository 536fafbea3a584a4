//! The alert rules of `deploy/prometheus/alerts.yaml` under promtool, from
//! Debian's `prometheus` package (installed by `scripts/install-tools.sh`):
//! the file is valid, and every alert fires as `alerts.test.yaml` says, on
//! the series that should raise it, at the time it should, with its
//! annotations as rendered, and stays quiet on a near miss. Whether the
//! metrics they query exist is `dashboards.rs`'s test.

use std::path::{Path, PathBuf};
use std::process::Command;

use ferrotrace_testkit::tool_path;

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus")
}

/// Runs promtool with `args` in the rules' directory; panics with its
/// output unless it succeeds.
fn promtool(args: &[&str]) -> String {
    let bin = tool_path("promtool", "FERROTRACE_PROMTOOL_BIN").unwrap_or_else(|e| panic!("{e:#}"));
    let out = Command::new(&bin)
        .args(args)
        .current_dir(rules_dir())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn the_rules_file_is_valid() {
    let out = promtool(&["check", "rules", "alerts.yaml"]);
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn every_alert_fires_as_its_unit_tests_say() {
    let out = promtool(&["test", "rules", "alerts.test.yaml"]);
    assert!(out.contains("SUCCESS"), "{out}");
    // Every alert has a test: a rule nobody tests is a rule that may never fire.
    let rules = std::fs::read_to_string(rules_dir().join("alerts.yaml")).expect("alerts.yaml");
    let tests = std::fs::read_to_string(rules_dir().join("alerts.test.yaml")).expect("tests");
    let untested: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .filter(|name| !tests.contains(&format!("alertname: {name}\n")))
        .collect();
    assert!(
        untested.is_empty(),
        "alerts without a unit test in alerts.test.yaml: {untested:?}"
    );
}
