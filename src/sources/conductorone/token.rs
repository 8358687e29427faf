//! Access tokens from `POST /auth/v1/token`, cached until shortly before they expire.
//!
//! Facts (team notes on the ConductorOne API §2.2–2.5, from the official SDKs' token sources
//! and `conductorone-api/authenticate.mdx`):
//!
//! * The request is a form (`application/x-www-form-urlencoded`) with `grant_type =
//!   client_credentials` and `client_id`, plus either `client_assertion_type =
//!   urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and `client_assertion` (the default,
//!   what every SDK sends) or `client_secret` (the whole secret string). Never HTTP Basic.
//! * Success is 200 with `{"access_token", "token_type": "Bearer", "expires_in"}`; any other
//!   status, or an empty `access_token`, is a failure. The lifetime varies (600 s and 3600 s are
//!   both documented), so the token is cached for `expires_in` minus a margin, and minted again
//!   after a 401 from the API.
//! * DPoP (RFC 9449, team notes §2.6): unless `dpop = false`, every token request carries a
//!   proof (see `dpop`). A 400 `use_dpop_nonce` with a `DPoP-Nonce` header is answered once
//!   with a new proof carrying that nonce; the newest nonce the endpoint sent is used from then
//!   on. `token_type` `DPoP` means the token is bound to the proof key (API calls then send
//!   `Authorization: DPoP <token>` and a proof of their own); `Bearer` means the server did
//!   not bind it (it is used as any Bearer token). Any other type cannot be used.
//! * Some SDKs strip a leading `Bearer ` from `access_token` defensively; so do we.
//! * Refusals are reported with the OAuth `error` and `error_description` when the body has
//!   them (`invalid_client`, `invalid_dpop_proof`, ...), otherwise with the start of the body.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue};
use tokio::sync::Mutex;

use super::client::{ApiError, error_excerpt, is_retryable_status};
use super::credentials::AssertionKey;
use super::dpop::{self, Proof, ProofKey};
use crate::secrets::{self, Secret};

/// Form value of `client_assertion_type` for a signed JWT (RFC 7523).
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The request header carrying a DPoP proof.
pub(super) const DPOP_HEADER: &str = "dpop";

/// The response header carrying a server's DPoP nonce.
pub(super) const DPOP_NONCE_HEADER: &str = "dpop-nonce";

/// The OAuth error of a token request whose proof lacks the server's nonce.
const USE_DPOP_NONCE: &str = "use_dpop_nonce";

/// The oldest a proof signed ahead ([`TokenClient::sign_ahead`]) may be when it is used
/// (servers accept an `iat` within 30 s of their clock).
const SPARE_PROOF_MAX_AGE_SECS: i64 = 5;

/// The most time before a token's expiry at which it is replaced (see [`expiry_margin`]).
const MAX_EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// The lifetime assumed for a token whose `expires_in` is absent or not a positive number.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);

/// How the source proves its identity to the token endpoint.
#[derive(Clone, Debug)]
pub(super) enum Authenticator {
    /// A signed EdDSA client assertion (the default).
    Assertion(AssertionKey),
    /// The client secret itself, in the form body.
    Secret(Secret),
}

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub(super) enum TokenError {
    /// The token endpoint answered with another status than 200 and a body that is not an
    /// OAuth error.
    #[error("the token endpoint answered {status}: {body}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The start of the response body (the server's message, redacted: token endpoints
        /// quote the client secret they were sent).
        body: String,
    },
    /// The token endpoint refused the request with an OAuth error (RFC 6749 §5.2).
    #[error(
        "the token endpoint answered {status}: {error}{}{}",
        description.as_ref().map(|d| format!(" ({d})")).unwrap_or_default(),
        oauth_hint(error)
    )]
    OAuth {
        /// The HTTP status.
        status: u16,
        /// `error` (redacted).
        error: String,
        /// `error_description`, if any (redacted).
        description: Option<String>,
    },
    /// A `use_dpop_nonce` refusal without the nonce to use.
    #[error(
        "the token endpoint asked for a DPoP nonce (400 use_dpop_nonce) but sent no DPoP-Nonce header"
    )]
    NonceMissing,
    /// No answer (connection refused, timeout, TLS).
    #[error("cannot reach the token endpoint: {0}")]
    Transport(String),
    /// A token of a type this source cannot send.
    #[error(
        "the token endpoint issued a token of type `{0}`; this source uses `Bearer` and `DPoP` tokens only"
    )]
    UnsupportedTokenType(String),
    /// A DPoP-bound token although no proof was sent (`dpop = false`).
    #[error(
        "the token endpoint issued a DPoP-bound token although `dpop = false` sent no proof: remove `dpop = false` (the credential requires DPoP)"
    )]
    DpopDisabled,
    /// A 200 whose body is not the expected JSON, or has no token (redacted: the reason may
    /// quote the body).
    #[error("the token endpoint's answer is not usable: {0}")]
    InvalidResponse(String),
}

