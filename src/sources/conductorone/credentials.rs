//! Client id, client secret and the signed client assertion.
//!
//! Facts (copied from the team's ConductorOne API notes, which cite the official SDKs
//! `conductorone-sdk-go` `token_source.go` / `extra_sdk_options.go`, `conductorone-sdk-typescript`
//! `src/token.ts`, `c1i` `internal/tokensource/tokensource.go` and the docs page
//! `conductorone-api/authenticate.mdx`):
//!
//! * The client id is `<random-id>@<hostname>/<use-case>`; the tenant host is the text between
//!   the `@` and the first `/` after it, lower-cased (`…@acme.conductor.one/spc` →
//!   `https://acme.conductor.one`, EU tenants `…@acme.c1eu.ai/spc` → `https://acme.c1eu.ai`).
//!   The use-case suffix (`pcc`, `spc`, `wfe`, …) is not validated.
//! * The secret is `secret-token:conductorone.com:v1:<base64url(JSON JWK)>`; the JWK is an
//!   Ed25519 private key (`kty` `OKP`, `crv` `Ed25519`, `x`, `d`; no `kid`). Base64 may be padded
//!   or not. `d` is the 32-byte seed of the signing key.
//! * The client assertion is a compact JWS: header `{"alg":"EdDSA","nonce":<32 lowercase hex>}`
//!   (the Go/TypeScript form), claims `iss` = `sub` = client id, `aud` = `[tenant host without
//!   scheme or port]`, `iat` = now, `nbf` = now − 120 s, `exp` = now + 120 s; no `jti`.
//!
//! The secret never appears in `Debug` output, logs or error messages: it lives in a
//! [`Secret`] (which also hides it, its key and the key's `d` from whatever a server echoes),
//! and parse errors say which part is wrong without quoting it. Each client assertion is a
//! [`Secret`] too.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE_NO_PAD, URL_SAFE_NO_PAD_INDIFFERENT};
use ed25519_dalek::{Signer as _, SigningKey};
use rand::RngExt as _;
use serde::Deserialize;

use crate::secrets::Secret;

/// Why a client id is unusable.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ClientIdError {
    /// No `@` separating the random id from the host.
    #[error("the client id has no `@`: expected `<id>@<tenant host>/<use case>`")]
    MissingAt,
    /// No `/` after the host.
    #[error("the client id has no `/` after the host: expected `<id>@<tenant host>/<use case>`")]
    MissingSlash,
    /// Nothing between `@` and `/`.
    #[error("the client id has an empty tenant host between `@` and `/`")]
    EmptyHost,
}

/// The tenant host named by a client id (`acme.conductor.one`, or `host:port`), lower-cased.
pub(crate) fn tenant_host(client_id: &str) -> Result<String, ClientIdError> {
    let (_, rest) = client_id.split_once('@').ok_or(ClientIdError::MissingAt)?;
    let (host, _) = rest.split_once('/').ok_or(ClientIdError::MissingSlash)?;
    if host.trim().is_empty() {
        return Err(ClientIdError::EmptyHost);
    }
    Ok(host.trim().to_ascii_lowercase())
}

/// The `aud` claim for a tenant host: the host name only, without a port.
pub(crate) fn audience(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // An IPv6 literal `[::1]:8080`.
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Which part of a client secret is wrong. The messages never quote the secret.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum SecretError {
    /// Not four `:`-separated parts.
    #[error(
        "the client secret has {0} `:`-separated part(s); expected 4: `secret-token:conductorone.com:v1:<key>`"
    )]
    PartCount(usize),
    /// Part 1 is not `secret-token`.
    #[error("part 1 of the client secret is not `secret-token`")]
    Prefix,
    /// Part 2 is not `conductorone.com`.
    #[error("part 2 of the client secret is not `conductorone.com`")]
    Issuer,
    /// Part 3 is not `v1`.
    #[error("part 3 of the client secret (the version) is not `v1`")]
    Version,
    /// Part 4 is not base64url.
    #[error("part 4 of the client secret (the key) is not valid base64url")]
    Base64,
    /// Part 4 does not decode to a JSON object.
    #[error("part 4 of the client secret (the key) is not a JSON Web Key")]
    Json,
    /// The key is not an Ed25519 key (`kty` `OKP`, `crv` `Ed25519`).
    #[error("the key in the client secret is not an Ed25519 key (`kty` OKP, `crv` Ed25519)")]
    KeyType,
    /// `d` is missing or not 32 bytes of base64url: not a private key.
    #[error("the key in the client secret has no valid private part `d` (32 bytes of base64url)")]
    PrivateKey,
    /// `x` does not match the public key derived from `d`.
    #[error("the key in the client secret is inconsistent: `x` is not the public key of `d`")]
    PublicKeyMismatch,
}

