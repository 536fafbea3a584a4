//! Child-process plumbing shared by the test servers: finding binaries,
//! free ports, readiness polling, and making sure no server outlives the test.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Path of a tool from its environment variable or `<workspace>/.tools/bin/<name>`.
pub fn tool_path(name: &str, env_var: &str) -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var(env_var) {
        return Ok(PathBuf::from(path));
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = workspace.join(".tools").join("bin").join(name);
    if path.exists() {
        return Ok(path);
    }
    anyhow::bail!(
        "{name} not found at {} (nor ${env_var}); install it with `scripts/install-tools.sh` (run by `make test`)",
        path.display()
    )
}

/// A port that was free a moment ago on 127.0.0.1, never handed out before
/// in this process.
///
/// Ports come from below the kernel's ephemeral range (Linux's
/// `ip_local_port_range`, 32768–60999 by default), where no outgoing
/// connection takes one: asking the kernel for port 0 instead gives an
/// ephemeral port, which a client connection of another test may take
/// before the server binds it ("Address already in use"). Each process
/// starts at a place of its own in the range (from its pid) and counts up,
/// checking each port with a bind.
pub fn free_port() -> u16 {
    const LOWEST: u32 = 10_000;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let below = ephemeral_low().unwrap_or(32_768).max(LOWEST + 1_000);
    let span = below - LOWEST;
    let start = std::process::id().wrapping_mul(7_919) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed) as u32;
        let port = (LOWEST + (start + n) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port below {below}")
}

/// The lowest port of the kernel's ephemeral range, where Linux tells it.
fn ephemeral_low() -> Option<u32> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    range.split_whitespace().next()?.parse().ok()
}

/// A name unique within this test process run, for topics, groups and index prefixes.
pub fn unique_name(base: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{base}-{}-{n}", std::process::id())
}

/// Runs `command` expecting it to refuse its settings at start: exit code 64
/// (EX_USAGE) within 30 s and exactly one line on stderr, which is returned
/// for the caller to check what it names.
pub async fn usage_error(mut command: tokio::process::Command) -> String {
    let described = format!("{command:?}");
    let output = command
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(30), output)
        .await
        .unwrap_or_else(|_| panic!("{described}: still running after 30 s"))
        .unwrap_or_else(|e| panic!("{described}: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(64), "{described}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{described}: one line: {stderr}");
    stderr
}

/// Polls `check` until it returns true or `timeout` passes.
pub async fn wait_until<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts a test server: its stdout discarded, its stderr in the test's
/// output, and killed with the test process.
pub(crate) fn spawn_server(
    cmd: &mut tokio::process::Command,
    bin: &std::path::Path,
) -> anyhow::Result<tokio::process::Child> {
    use anyhow::Context;
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit());
    die_with_parent(cmd);
    cmd.spawn()
        .with_context(|| format!("starting {}", bin.display()))
}

/// Makes the child die with its parent (Linux), so a crashed test leaves no server behind.
fn die_with_parent(cmd: &mut tokio::process::Command) {
    #[cfg(target_os = "linux")]
    unsafe {
        cmd.pre_exec(|| {
            // SAFETY: prctl is async-signal-safe; called between fork and exec.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.kill_on_drop(true);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_bindable_and_below_the_ephemeral_range() {
        let below = ephemeral_low().unwrap_or(32_768);
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        let distinct: std::collections::HashSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        for port in ports {
            assert!(u32::from(port) < below, "{port} is in the ephemeral range");
            TcpListener::bind(("127.0.0.1", port)).expect("still free");
        }
    }
}
