//! The one HTTP server helper, shared by the `[api]` and the `prometheus_exporter` sink,
//! over plain TCP or TLS (a rustls configuration from
//! [`crate::options::tls::ServerTlsConfig`]).
//!
//! Listeners are bound once per address and kept for the life of the process: a reload
//! serves the same socket again (connections wait in its backlog meanwhile), and checking a
//! new configuration whose address is unchanged cannot fail because the running pipeline
//! holds it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::Instrument as _;

/// How long a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Serves `router` on `listener` until `stop` is cancelled (requests in progress finish),
/// over TLS when `tls` is given.
pub(crate) async fn serve(
    listener: std::net::TcpListener,
    router: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let stopped = stop.clone().cancelled_owned();
    match tls {
        None => {
            (axum::serve(listener, router))
                .with_graceful_shutdown(stopped)
                .await
        }
        Some(config) => {
            let listener = TlsListener::new(listener, config, stop)?;
            (axum::serve(listener, router))
                .with_graceful_shutdown(stopped)
                .await
        }
    }
}

/// Connections whose TLS handshake has completed. Handshakes run in tasks of their own, so
/// a slow or silent client never holds up the others; one that fails (a plain-HTTP request,
/// a missing or untrusted client certificate) is closed and logged at debug level.
struct TlsListener {
    address: SocketAddr,
    handshaken: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    /// Accepts TCP connections and starts their handshakes; stopped with the listener.
    _accepting: AbortOnDropHandle<()>,
}

impl TlsListener {
    /// Accepts on `listener` until `stop` is cancelled: then connections wait in the
    /// socket's backlog for the server a reload starts next, as with plain TCP.
    fn new(
        listener: tokio::net::TcpListener,
        config: Arc<rustls::ServerConfig>,
        stop: CancellationToken,
    ) -> std::io::Result<Self> {
        let address = listener.local_addr()?;
        let (sender, handshaken) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        let accepting = tokio::spawn(
            async move {
                loop {
                    let accepted = tokio::select! {
                        () = stop.cancelled() => return,
                        accepted = listener.accept() => accepted,
                    };
                    let (stream, peer) = match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            // Out of file descriptors and the like: wait rather than spin.
                            tracing::debug!(%error, "accepting a connection failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let (acceptor, sender) = (acceptor.clone(), sender.clone());
                    tokio::spawn(
                        async move {
                            let handshake = acceptor.accept(stream);
                            match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                                Ok(Ok(tls)) => {
                                    let _ = sender.send((tls, peer)).await;
                                }
                                Ok(Err(error)) => {
                                    tracing::debug!(%peer, %error, "TLS handshake failed");
                                }
                                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                            }
                        }
                        .in_current_span(),
                    );
                }
            }
            .in_current_span(),
        );
        Ok(Self {
            address,
            handshaken,
            _accepting: AbortOnDropHandle::new(accepting),
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.handshaken.recv().await {
            Some(connection) => connection,
            // Accepting stopped (`stop`) and every handshake ended: the server is stopping.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.address)
    }
}

/// `Content-Type` of the Prometheus text exposition format.
pub(crate) const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