#[derive(Deserialize)]
struct Jwk {
    kty: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    d: Option<String>,
}

/// Parses a ConductorOne client secret into its Ed25519 signing key.
pub(crate) fn parse_secret(secret: &str) -> Result<SigningKey, SecretError> {
    let parts: Vec<&str> = secret.trim().split(':').collect();
    if parts.len() != 4 {
        return Err(SecretError::PartCount(parts.len()));
    }
    if parts[0] != "secret-token" {
        return Err(SecretError::Prefix);
    }
    if parts[1] != "conductorone.com" {
        return Err(SecretError::Issuer);
    }
    if parts[2] != "v1" {
        return Err(SecretError::Version);
    }
    let json = URL_SAFE_NO_PAD_INDIFFERENT
        .decode(parts[3])
        .map_err(|_| SecretError::Base64)?;
    let jwk: Jwk = serde_json::from_slice(&json).map_err(|_| SecretError::Json)?;
    if jwk.kty.as_deref() != Some("OKP") || jwk.crv.as_deref() != Some("Ed25519") {
        return Err(SecretError::KeyType);
    }
    let seed: [u8; 32] = jwk
        .d
        .as_deref()
        .and_then(|d| URL_SAFE_NO_PAD_INDIFFERENT.decode(d).ok())
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(SecretError::PrivateKey)?;
    let key = SigningKey::from_bytes(&seed);
    if let Some(x) = jwk.x.as_deref() {
        let public = URL_SAFE_NO_PAD_INDIFFERENT
            .decode(x)
            .map_err(|_| SecretError::PublicKeyMismatch)?;
        if public.as_slice() != key.verifying_key().as_bytes() {
            return Err(SecretError::PublicKeyMismatch);
        }
    }
    Ok(key)
}

/// Formats a client secret for `key` (the inverse of `parse_secret`; used by tests and the
/// benchmark to make credentials for a fake server).
pub fn format_secret(key: &SigningKey) -> Secret {
    let jwk = serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
        "d": URL_SAFE_NO_PAD.encode(key.to_bytes()),
    });
    Secret::new(format!(
        "secret-token:conductorone.com:v1:{}",
        URL_SAFE_NO_PAD.encode(jwk.to_string())
    ))
}

/// Seconds before and after "now" that the assertion is valid (the SDKs' ±120 s).
pub(crate) const ASSERTION_SKEW_SECS: i64 = 120;

/// A signing key whose `Debug` output does not reveal it.
#[derive(Clone)]
pub(crate) struct AssertionKey(SigningKey);

impl AssertionKey {
    /// Wraps a parsed key.
    pub(crate) fn new(key: SigningKey) -> Self {
        Self(key)
    }

    /// The compact JWS client assertion for `client_id` and audience `aud`, issued at `now`
    /// (seconds since the Unix epoch). A bearer credential for its two minutes.
    pub(crate) fn client_assertion(&self, client_id: &str, aud: &str, now: i64) -> Secret {
        let nonce: [u8; 16] = rand::rng().random();
        let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let header = serde_json::json!({ "alg": "EdDSA", "nonce": nonce });
        let claims = serde_json::json!({
            "iss": client_id,
            "sub": client_id,
            "aud": [aud],
            "iat": now,
            "nbf": now - ASSERTION_SKEW_SECS,
            "exp": now + ASSERTION_SKEW_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.0.sign(signing_input.as_bytes());
        Secret::minted(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        ))
    }
}

impl fmt::Debug for AssertionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AssertionKey({})", crate::secrets::REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    #[test]
    fn tenant_host_comes_from_the_client_id() {
        let cases = [
            (
                "strange-hydra-68836@acme.conductor.one/pcc",
                "acme.conductor.one",
            ),
            ("clever-fox-1@Acme.C1EU.ai/spc", "acme.c1eu.ai"),
            (
                "foobar@c1dev.anthony.dev.ductone.com/pcc",
                "c1dev.anthony.dev.ductone.com",
            ),
            ("x@localhost:8443/wfe", "localhost:8443"),
        ];
        for (id, host) in cases {
            assert_eq!(tenant_host(id).as_deref(), Ok(host), "{id}");
        }
        assert_eq!(tenant_host("no-at-sign/pcc"), Err(ClientIdError::MissingAt));
        assert_eq!(
            tenant_host("x@acme.conductor.one"),
            Err(ClientIdError::MissingSlash)
        );
        assert_eq!(tenant_host("x@/pcc"), Err(ClientIdError::EmptyHost));
    }

