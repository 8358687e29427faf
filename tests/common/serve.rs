//! Serving an axum router on 127.0.0.1:<random port>, for the test servers.
//!
//! Included by the servers that need it with `#[path = "serve.rs"] mod serve;`.

/// Serves `app` on a fresh local port until the returned task is aborted.
pub async fn serve_local(app: axum::Router) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}
