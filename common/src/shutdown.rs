//! One cancellation token per process, cancelled on SIGTERM or SIGINT.
//!
//! Every long-lived task receives a clone of the token and stops taking new
//! work when it is cancelled; `main` then waits for the tasks to drain within
//! a grace period. A second signal while draining exits at once, so an
//! operator is never stuck behind a hung drain.

use tokio_util::sync::CancellationToken;

/// Returns a token that is cancelled on the first SIGTERM/SIGINT.
///
/// Must be called from inside a tokio runtime.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received, draining");
        trigger.cancel();
        wait_for_signal().await;
        tracing::warn!("second shutdown signal, exiting without draining");
        std::process::exit(130);
    });
    token
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM, only SIGINT stops the process");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
