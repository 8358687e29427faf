//! An in-process fake ConductorOne tenant, strict to the API notes the source is built on:
//! `POST /auth/v1/token` (verifies the EdDSA client assertion: signature against the test
//! key, header `alg`/`nonce`, claims `iss`/`sub`/`aud`/`iat`/`nbf`/`exp`; or the plain client
//! secret), expiring tokens, `POST /api/v1/systemlog/events` with real paging (opaque tokens
//! bound to the filters), `sinceEventUid` (exclusive), `since` (inclusive), `until`
//! (exclusive), ascending order only, and `GET /api/v1/auth/introspect`. Faults are queued
//! per ListEvents request.
//!
//! DPoP (RFC 9449) the way ConductorOne's validator does it (`c1_dpop.rs`): with
//! [`Dpop::Optional`] (the default) or [`Dpop::Required`] a token request's proof is validated
//! and the token bound to its key's thumbprint (`cnf.jkt`, `token_type` `DPoP`); an API call
//! with a bound token must say `Authorization: DPoP` and carry a valid proof of its own with
//! `ath`, signed by that key; a Bearer token must come without a proof. With
//! [`ServerState::dpop_nonce`] token requests must carry the current nonce (a 400
//! `use_dpop_nonce` challenge hands it out; every token answer hands out the next one).
//!
//! Shared by `tests/conductorone_source.rs` and `benches/conductorone_source.rs` (included with
//! `#[path]`), so it is not part of `tests/common/mod.rs`.
#![allow(dead_code)] // each user takes a different subset

// Each server file is included on its own; a test including two has two copies.
#[path = "c1_dpop.rs"]
pub mod c1_dpop;
#[allow(clippy::duplicate_mod)]
#[path = "serve.rs"]
mod serve;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};

/// One stored event: its `metadata.uid`, `time` (ms) and raw JSON text.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    pub uid: String,
    pub time: i64,
    pub json: String,
}

/// A fault for one ListEvents request (taken in order, one per request).
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer normally.
    Pass,
    /// Answer with this status (and `Retry-After`, if given) and a gRPC error body.
    Status(u16, Option<String>),
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// 200 with an HTML body.
    NonJson,
    /// Forget every token first (the request gets a 401).
    RevokeTokens,
    /// Answer normally but repeat the request's `pageToken` as `nextPageToken`.
    RepeatToken,
}

/// How the tenant treats DPoP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dpop {
    /// A server that knows nothing of DPoP: proofs are ignored, tokens are Bearer.
    Unsupported,
    /// A credential without "Require DPoP": a proof that comes is validated and binds the
    /// token (RFC 9449 §5 lets the server bind); without one the token is Bearer.
    Optional,
    /// A credential with "Require DPoP": a token request without a valid proof is refused.
    Required,
}

/// An access token the tenant issued.
#[derive(Clone, Debug)]
pub struct Issued {
    pub expiry: Instant,
    /// The thumbprint of the proof key it is bound to (`cnf.jkt`), for a DPoP token.
    pub jkt: Option<String>,
}

