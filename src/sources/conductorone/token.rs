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
//! * A credential created with "Require DPoP" gets `token_type` `DPoP`; no SDK implements DPoP
//!   and neither does this source: that is a specific, permanent error.
//! * Some SDKs strip a leading `Bearer ` from `access_token` defensively; so do we.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::client::{ApiError, error_excerpt, is_retryable_status};
use super::credentials::AssertionKey;
use crate::secrets::{self, Secret};

/// Form value of `client_assertion_type` for a signed JWT (RFC 7523).
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

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
    /// The token endpoint answered with another status than 200.
    #[error("the token endpoint answered {status}: {body}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The start of the response body (the server's message, redacted: token endpoints
        /// quote the client secret they were sent).
        body: String,
    },
    /// No answer (connection refused, timeout, TLS).
    #[error("cannot reach the token endpoint: {0}")]
    Transport(String),
    /// The credential requires DPoP-bound tokens, which this source does not implement.
    #[error(
        "the credential requires DPoP (the token endpoint issued a `DPoP` token); this source supports only Bearer tokens: create a credential without \"Require DPoP\""
    )]
    Dpop,
    /// A 200 whose body is not the expected JSON, or has no token (redacted: the reason may
    /// quote the body).
    #[error("the token endpoint's answer is not usable: {0}")]
    InvalidResponse(String),
}

impl TokenError {
    /// Whether trying again later may succeed.
    pub(super) fn is_retryable(&self) -> bool {
        match self {
            Self::Status { status, .. } => is_retryable_status(*status),
            Self::Transport(_) => true,
            Self::Dpop | Self::InvalidResponse(_) => false,
        }
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

struct CachedToken {
    value: Secret,
    refresh_at: Instant,
}

/// Mints and caches access tokens.
pub(super) struct TokenClient {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    audience: String,
    auth: Authenticator,
    cache: Mutex<Option<CachedToken>>,
}

impl std::fmt::Debug for TokenClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenClient")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("audience", &self.audience)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl TokenClient {
    /// A client for `<base_url>/auth/v1/token`.
    pub(super) fn new(
        http: reqwest::Client,
        base_url: &str,
        client_id: String,
        audience: String,
        auth: Authenticator,
    ) -> Self {
        Self {
            http,
            token_url: format!("{base_url}/auth/v1/token"),
            client_id,
            audience,
            auth,
            cache: Mutex::new(None),
        }
    }

    /// A valid token: the cached one, or a fresh one.
    pub(super) async fn token(&self) -> Result<Secret, TokenError> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.as_ref()
            && Instant::now() < cached.refresh_at
        {
            return Ok(cached.value.clone());
        }
        let (value, lifetime) = self.mint().await?;
        *cache = Some(CachedToken {
            value: value.clone(),
            refresh_at: Instant::now() + lifetime.saturating_sub(expiry_margin(lifetime)),
        });
        Ok(value)
    }

    /// Forgets `rejected` (the API answered 401 to it), so the next call mints a new token.
    pub(super) async fn invalidate(&self, rejected: &Secret) {
        let mut cache = self.cache.lock().await;
        if cache.as_ref().is_some_and(|c| &c.value == rejected) {
            *cache = None;
        }
    }

    /// Asks the token endpoint for a new token; returns it with its lifetime.
    pub(super) async fn mint(&self) -> Result<(Secret, Duration), TokenError> {
        let mut form: Vec<(&str, String)> = vec![
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
        let response = self
            .http
            .post(&self.token_url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| TokenError::Transport(ApiError::describe_transport(&e)))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| TokenError::Transport(ApiError::describe_transport(&e)))?;
        if status != 200 {
            return Err(TokenError::Status {
                status,
                body: error_excerpt(&body),
            });
        }
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            TokenError::InvalidResponse(secrets::redact(&format!("not the expected JSON ({e})")))
        })?;
        match parsed.token_type.as_deref() {
            Some(kind) if kind.eq_ignore_ascii_case("dpop") => return Err(TokenError::Dpop),
            None => {}
            Some(kind) if kind.eq_ignore_ascii_case("bearer") => {}
            Some(other) => {
                return Err(TokenError::InvalidResponse(format!(
                    "unsupported token_type `{}` (expected Bearer)",
                    secrets::redact(other)
                )));
            }
        }
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
            "conductorone: minted an access token"
        );
        Ok((Secret::minted(token), lifetime))
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
