//! The async runtime of a long-running service, as its `--runtime-threads`
//! flag asks: 1 is a current-thread runtime (no work stealing, no wake-ups
//! across threads), 0 one worker per CPU the process may use, which is the
//! current-thread runtime when that is one, and N a multi-thread runtime of
//! N workers.

/// Upper bound of `--runtime-threads`: far above any core count, low enough
/// that a typo is refused instead of starting thousands of threads.
pub const MAX_RUNTIME_THREADS: usize = 1024;

/// Builds the runtime for `threads` (see the module docs); `cpus` is what
/// `0` means.
pub fn build(threads: usize, cpus: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let threads = if threads == 0 { cpus.max(1) } else { threads };
    let mut builder = match threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    if threads > 1 {
        builder.worker_threads(threads);
    }
    builder.enable_all().build()
}

/// The CPUs this process may use (cgroup quota included), at least 1.
pub fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The `--runtime-threads` check of `Config::validate`.
pub fn check_threads(threads: usize) -> Result<(), String> {
    if threads > MAX_RUNTIME_THREADS {
        return Err(format!(
            "--runtime-threads must be at most {MAX_RUNTIME_THREADS} (0: one per core)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::runtime::RuntimeFlavor;

    #[test]
    fn threads_choose_the_runtime_flavour() {
        let flavour = |threads, cpus| build(threads, cpus).unwrap().handle().runtime_flavor();
        assert_eq!(flavour(1, 4), RuntimeFlavor::CurrentThread);
        assert_eq!(flavour(0, 1), RuntimeFlavor::CurrentThread);
        assert_eq!(flavour(0, 2), RuntimeFlavor::MultiThread);
        assert_eq!(flavour(3, 1), RuntimeFlavor::MultiThread);
        assert_eq!(build(3, 1).unwrap().metrics().num_workers(), 3);
        assert_eq!(build(0, 2).unwrap().metrics().num_workers(), 2);
    }

    #[test]
    fn threads_are_bounded() {
        assert!(check_threads(0).is_ok());
        assert!(check_threads(MAX_RUNTIME_THREADS).is_ok());
        let error = check_threads(MAX_RUNTIME_THREADS + 1).unwrap_err();
        assert!(error.contains("--runtime-threads"), "{error}");
    }
}
