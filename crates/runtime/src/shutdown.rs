//! Process signals, the same for the api and the worker: SIGTERM (Kubernetes, systemd) or
//! Ctrl-C asks the process to stop taking work and finish what it has in hand.

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// Resolves at the first SIGTERM or Ctrl-C.
pub async fn terminated() {
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// A flag that flips to `true` at the first SIGTERM or Ctrl-C, for loops that poll it.
pub fn on_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        terminated().await;
        tracing::info!("shutting down: finishing the work in hand");
        let _ = tx.send(true);
    });
    rx
}