/// What the server knows and does; tests read and change it through [`FakeC1::state`].
pub struct ServerState {
    /// `http://127.0.0.1:PORT`, the base of the URLs proofs must name.
    pub base_url: String,
    pub client_id: String,
    pub secret: String,
    pub verifying_key: VerifyingKey,
    /// The `aud` the assertion must carry.
    pub audience: String,
    /// Sorted by time, ascending.
    pub events: Vec<StoredEvent>,
    pub tokens: HashMap<String, Issued>,
    pub token_ttl: Duration,
    /// A `token_type` to answer instead of the right one (`DPoP` or `Bearer`).
    pub token_type: Option<String>,
    pub dpop: Dpop,
    /// Token requests must carry the current DPoP nonce.
    pub dpop_nonce: bool,
    /// The current nonce.
    pub nonce: String,
    /// API calls' proofs must carry the API's current nonce (RFC 9449 §9): a 401
    /// `use_dpop_nonce` challenge hands it out, every API answer carries the current one, and
    /// it changes every [`API_NONCE_LIFETIME_CALLS`] accepted calls.
    pub api_dpop_nonce: bool,
    /// The API's current nonce (not the token endpoint's).
    pub api_nonce: String,
    /// Ask for a fresh API nonce on every call, even one carrying the current nonce.
    pub api_nonce_always_stale: bool,
    /// API `use_dpop_nonce` challenges sent.
    pub api_nonce_challenges: usize,
    /// Answer `use_dpop_nonce` challenges without the `DPoP-Nonce` header.
    pub challenge_without_nonce: bool,
    /// Replace the nonce right after handing it out in a challenge (so the answer to the
    /// challenge is challenged again).
    pub rotate_nonce_on_challenge: bool,
    /// Refuse every token request's proof with `invalid_dpop_proof` (quoting the proof's
    /// start in the description, as a careless server might).
    pub reject_proofs: bool,
    /// Refuse every API call's proof (401 `invalid_dpop_proof`).
    pub reject_api_proofs: bool,
    /// Every `jti` accepted, and the keys seen.
    pub seen: c1_dpop::Seen,
    /// Proofs accepted, at the token endpoint and on API calls.
    pub proofs_accepted: usize,
    /// Proofs refused, with the reason.
    pub proof_failures: Vec<String>,
    /// `use_dpop_nonce` challenges sent.
    pub nonce_challenges: usize,
    /// API calls that carried a proof with a Bearer token ([`Dpop::Unsupported`] ignores
    /// them; the other modes refuse them).
    pub proofs_with_bearer: usize,
    /// API calls authorized with a DPoP-bound token.
    pub dpop_calls: usize,
    /// Ignore `until` (a server that does not filter by it).
    pub ignore_until: bool,
    pub faults: VecDeque<Fault>,
    /// Answer 400 to every `sinceEventUid`.
    pub reject_uids: bool,
    /// Omit `nextPageToken` (instead of `""`) at the end, and `list` when empty.
    pub omit_empty_fields: bool,
    /// Answer 403 to ListEvents (a credential without system-log access).
    pub deny_system_log: bool,
    /// Answer 401 to every API call, whatever the token.
    pub reject_all_tokens: bool,
    /// API errors quote the request's bearer token in their message and echo it as
    /// `X-Request-Id` (as careless servers and proxies do).
    pub echo_bearer_token: bool,
    /// Refuse every token request with a 401 whose body quotes the first 20 characters of
    /// the client secret (or assertion) that was sent.
    pub refuse_tokens_quoting_secret: bool,
    /// Every ListEvents body, with when it arrived.
    pub requests: Vec<(Instant, serde_json::Value)>,
    /// Successful token mints.
    pub mints: usize,
    /// Token requests refused, with the reason.
    pub auth_failures: Vec<String>,
    /// 401 answers from the API.
    pub unauthorized: usize,
    /// Every access token issued.
    pub issued: Vec<String>,
}