/// What to do about a refusal, for the errors whose cause is known.
fn oauth_hint(error: &str) -> &'static str {
    match error {
        "invalid_dpop_proof" => {
            "; the server refused the DPoP proof: check this machine's clock (a proof carries the time and must be within seconds of the server's), or set `dpop = false` if the server does not support DPoP"
        }
        USE_DPOP_NONCE => {
            "; the server asked for a new DPoP nonce again after the proof carried the one it had sent"
        }
        "invalid_client" => {
            "; check the client id and secret, and that the credential is not expired or revoked"
        }
        _ => "",
    }
}

impl TokenError {
    /// Whether trying again later may succeed.
    pub(super) fn is_retryable(&self) -> bool {
        match self {
            Self::Status { status, .. } | Self::OAuth { status, .. } => {
                is_retryable_status(*status)
            }
            Self::Transport(_) => true,
            Self::NonceMissing
            | Self::UnsupportedTokenType(_)
            | Self::DpopDisabled
            | Self::InvalidResponse(_) => false,
        }
    }

    /// A token the source can never use, whatever the wait (the source stops).
    pub(super) fn is_fatal(&self) -> bool {
        matches!(self, Self::UnsupportedTokenType(_) | Self::DpopDisabled)
    }

    /// The HTTP status of a refusal.
    pub(super) fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } | Self::OAuth { status, .. } => Some(*status),
            Self::NonceMissing => Some(400),
            _ => None,
        }
    }

    /// The error of a non-200 answer: the OAuth error when the body is one, else its start.
    fn refused(status: u16, body: &[u8]) -> Self {
        match OAuthError::parse(body) {
            Some(OAuthError { error, description }) => Self::OAuth {
                status,
                error: secrets::redact(&error),
                description: description.map(|d| secrets::redact(&d)),
            },
            None => Self::Status {
                status,
                body: error_excerpt(body),
            },
        }
    }
}

/// An OAuth error body, `{"error": "...", "error_description": "..."}`.
#[derive(serde::Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default, rename = "error_description")]
    description: Option<String>,
}

impl OAuthError {
    fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Self>(body)
            .ok()
            .filter(|e| !e.error.is_empty())
    }
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<f64>,
}

/// An access token and how to present it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct AccessToken {
    /// The token.
    pub(super) value: Secret,
    /// For a DPoP-bound token, `ath` (the hash every API proof carries); `None` for Bearer.
    pub(super) bound: Option<String>,
}

impl AccessToken {
    /// The `Authorization` header: `DPoP <token>` or `Bearer <token>` (marked sensitive, so
    /// the HTTP client never shows it).
    pub(super) fn authorization(&self) -> HeaderValue {
        let scheme = if self.bound.is_some() {
            "DPoP"
        } else {
            "Bearer"
        };
        sensitive(&format!("{scheme} {}", self.value.expose()))
    }
}

/// A header value that the HTTP client never prints.
pub(super) fn sensitive(value: &str) -> HeaderValue {
    // Tokens and proofs are base64url, dots and a scheme: always a valid header value.
    let mut value = HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""));
    value.set_sensitive(true);
    value
}

struct CachedToken {
    token: AccessToken,
    refresh_at: Instant,
}

/// An API call's proof signed ahead of the call, and what it was signed for.
struct SpareProof {
    method: String,
    url: String,
    /// The `ath` of the token it is bound to.
    token_hash: String,
    /// Its `iat`.
    issued_at: i64,
    /// The API's nonce it carries.
    nonce: Option<String>,
    proof: Proof,
}