    #[test]
    fn the_audience_has_no_port() {
        assert_eq!(audience("acme.conductor.one"), "acme.conductor.one");
        assert_eq!(audience("localhost:8443"), "localhost");
        assert_eq!(audience("[::1]:8443"), "::1");
    }

    #[test]
    fn a_formatted_secret_parses_back_padded_or_not() {
        let secret = format_secret(&key());
        assert_eq!(
            parse_secret(secret.expose()).map(|k| k.to_bytes()),
            Ok(key().to_bytes())
        );
        let (head, b64) = secret.expose().rsplit_once(':').expect("4 parts");
        let padding = "=".repeat((4 - b64.len() % 4) % 4);
        let padded = format!("{head}:{b64}{padding}");
        assert!(parse_secret(&padded).is_ok());
    }

    #[test]
    fn each_malformed_part_is_named() {
        let good = format_secret(&key());
        let b64 = good.expose().rsplit(':').next().expect("part 4").to_owned();
        let jwk = |value: serde_json::Value| {
            format!(
                "secret-token:conductorone.com:v1:{}",
                URL_SAFE_NO_PAD.encode(value.to_string())
            )
        };
        let cases = [
            (
                "secret-token:conductorone.com:v1".to_owned(),
                SecretError::PartCount(3),
            ),
            (
                format!("secret-tokn:conductorone.com:v1:{b64}"),
                SecretError::Prefix,
            ),
            (
                format!("secret-token:example.com:v1:{b64}"),
                SecretError::Issuer,
            ),
            (
                format!("secret-token:conductorone.com:v2:{b64}"),
                SecretError::Version,
            ),
            (
                "secret-token:conductorone.com:v1:%%%".to_owned(),
                SecretError::Base64,
            ),
            (
                "secret-token:conductorone.com:v1:bm90IGpzb24".to_owned(),
                SecretError::Json,
            ),
            (
                jwk(serde_json::json!({"kty": "EC", "crv": "P-256", "d": "AA"})),
                SecretError::KeyType,
            ),
            (
                jwk(serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": "AA"})),
                SecretError::PrivateKey,
            ),
            (
                jwk(
                    serde_json::json!({"kty": "OKP", "crv": "Ed25519", "d": URL_SAFE_NO_PAD.encode([1u8; 32]), "x": URL_SAFE_NO_PAD.encode([2u8; 32])}),
                ),
                SecretError::PublicKeyMismatch,
            ),
        ];
        for (secret, expected) in cases {
            let error = parse_secret(&secret).expect_err(&secret);
            assert_eq!(error, expected);
            assert!(!error.to_string().contains(&b64));
        }
    }

    #[test]
    fn the_assertion_is_an_eddsa_jws_with_the_documented_claims() {
        use ed25519_dalek::Verifier as _;
        let assertion = AssertionKey::new(key()).client_assertion(
            "id@acme.conductor.one/spc",
            "acme.conductor.one",
            1_000_000,
        );
        let parts: Vec<&str> = assertion.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("b64")).expect("json");
        assert_eq!(header["alg"], "EdDSA");
        let nonce = header["nonce"].as_str().expect("nonce");
        assert!(
            nonce.len() == 32
                && nonce
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(header.as_object().map(|o| o.len()), Some(2));
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
        assert_eq!(
            claims,
            serde_json::json!({"iss": "id@acme.conductor.one/spc", "sub": "id@acme.conductor.one/spc",
                "aud": ["acme.conductor.one"], "iat": 1_000_000, "nbf": 999_880, "exp": 1_000_120})
        );
        let signature: [u8; 64] = URL_SAFE_NO_PAD
            .decode(parts[2])
            .expect("b64")
            .try_into()
            .expect("64 bytes");
        key()
            .verifying_key()
            .verify(
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &ed25519_dalek::Signature::from_bytes(&signature),
            )
            .expect("valid signature");
    }

    #[test]
    fn debug_never_shows_secrets() {
        let secret = format_secret(&key());
        assert_eq!(
            format!("{secret:?} {secret}"),
            "Secret([REDACTED]) [REDACTED]"
        );
        assert_eq!(
            format!("{:?}", AssertionKey::new(key())),
            "AssertionKey([REDACTED])"
        );
    }
}