/// A running fake tenant.
pub struct FakeC1 {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<ServerState>>,
    pub signing_key: SigningKey,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeC1 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A fresh random Ed25519 key.
pub fn random_key() -> SigningKey {
    let seed: [u8; 32] = rand::random();
    SigningKey::from_bytes(&seed)
}

/// `n` events from uid `first`, `time` one second apart from `start_ms`; with `floats`, every
/// number is written as a double (`6003.0`), as a protobuf `Struct` would.
pub fn make_events(first: usize, n: usize, start_ms: i64, floats: bool) -> Vec<StoredEvent> {
    (first..first + n)
        .map(|i| {
            let time = start_ms + (i - first) as i64 * 1000;
            let uid = format!("evt-{i:06}");
            let num = |v: i64| if floats { format!("{v}.0") } else { v.to_string() };
            let json = format!(
                r#"{{"class_uid":{},"class_name":"API Activity","category_uid":{},"activity_id":{},"type_uid":{},"severity_id":{},"status_id":1,"time":{},"metadata":{{"uid":"{uid}","version":"1.3.0","product":{{"name":"ConductorOne"}}}},"actor":{{"user":{{"email_addr":"user{}@acme.com"}}}},"api":{{"operation":"/c1.api.app.v1.Apps/Update"}},"duration":12.5}}"#,
                num(6003),
                num(6),
                num(3),
                num(600303),
                num(1),
                num(time),
                i % 97
            );
            StoredEvent { uid, time, json }
        })
        .collect()
}

impl FakeC1 {
    /// Starts a tenant for `client_id` with a fresh key, serving `events`.
    pub async fn start(client_id: &str, events: Vec<StoredEvent>) -> FakeC1 {
        let signing_key = random_key();
        let secret = c1_pipeline::test_support::format_secret(&signing_key)
            .expose()
            .to_owned();
        let state = Arc::new(Mutex::new(ServerState {
            base_url: String::new(),
            client_id: client_id.to_owned(),
            secret,
            verifying_key: signing_key.verifying_key(),
            audience: "127.0.0.1".to_owned(),
            events,
            tokens: HashMap::new(),
            token_ttl: Duration::from_secs(3600),
            token_type: None,
            dpop: Dpop::Optional,
            dpop_nonce: false,
            api_dpop_nonce: false,
            api_nonce: format!("api-nonce-{}", uuid::Uuid::new_v4()),
            api_nonce_always_stale: false,
            api_nonce_challenges: 0,
            nonce: format!("nonce-{}", uuid::Uuid::new_v4()),
            challenge_without_nonce: false,
            rotate_nonce_on_challenge: false,
            reject_proofs: false,
            reject_api_proofs: false,
            seen: c1_dpop::Seen::default(),
            proofs_accepted: 0,
            proof_failures: Vec::new(),
            nonce_challenges: 0,
            proofs_with_bearer: 0,
            dpop_calls: 0,
            ignore_until: false,
            faults: VecDeque::new(),
            reject_uids: false,
            omit_empty_fields: false,
            deny_system_log: false,
            reject_all_tokens: false,
            echo_bearer_token: false,
            refuse_tokens_quoting_secret: false,
            requests: Vec::new(),
            mints: 0,
            auth_failures: Vec::new(),
            unauthorized: 0,
            issued: Vec::new(),
        }));
        let api = Router::new()
            .route("/api/v1/systemlog/events", post(list_events))
            .route("/api/v1/auth/introspect", get(introspect))
            .route_layer(axum::middleware::map_response_with_state(
                Arc::clone(&state),
                api_nonce_header,
            ));
        let app = Router::new()
            .route("/auth/v1/token", post(token))
            .merge(api)
            .with_state(Arc::clone(&state));
        let (addr, task) = serve::serve_local(app).await;
        lock(&state).base_url = format!("http://{addr}");
        FakeC1 {
            addr,
            state,
            signing_key,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The client secret of the tenant's credential.
    pub fn secret(&self) -> String {
        self.lock().secret.clone()
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, ServerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn lock(state: &Mutex<ServerState>) -> std::sync::MutexGuard<'_, ServerState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn grpc_error(status: StatusCode, code: i64, message: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (
                header::HeaderName::from_static("x-request-id"),
                "req-fake-1",
            ),
        ],
        serde_json::json!({ "code": code, "message": message, "details": [] }).to_string(),
    )
        .into_response()
}

/// An API error; with [`ServerState::echo_bearer_token`], quoting the request's token.
fn api_error(
    state: &ServerState,
    headers: &HeaderMap,
    status: StatusCode,
    code: i64,
    message: &str,
) -> Response {
    let credentials = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|_| state.echo_bearer_token);
    let Some((scheme, token)) = credentials else {
        return grpc_error(status, code, message);
    };
    let mut response = grpc_error(
        status,
        code,
        &format!("{message}: request with Authorization: {scheme} {token} refused"),
    );
    response.headers_mut().insert(
        header::HeaderName::from_static("x-request-id"),
        token.parse().expect("a token is a header value"),
    );
    response
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Checks a client assertion; `Err` says what is wrong.
fn verify_assertion(state: &ServerState, assertion: &str) -> Result<(), String> {
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header_b64, claims_b64, signature_b64] = parts[..] else {
        return Err("assertion is not a compact JWS".into());
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|e| format!("base64url: {e}"))
    };
    let header: serde_json::Value =
        serde_json::from_slice(&decode(header_b64)?).map_err(|e| format!("header: {e}"))?;
    if header.get("alg").and_then(|v| v.as_str()) != Some("EdDSA") {
        return Err(format!("alg is not EdDSA: {header}"));
    }
    let nonce = header.get("nonce").and_then(|v| v.as_str()).unwrap_or("");
    if nonce.len() != 32
        || !nonce
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!(
            "nonce is not 32 lowercase hex characters: {header}"
        ));
    }
    let signature: [u8; 64] = decode(signature_b64)?
        .try_into()
        .map_err(|_| "signature is not 64 bytes".to_string())?;
    state
        .verifying_key
        .verify_strict(
            format!("{header_b64}.{claims_b64}").as_bytes(),
            &Signature::from_bytes(&signature),
        )
        .map_err(|e| format!("bad signature: {e}"))?;
    let claims: serde_json::Value =
        serde_json::from_slice(&decode(claims_b64)?).map_err(|e| format!("claims: {e}"))?;
    let text = |name: &str| claims.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    if text("iss").as_deref() != Some(&state.client_id)
        || text("sub").as_deref() != Some(&state.client_id)
    {
        return Err(format!("iss/sub are not the client id: {claims}"));
    }
    let aud_ok = match claims.get("aud") {
        Some(serde_json::Value::String(aud)) => *aud == state.audience,
        Some(serde_json::Value::Array(auds)) => {
            auds.len() == 1 && auds[0] == state.audience.as_str()
        }
        _ => false,
    };
    if !aud_ok {
        return Err(format!("aud is not [{}]: {claims}", state.audience));
    }
    let number = |name: &str| claims.get(name).and_then(|v| v.as_i64());
    let (Some(iat), Some(nbf), Some(exp)) = (number("iat"), number("nbf"), number("exp")) else {
        return Err(format!("iat/nbf/exp missing: {claims}"));
    };
    let now = now_secs();
    if nbf > now + 1 || exp <= now || exp > now + 300 || (iat - now).abs() > 5 {
        return Err(format!("times out of range at {now}: {claims}"));
    }
    if exp - iat != 120 || iat - nbf != 120 {
        return Err(format!("nbf/exp are not iat ∓ 120 s: {claims}"));
    }
    if claims.as_object().map(|o| o.len()) != Some(6) {
        return Err(format!("unexpected claims: {claims}"));
    }
    Ok(())
}

