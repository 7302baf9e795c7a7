//! Waiting for the operator to stop the node: SIGINT (Ctrl-C) or SIGTERM.

/// Completes when SIGINT or SIGTERM arrives (on non-Unix systems: Ctrl-C);
/// returns the signal's name for the log. If the handlers cannot be
/// installed it never completes (the process can still be killed).
pub async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            tracing::warn!("cannot install signal handlers; stop the node with kill -9");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "Ctrl-C",
            Err(_) => std::future::pending().await,
        }
    }
}
