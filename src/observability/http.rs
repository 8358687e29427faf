//! The one HTTP server helper, shared by the `[api]` and the `prometheus_exporter` sink.
//!
//! Listeners are bound once per address and kept for the life of the process: a reload
//! serves the same socket again (connections wait in its backlog meanwhile), and checking a
//! new configuration whose address is unchanged cannot fail because the running pipeline
//! holds it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};

use tokio_util::sync::CancellationToken;

/// The sockets bound so far, by address (port 0 is never shared).
fn bound() -> &'static Mutex<BTreeMap<SocketAddr, std::net::TcpListener>> {
    static BOUND: OnceLock<Mutex<BTreeMap<SocketAddr, std::net::TcpListener>>> = OnceLock::new();
    BOUND.get_or_init(Default::default)
}

/// A listener on `address`: the one bound before for it, or a new one.
pub(crate) fn listener(address: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let mut bound = bound().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(listener) = bound.get(&address) {
        return listener.try_clone();
    }
    let listener = std::net::TcpListener::bind(address)?;
    listener.set_nonblocking(true)?;
    if address.port() != 0 {
        bound.insert(address, listener.try_clone()?);
    }
    Ok(listener)
}

/// Stops keeping the listener of `address` (its socket closes once no server uses it).
pub(crate) fn release(address: SocketAddr) {
    bound()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&address);
}

/// Serves `router` on `listener` until `stop` is cancelled (requests in progress finish).
pub(crate) async fn serve(
    listener: std::net::TcpListener,
    router: axum::Router,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    axum::serve(listener, router)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
}

/// `Content-Type` of the Prometheus text exposition format.
pub(crate) const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