async fn token(
    State(state): State<Arc<Mutex<ServerState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = lock(&state);
    if headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        != Some("application/x-www-form-urlencoded")
    {
        state.auth_failures.push("not a form".into());
        return (StatusCode::BAD_REQUEST, "form expected").into_response();
    }
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    if state.refuse_tokens_quoting_secret {
        let sent = form
            .get("client_secret")
            .or_else(|| form.get("client_assertion"))
            .map(|s| s.chars().take(20).collect::<String>())
            .unwrap_or_default();
        state
            .auth_failures
            .push("refused (quoting the secret)".into());
        return (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({
                "error": "invalid_client",
                "error_description": format!("client authentication failed for {sent}..."),
            })
            .to_string(),
        )
            .into_response();
    }
    let jkt = match token_proof(&mut state, &headers) {
        Ok(jkt) => jkt,
        Err(response) => return *response,
    };
    let check = || -> Result<(), String> {
        if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
            return Err("grant_type".into());
        }
        if form.get("client_id") != Some(&state.client_id) {
            return Err("client_id".into());
        }
        match (form.get("client_assertion"), form.get("client_secret")) {
            (Some(assertion), None) => {
                if form.get("client_assertion_type").map(String::as_str)
                    != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                {
                    return Err("client_assertion_type".into());
                }
                verify_assertion(&state, assertion)
            }
            (None, Some(secret)) if *secret == state.secret => Ok(()),
            _ => Err("no valid client authentication".into()),
        }
    };
    if let Err(reason) = check() {
        state.auth_failures.push(reason);
        return (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"error":"invalid_client"}"#,
        )
            .into_response();
    }
    state.mints += 1;
    let token = format!("eyJhbGciOiJFZERTQSIs.fake-{}", uuid::Uuid::new_v4());
    let ttl = state.token_ttl;
    let token_type = match (&state.token_type, &jkt) {
        (Some(forced), _) => forced.clone(),
        (None, Some(_)) => "DPoP".to_owned(),
        (None, None) => "Bearer".to_owned(),
    };
    let expiry = Instant::now() + ttl;
    state.tokens.insert(token.clone(), Issued { expiry, jkt });
    state.issued.push(token.clone());
    let body = serde_json::json!({
        "access_token": token, "token_type": token_type, "expires_in": ttl.as_secs_f64(),
    });
    let mut response = (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if state.dpop_nonce {
        // The next nonce: a client must use the newest one it was handed.
        state.nonce = format!("nonce-{}", uuid::Uuid::new_v4());
        let nonce = state.nonce.parse().expect("a nonce is a header value");
        response.headers_mut().insert("dpop-nonce", nonce);
    }
    response
}

