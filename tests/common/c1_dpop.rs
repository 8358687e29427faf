//! The fake tenant's DPoP (RFC 9449) validator, checking what ConductorOne's own validator
//! checks (`ConductorOne/DPoP` `pkg/dpop/validator.go`, read for the rules; written here from
//! them, not copied):
//!
//! * the proof is a compact JWS with exactly one header, `typ` `dpop+jwt`, an accepted `alg`
//!   (this fake: `EdDSA` only) and a `jwk` that is a valid public key (no private part);
//! * the signature verifies with that `jwk`;
//! * `jti` and `iat` are present, `iat` is within the clock skew (30 s) of now, `nbf` (when
//!   present) is not in the future and `exp` (when present) not in the past, beyond the skew;
//! * `htm` and `htu` equal the request's method and URL (case-insensitively, as the library
//!   compares them);
//! * with an access token, `ath` is base64url(SHA-256(token)) and the key's RFC 7638
//!   thumbprint is the one the token is bound to (`cnf.jkt`); without one, no `ath`;
//! * a nonce only when the server asked for one, and then the current one;
//! * a `jti` is never accepted twice.
//!
//! Included by `c1_server.rs` (`#[path]`), shared by the tests and the benchmark.

use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest as _, Sha256};

/// The validator's default clock skew.
pub const MAX_CLOCK_SKEW_SECS: i64 = 30;

/// What a proof must match.
pub struct Expected<'a> {
    /// The request's method.
    pub method: &'a str,
    /// The request's URL without query (`http://127.0.0.1:PORT/path`).
    pub url: &'a str,
    /// The access token the request carries (API calls), to check `ath`.
    pub access_token: Option<&'a str>,
    /// The nonce the proof must carry, when the server requires one.
    pub nonce: Option<&'a str>,
}

/// Why a proof was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum ProofError {
    /// The server requires a nonce and the proof has none, or an old one: answer
    /// `use_dpop_nonce` with the current nonce.
    NeedsNonce,
    /// Anything else: `invalid_dpop_proof` with this description.
    Invalid(String),
}

fn invalid(reason: impl Into<String>) -> ProofError {
    ProofError::Invalid(reason.into())
}

/// base64url(SHA-256(`text`)), unpadded: `ath` of a token, and thumbprints.
pub fn sha256_b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(text.as_bytes()))
}

/// The RFC 7638 thumbprint of an Ed25519 JWK: SHA-256 over its required members in
/// lexicographic order, without whitespace.
pub fn okp_thumbprint(x: &str) -> String {
    sha256_b64(&format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#))
}

fn decode_json(part: &str, what: &str) -> Result<serde_json::Value, ProofError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| invalid(format!("{what}: not base64url ({e})")))?;
    serde_json::from_slice(&bytes).map_err(|e| invalid(format!("{what}: not JSON ({e})")))
}

/// What the validator remembers between proofs.
#[derive(Default)]
pub struct Seen {
    /// Every `jti` accepted.
    pub jtis: HashSet<String>,
    /// Decoded public keys by their `x` (decoding a point costs as much as a quarter of a
    /// signature check; a client signs every proof with the same key).
    keys: HashMap<String, VerifyingKey>,
}

/// The public key of the header's `jwk`, checked; returns the key and its `x`.
fn header_key(
    header: &serde_json::Value,
    keys: &mut HashMap<String, VerifyingKey>,
) -> Result<(VerifyingKey, String), ProofError> {
    if header["typ"] != "dpop+jwt" {
        return Err(invalid("invalid token type"));
    }
    if header["alg"] != "EdDSA" {
        return Err(invalid(format!("algorithm {} not accepted", header["alg"])));
    }
    let jwk = header
        .get("jwk")
        .and_then(|v| v.as_object())
        .ok_or_else(|| invalid("no embedded JWK"))?;
    if jwk.contains_key("d") {
        return Err(invalid("expected public key"));
    }
    if jwk.get("kty").and_then(|v| v.as_str()) != Some("OKP")
        || jwk.get("crv").and_then(|v| v.as_str()) != Some("Ed25519")
    {
        return Err(invalid("invalid JWK"));
    }
    let x = jwk.get("x").and_then(|v| v.as_str()).unwrap_or_default();
    if let Some(key) = keys.get(x) {
        return Ok((*key, x.to_owned()));
    }
    let bytes: [u8; 32] = URL_SAFE_NO_PAD
        .decode(x)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| invalid("invalid JWK"))?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| invalid("invalid JWK"))?;
    keys.insert(x.to_owned(), key);
    Ok((key, x.to_owned()))
}