/// Mints and caches access tokens, and signs the DPoP proofs of the requests that use them.
pub(super) struct TokenClient {
    http: reqwest::Client,
    token_url: String,
    /// `htu` of the token endpoint's proofs.
    token_htu: String,
    client_id: String,
    audience: String,
    auth: Authenticator,
    /// The process's proof key; `None` with `dpop = false`.
    proof_key: Option<&'static ProofKey>,
    /// The newest nonce the token endpoint handed out.
    nonce: std::sync::Mutex<Option<String>>,
    /// The newest nonce the API (the resource server, RFC 9449 §9) handed out; it is not the
    /// token endpoint's.
    api_nonce: std::sync::Mutex<Option<String>>,
    /// The next API call's proof, signed while the previous call's answer was awaited.
    spare: std::sync::Mutex<Option<SpareProof>>,
    cache: Mutex<Option<CachedToken>>,
}

impl std::fmt::Debug for TokenClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenClient")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("audience", &self.audience)
            .field("auth", &self.auth)
            .field("proof_key", &self.proof_key)
            .finish_non_exhaustive()
    }
}

impl TokenClient {
    /// A client for `<base_url>/auth/v1/token`; with `dpop`, signing proofs with the process's
    /// proof key.
    pub(super) fn new(
        http: reqwest::Client,
        base_url: &str,
        client_id: String,
        audience: String,
        auth: Authenticator,
        dpop: bool,
    ) -> Self {
        let token_url = format!("{base_url}/auth/v1/token");
        Self {
            http,
            token_htu: dpop::proof_url(&token_url).unwrap_or_else(|| token_url.clone()),
            token_url,
            client_id,
            audience,
            auth,
            proof_key: dpop.then(ProofKey::process),
            nonce: std::sync::Mutex::new(None),
            api_nonce: std::sync::Mutex::new(None),
            spare: std::sync::Mutex::new(None),
            cache: Mutex::new(None),
        }
    }