/// An OAuth error answer (RFC 6749 §5.2), with a `DPoP-Nonce` header when `nonce` is given.
fn oauth_error(
    status: StatusCode,
    error: &str,
    description: &str,
    nonce: Option<&str>,
) -> Response {
    let body = serde_json::json!({ "error": error, "error_description": description });
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Some(nonce) = nonce {
        let value = nonce.parse().expect("a nonce is a header value");
        response.headers_mut().insert("dpop-nonce", value);
    }
    response
}

/// The DPoP part of a token request: the thumbprint the token will be bound to (`None`: a
/// Bearer token), or the refusal to answer.
fn token_proof(
    state: &mut ServerState,
    headers: &HeaderMap,
) -> Result<Option<String>, Box<Response>> {
    if state.dpop == Dpop::Unsupported {
        return Ok(None);
    }
    let refuse = |state: &mut ServerState, reason: &str| {
        state.proof_failures.push(reason.to_owned());
        let status = StatusCode::BAD_REQUEST;
        Box::new(oauth_error(status, "invalid_dpop_proof", reason, None))
    };
    let Some(proof) = headers.get("dpop").and_then(|v| v.to_str().ok()) else {
        return match state.dpop {
            Dpop::Required => Err(refuse(state, "the credential requires a DPoP proof")),
            _ => Ok(None),
        };
    };
    if state.reject_proofs {
        let quoted: String = proof.chars().take(40).collect();
        return Err(refuse(
            state,
            &format!("proof {quoted}... refused by policy"),
        ));
    }
    let url = format!("{}/auth/v1/token", state.base_url);
    let nonce = state.dpop_nonce.then(|| state.nonce.clone());
    let expected = c1_dpop::Expected {
        method: "POST",
        url: &url,
        access_token: None,
        nonce: nonce.as_deref(),
    };
    match c1_dpop::validate(proof, &expected, now_secs(), &mut state.seen) {
        Ok(jkt) => {
            state.proofs_accepted += 1;
            Ok(Some(jkt))
        }
        Err(c1_dpop::ProofError::NeedsNonce) => {
            state.nonce_challenges += 1;
            let nonce = (!state.challenge_without_nonce).then(|| state.nonce.clone());
            if state.rotate_nonce_on_challenge {
                state.nonce = format!("nonce-{}", uuid::Uuid::new_v4());
            }
            let description = "Authorization server requires nonce in DPoP proof";
            let status = StatusCode::BAD_REQUEST;
            let response = oauth_error(status, "use_dpop_nonce", description, nonce.as_deref());
            Err(Box::new(response))
        }
        Err(c1_dpop::ProofError::Invalid(reason)) => Err(refuse(state, &reason)),
    }
}