/// Checks the time claims against `now` (seconds).
fn check_times(claims: &serde_json::Value, now: i64) -> Result<(), ProofError> {
    let iat = claims["iat"]
        .as_i64()
        .ok_or_else(|| invalid("missing required claim: iat"))?;
    if (iat - now).abs() > MAX_CLOCK_SKEW_SECS {
        return Err(invalid(
            "issued at time is not within acceptable range of current time",
        ));
    }
    if claims["nbf"]
        .as_i64()
        .is_some_and(|nbf| nbf > now + MAX_CLOCK_SKEW_SECS)
    {
        return Err(invalid("not yet valid"));
    }
    if claims["exp"]
        .as_i64()
        .is_some_and(|exp| exp < now - MAX_CLOCK_SKEW_SECS)
    {
        return Err(invalid("token has expired"));
    }
    Ok(())
}

/// Checks `ath` and the nonce.
fn check_binding_and_nonce(
    claims: &serde_json::Value,
    expected: &Expected<'_>,
) -> Result<(), ProofError> {
    let ath = claims.get("ath").and_then(|v| v.as_str());
    match (expected.access_token, ath) {
        (Some(_), None) => return Err(invalid("missing token hash")),
        (Some(token), Some(ath)) if ath != sha256_b64(token) => {
            return Err(invalid("invalid access token binding"));
        }
        (None, Some(_)) => return Err(invalid("unexpected token hash")),
        _ => {}
    }
    let nonce = claims.get("nonce").and_then(|v| v.as_str());
    match (expected.nonce, nonce) {
        (Some(want), Some(got)) if want == got => Ok(()),
        (Some(_), _) => Err(ProofError::NeedsNonce),
        (None, Some(_)) => Err(invalid("unexpected nonce")),
        (None, None) => Ok(()),
    }
}

/// Validates `proof` for the request `expected` at `now` (seconds); remembers its `jti` in
/// `seen`. Returns the key's thumbprint (what a token it gets is bound to).
pub fn validate(
    proof: &str,
    expected: &Expected<'_>,
    now: i64,
    seen: &mut Seen,
) -> Result<String, ProofError> {
    let parts: Vec<&str> = proof.split('.').collect();
    let [header_b64, claims_b64, signature_b64] = parts[..] else {
        return Err(invalid("failed to parse token: not a compact JWS"));
    };
    let header = decode_json(header_b64, "header")?;
    let (key, x) = header_key(&header, &mut seen.keys)?;
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| invalid("failed to verify claims: bad signature encoding"))?;
    key.verify_strict(
        format!("{header_b64}.{claims_b64}").as_bytes(),
        &Signature::from_bytes(&signature),
    )
    .map_err(|_| invalid("failed to verify claims: bad signature"))?;
    let claims = decode_json(claims_b64, "claims")?;
    let jti = claims["jti"].as_str().unwrap_or_default();
    if jti.is_empty() {
        return Err(invalid("missing required claim: jti"));
    }
    if jti.len() > 1024 {
        return Err(invalid("jti too large"));
    }
    check_times(&claims, now)?;
    let method = claims["htm"].as_str().unwrap_or_default();
    if !method.eq_ignore_ascii_case(expected.method) {
        return Err(invalid("method mismatch"));
    }
    let url = claims["htu"].as_str().unwrap_or_default();
    if !url.eq_ignore_ascii_case(expected.url) {
        return Err(invalid(format!("URI mismatch ({url})")));
    }
    check_binding_and_nonce(&claims, expected)?;
    if !seen.jtis.insert(jti.to_owned()) {
        return Err(invalid("jti has been used before"));
    }
    Ok(okp_thumbprint(&x))
}