    /// A valid token: the cached one, or a fresh one.
    pub(super) async fn token(&self) -> Result<AccessToken, TokenError> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.as_ref()
            && Instant::now() < cached.refresh_at
        {
            return Ok(cached.token.clone());
        }
        let (token, lifetime) = self.mint().await?;
        *cache = Some(CachedToken {
            token: token.clone(),
            refresh_at: Instant::now() + lifetime.saturating_sub(expiry_margin(lifetime)),
        });
        Ok(token)
    }

    /// Forgets `rejected` (the API answered 401 to it), so the next call mints a new token.
    pub(super) async fn invalidate(&self, rejected: &AccessToken) {
        let mut cache = self.cache.lock().await;
        if cache.as_ref().is_some_and(|c| &c.token == rejected) {
            *cache = None;
        }
    }

    /// The proof of an API call with `token` (`method` to `url`), when the token is DPoP-bound:
    /// the one signed ahead for this call if it is fresh, else a new one. Each is used once.
    pub(super) fn api_proof(&self, method: &str, url: &str, token: &AccessToken) -> Option<Proof> {
        let hash = token.bound.as_deref()?;
        let now = chrono::Utc::now().timestamp();
        let nonce = self.current_api_nonce();
        let spare = self.spare.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(spare) = spare
            && spare.method == method
            && spare.url == url
            && spare.token_hash == hash
            && spare.nonce == nonce
            && (0..=SPARE_PROOF_MAX_AGE_SECS).contains(&(now - spare.issued_at))
        {
            return Some(spare.proof);
        }
        self.sign(method, url, hash, nonce.as_deref(), now)
    }

    /// Remembers the nonce an API answer hands out (a `DPoP-Nonce` header), for the proofs
    /// that follow. Returns whether the answer had one.
    pub(super) fn remember_api_nonce(&self, headers: &reqwest::header::HeaderMap) -> bool {
        let Some(nonce) = headers
            .get(DPOP_NONCE_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|_| self.proof_key.is_some())
        else {
            return false;
        };
        *self.api_nonce.lock().unwrap_or_else(|e| e.into_inner()) = Some(nonce.to_owned());
        true
    }

    fn current_api_nonce(&self) -> Option<String> {
        self.api_nonce
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Signs the proof of the next call like this one, to be used by [`Self::api_proof`]. Called
    /// while the current call's answer is awaited: a backfill's calls follow one another, and
    /// the signature is then off their critical path.
    pub(super) fn sign_ahead(&self, method: &str, url: &str, token: &AccessToken) {
        let Some(hash) = token.bound.as_deref() else {
            return;
        };
        let now = chrono::Utc::now().timestamp();
        let nonce = self.current_api_nonce();
        if let Some(proof) = self.sign(method, url, hash, nonce.as_deref(), now) {
            *self.spare.lock().unwrap_or_else(|e| e.into_inner()) = Some(SpareProof {
                method: method.to_owned(),
                url: url.to_owned(),
                token_hash: hash.to_owned(),
                issued_at: now,
                nonce,
                proof,
            });
        }
    }

    /// A proof for an API call bound to the token whose hash is `hash`, carrying the API's
    /// `nonce` if it handed one out.
    fn sign(
        &self,
        method: &str,
        url: &str,
        hash: &str,
        nonce: Option<&str>,
        now: i64,
    ) -> Option<Proof> {
        let htu = dpop::proof_url(url)?;
        Some(self.proof_key?.proof(method, &htu, now, nonce, Some(hash)))
    }

    /// The token request's form: the grant, the client id and its authentication.
    fn form(&self) -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", self.client_id.clone()),
        ];
        match &self.auth {
            Authenticator::Assertion(key) => {
                let now = chrono::Utc::now().timestamp();
                form.push(("client_assertion_type", JWT_BEARER.to_owned()));
                let assertion = key.client_assertion(&self.client_id, &self.audience, now);
                form.push(("client_assertion", assertion.expose().to_owned()));
            }
            Authenticator::Secret(secret) => {
                form.push(("client_secret", secret.expose().to_owned()));
            }
        }
        form
    }

    /// One token request (with a proof carrying the newest nonce, unless `dpop = false`);
    /// remembers the nonce the answer hands out. Returns the status, headers and body.
    async fn request(&self) -> Result<(u16, HeaderMap, Bytes), TokenError> {
        let mut request = self
            .http
            .post(&self.token_url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&self.form());
        if let Some(key) = self.proof_key {
            let nonce = self.nonce.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let now = chrono::Utc::now().timestamp();
            let proof = key.proof("POST", &self.token_htu, now, nonce.as_deref(), None);
            request = request.header(DPOP_HEADER, sensitive(proof.expose()));
        }
        let transport = |e: reqwest::Error| TokenError::Transport(ApiError::describe_transport(&e));
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(transport)?;
        if self.proof_key.is_some()
            && let Some(nonce) = headers.get(DPOP_NONCE_HEADER).and_then(|v| v.to_str().ok())
        {
            *self.nonce.lock().unwrap_or_else(|e| e.into_inner()) = Some(nonce.to_owned());
        }
        Ok((status, headers, body))
    }

    /// The answer to a token request; a nonce challenge (400 `use_dpop_nonce`) is answered
    /// once with a proof carrying the nonce.
    async fn request_answering_nonce(&self) -> Result<(u16, Bytes), TokenError> {
        let mut challenged = false;
        loop {
            let (status, headers, body) = self.request().await?;
            let is_challenge = status == 400
                && self.proof_key.is_some()
                && OAuthError::parse(&body).is_some_and(|e| e.error == USE_DPOP_NONCE);
            if is_challenge && !headers.contains_key(DPOP_NONCE_HEADER) {
                return Err(TokenError::NonceMissing);
            }
            if !is_challenge || challenged {
                return Ok((status, body));
            }
            tracing::debug!(
                "conductorone: the token endpoint asked for a DPoP nonce; asking again with it"
            );
            challenged = true;
        }
    }

    /// Asks the token endpoint for a new token; returns it with its lifetime.
    pub(super) async fn mint(&self) -> Result<(AccessToken, Duration), TokenError> {
        let (status, body) = self.request_answering_nonce().await?;
        if status != 200 {
            return Err(TokenError::refused(status, &body));
        }
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            TokenError::InvalidResponse(secrets::redact(&format!("not the expected JSON ({e})")))
        })?;
        let kind = parsed.token_type.as_deref().map_or("Bearer", str::trim);
        let bound = if kind.eq_ignore_ascii_case("dpop") {
            if self.proof_key.is_none() {
                return Err(TokenError::DpopDisabled);
            }
            true
        } else if kind.eq_ignore_ascii_case("bearer") {
            false
        } else {
            return Err(TokenError::UnsupportedTokenType(secrets::redact(kind)));
        };
        let token = parsed.access_token.trim();
        let token = token
            .strip_prefix("Bearer:")
            .or_else(|| token.strip_prefix("Bearer "))
            .or_else(|| token.strip_prefix("bearer "))
            .unwrap_or(token)
            .trim();
        if token.is_empty() {
            return Err(TokenError::InvalidResponse("empty access_token".to_owned()));
        }
        let lifetime = parsed
            .expires_in
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(DEFAULT_LIFETIME, |s| {
                Duration::from_secs_f64(s.min(86_400.0))
            });
        tracing::debug!(
            lifetime_secs = lifetime.as_secs_f64(),
            token_type = if bound { "DPoP" } else { "Bearer" },
            "conductorone: minted an access token"
        );
        let token = AccessToken {
            bound: bound.then(|| dpop::token_hash(token)),
            value: Secret::minted(token),
        };
        Ok((token, lifetime))
    }
}