/// The API's 401 answer, unless the request's credentials are good ([`check_credentials`]).
fn unauthenticated(
    state: &mut ServerState,
    headers: &HeaderMap,
    method: &str,
    path: &str,
) -> Option<Response> {
    let challenge = check_credentials(state, headers, method, path).err()?;
    state.unauthorized += 1;
    let status = StatusCode::UNAUTHORIZED;
    let mut response = api_error(state, headers, status, 16, "unauthenticated");
    if let Some(challenge) = challenge {
        let value = challenge.parse().expect("a challenge is a header value");
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    Some(response)
}

/// Accepted API calls a nonce serves before the API hands out the next one.
pub const API_NONCE_LIFETIME_CALLS: usize = 3;

/// Every API answer carries the API's current nonce when it requires one.
async fn api_nonce_header(
    State(state): State<Arc<Mutex<ServerState>>>,
    mut response: Response,
) -> Response {
    let state = lock(&state);
    if state.api_dpop_nonce {
        let nonce = state.api_nonce.parse().expect("a nonce is a header value");
        response.headers_mut().insert("dpop-nonce", nonce);
    }
    response
}

/// A `WWW-Authenticate` challenge for a refused DPoP request.
fn dpop_challenge(error: &str, description: &str) -> String {
    format!(r#"DPoP algs="EdDSA", error="{error}", error_description="{description}""#)
}

/// Whether the request's token is valid and presented as its type requires: a Bearer token
/// alone, a DPoP-bound one with the `DPoP` scheme and a valid proof by its key. `Err` holds
/// the `WWW-Authenticate` challenge, if the refusal has one.
fn check_credentials(
    state: &mut ServerState,
    headers: &HeaderMap,
    method: &str,
    path: &str,
) -> Result<(), Option<String>> {
    if state.reject_all_tokens {
        return Err(None);
    }
    let (scheme, token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .ok_or(None)?;
    let issued = state
        .tokens
        .get(token)
        .filter(|issued| Instant::now() < issued.expiry)
        .cloned()
        .ok_or(None)?;
    let proof = headers.get("dpop").and_then(|v| v.to_str().ok());
    match (issued.jkt, scheme) {
        (None, "Bearer") => match proof {
            None => Ok(()),
            Some(_) if state.dpop == Dpop::Unsupported => {
                state.proofs_with_bearer += 1;
                Ok(())
            }
            Some(_) => {
                state
                    .proof_failures
                    .push("a proof with a Bearer token".into());
                Err(Some(dpop_challenge(
                    "invalid_request",
                    "invalid authorization scheme",
                )))
            }
        },
        (Some(jkt), "DPoP") => check_api_proof(state, proof, token, &jkt, method, path),
        (Some(_), _) => {
            let reason = "a DPoP-bound token must be sent with the DPoP scheme";
            state.proof_failures.push(reason.into());
            Err(Some(dpop_challenge("invalid_token", reason)))
        }
        (None, _) => Err(None),
    }
}

/// Validates an API call's proof for `token`, bound to `jkt`.
fn check_api_proof(
    state: &mut ServerState,
    proof: Option<&str>,
    token: &str,
    jkt: &str,
    method: &str,
    path: &str,
) -> Result<(), Option<String>> {
    let url = format!("{}{path}", state.base_url);
    let nonce = state.api_dpop_nonce.then(|| state.api_nonce.clone());
    let expected = c1_dpop::Expected {
        method,
        url: &url,
        access_token: Some(token),
        nonce: nonce.as_deref(),
    };
    let verdict = match proof {
        None => Err("missing DPoP proof".to_owned()),
        Some(_) if state.reject_api_proofs => Err("proof refused by policy".to_owned()),
        Some(_) if state.api_nonce_always_stale => Err("stale nonce".to_owned()),
        Some(proof) => match c1_dpop::validate(proof, &expected, now_secs(), &mut state.seen) {
            Ok(thumbprint) if thumbprint == jkt => Ok(()),
            Ok(_) => Err("the proof key is not the one the token is bound to".to_owned()),
            Err(c1_dpop::ProofError::NeedsNonce) => Err("stale nonce".to_owned()),
            Err(error) => Err(format!("{error:?}")),
        },
    };
    if matches!(&verdict, Err(reason) if reason == "stale nonce") {
        state.api_nonce_challenges += 1;
        let description = "Resource server requires nonce in DPoP proof";
        return Err(Some(dpop_challenge("use_dpop_nonce", description)));
    }
    match verdict {
        Ok(()) => {
            state.proofs_accepted += 1;
            state.dpop_calls += 1;
            if state.api_dpop_nonce && state.dpop_calls.is_multiple_of(API_NONCE_LIFETIME_CALLS) {
                state.api_nonce = format!("api-nonce-{}", uuid::Uuid::new_v4());
            }
            Ok(())
        }
        Err(reason) => {
            state.proof_failures.push(reason.clone());
            Err(Some(dpop_challenge("invalid_dpop_proof", &reason)))
        }
    }
}

async fn introspect(State(state): State<Arc<Mutex<ServerState>>>, headers: HeaderMap) -> Response {
    let mut state = lock(&state);
    if let Some(response) = unauthenticated(&mut state, &headers, "GET", "/api/v1/auth/introspect")
    {
        return response;
    }
    let body = serde_json::json!({
        "userId": "2Lk-user", "principleId": "2Lk-principal", "roles": ["system_log_reader"],
        "permissions": [], "features": [],
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The filter part of a request, which every page must repeat unchanged.
fn filter_key(body: &serde_json::Value) -> String {
    format!(
        "{}|{}|{}|{}|{}",
        body["pageSize"],
        body["sortDirection"],
        body["since"],
        body["until"],
        body["sinceEventUid"]
    )
}

async fn list_events(
    State(shared): State<Arc<Mutex<ServerState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = {
        let mut state = lock(&shared);
        let fault = state.faults.pop_front().unwrap_or(Fault::Pass);
        if matches!(fault, Fault::RevokeTokens) {
            state.tokens.clear();
        }
        fault
    };
    if let Fault::Delay(delay) = fault {
        tokio::time::sleep(delay).await;
    }
    let mut state = lock(&shared);
    let request: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(_) => return grpc_error(StatusCode::BAD_REQUEST, 3, "body is not JSON"),
    };
    state.requests.push((Instant::now(), request.clone()));
    let path = "/api/v1/systemlog/events";
    if let Some(response) = unauthenticated(&mut state, &headers, "POST", path) {
        return response;
    }
    if state.deny_system_log {
        return api_error(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            7,
            "permission denied",
        );
    }
    match &fault {
        Fault::Status(status, retry_after) => {
            let mut response = api_error(
                &state,
                &headers,
                StatusCode::from_u16(*status).expect("valid status"),
                14,
                "injected failure",
            );
            if let Some(value) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, value.parse().expect("header value"));
            }
            return response;
        }
        Fault::NonJson => {
            return (
                [(header::CONTENT_TYPE, "text/html")],
                "<html>maintenance</html>",
            )
                .into_response();
        }
        _ => {}
    }
    // Strict request checks.
    if headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        != Some("application/json")
    {
        return grpc_error(
            StatusCode::BAD_REQUEST,
            3,
            "content-type must be application/json",
        );
    }
    let Some(fields) = request.as_object() else {
        return grpc_error(StatusCode::BAD_REQUEST, 3, "body is not an object");
    };
    if let Some(unknown) = fields.keys().find(|k| {
        ![
            "pageSize",
            "pageToken",
            "since",
            "until",
            "sinceEventUid",
            "sortDirection",
        ]
        .contains(&k.as_str())
    }) {
        return grpc_error(
            StatusCode::BAD_REQUEST,
            3,
            &format!("unknown field {unknown}"),
        );
    }
    if request["sortDirection"] != "SORT_DIRECTION_ASC" {
        return grpc_error(StatusCode::BAD_REQUEST, 3, "this fake only sorts ascending");
    }
    let page_size = request["pageSize"].as_u64().unwrap_or(25).clamp(1, 100) as usize;
    let mut start = 0;
    if let Some(since) = request["since"].as_str() {
        let Ok(since) = chrono::DateTime::parse_from_rfc3339(since) else {
            return grpc_error(StatusCode::BAD_REQUEST, 3, "since is not RFC 3339");
        };
        let since = since.timestamp_millis();
        start = state.events.partition_point(|e| e.time < since);
    }
    if let Some(uid) = request["sinceEventUid"].as_str() {
        let position = (!state.reject_uids)
            .then(|| state.events.iter().position(|e| e.uid == uid))
            .flatten();
        let Some(position) = position else {
            return grpc_error(StatusCode::BAD_REQUEST, 3, "invalid since_event_uid");
        };
        start = start.max(position + 1);
    }
    let key = filter_key(&request);
    if let Some(token) = request["pageToken"].as_str() {
        let parsed = token
            .split_once('|')
            .and_then(|(index, rest)| Some((index.parse::<usize>().ok()?, rest)));
        match parsed {
            Some((index, token_key)) if token_key == key => start = index,
            _ => {
                return grpc_error(
                    StatusCode::BAD_REQUEST,
                    3,
                    "page token does not match the request",
                );
            }
        }
    }
    let mut limit = state.events.len();
    if let Some(until) = request["until"].as_str() {
        let Ok(until) = chrono::DateTime::parse_from_rfc3339(until) else {
            return grpc_error(StatusCode::BAD_REQUEST, 3, "until is not RFC 3339");
        };
        let until = until.timestamp_millis();
        if !state.ignore_until {
            limit = state.events.partition_point(|e| e.time < until);
        }
    }
    let start = start.min(limit);
    let end = (start + page_size).min(limit);
    let mut next = if end < limit {
        format!("{end}|{key}")
    } else {
        String::new()
    };
    if let (Fault::RepeatToken, Some(token)) = (&fault, request["pageToken"].as_str()) {
        next = token.to_owned();
    }
    let mut out = String::with_capacity(64 + (end - start) * 1200);
    out.push('{');
    if start < end || !state.omit_empty_fields {
        out.push_str("\"list\":[");
        for (i, event) in state.events[start..end].iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&event.json);
        }
        out.push(']');
    }
    if !next.is_empty() || !state.omit_empty_fields {
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str("\"nextPageToken\":");
        out.push_str(&serde_json::Value::String(next).to_string());
    }
    out.push('}');
    drop(state);
    ([(header::CONTENT_TYPE, "application/json")], out).into_response()
}