/// How long before expiry a token is replaced: a quarter of its life, at most a minute
/// (a 600 s token is reused for 540 s, a 2 s test token for 1.5 s).
fn expiry_margin(lifetime: Duration) -> Duration {
    (lifetime / 4).min(MAX_EXPIRY_MARGIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(dpop: bool) -> TokenClient {
        let auth = Authenticator::Secret(Secret::new("test-secret-value"));
        let (id, audience) = ("id@acme.conductor.one/spc".to_owned(), "acme".to_owned());
        TokenClient::new(
            reqwest::Client::new(),
            "https://acme.conductor.one",
            id,
            audience,
            auth,
            dpop,
        )
    }

    fn bound(token: &str) -> AccessToken {
        AccessToken {
            value: Secret::minted(token),
            bound: Some(dpop::token_hash(token)),
        }
    }

    #[test]
    fn a_proof_signed_ahead_is_used_once_and_only_for_its_call() {
        let tokens = client(true);
        let url = "https://acme.conductor.one/api/v1/systemlog/events";
        let token = bound("token-a");
        tokens.sign_ahead("POST", url, &token);
        let spare = tokens
            .spare
            .lock()
            .unwrap()
            .as_ref()
            .map(|s| s.proof.expose().to_owned());
        let first = tokens.api_proof("POST", url, &token).expect("a proof");
        assert_eq!(Some(first.expose().to_owned()), spare, "the spare is used");
        let second = tokens.api_proof("POST", url, &token).expect("a proof");
        assert_ne!(
            first.expose(),
            second.expose(),
            "a proof is never used twice"
        );
        // Signed for another token or URL: not used.
        tokens.sign_ahead("POST", url, &bound("token-b"));
        let other = tokens.api_proof("POST", url, &token).expect("a proof");
        assert!(tokens.spare.lock().unwrap().is_none());
        let claims = other.expose().split('.').nth(1).expect("claims");
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, claims)
                .expect("b64"),
        )
        .expect("json");
        assert_eq!(claims["ath"], dpop::token_hash("token-a"));
        // A Bearer token, or `dpop = false`: no proof at all.
        let bearer = AccessToken {
            value: Secret::minted("token-c"),
            bound: None,
        };
        assert!(tokens.api_proof("GET", url, &bearer).is_none());
        assert!(client(false).api_proof("GET", url, &token).is_none());
    }

    #[test]
    fn tokens_are_replaced_before_they_expire() {
        assert_eq!(
            expiry_margin(Duration::from_secs(600)),
            Duration::from_secs(60)
        );
        assert_eq!(
            expiry_margin(Duration::from_secs(3600)),
            Duration::from_secs(60)
        );
        assert_eq!(
            expiry_margin(Duration::from_secs(2)),
            Duration::from_millis(500)
        );
    }
}
