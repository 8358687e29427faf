//! DPoP (RFC 9449) proofs: a proof key for the source's life, and a fresh signed proof for
//! every token request and every API call that uses a DPoP-bound token.
//!
//! Facts (team notes on the ConductorOne API §2.6, from ConductorOne's own DPoP library,
//! `ConductorOne/DPoP` `pkg/dpop/proofer.go` and `validator.go`, and RFC 9449; the code here is
//! written from those facts, not copied):
//!
//! * A proof is a compact JWS with the header `{"typ":"dpop+jwt","alg":"EdDSA","jwk":<the
//!   public key>}` and the claims `jti` (a random UUID, never reused), `iat` (now, seconds),
//!   `htm` (the HTTP method), `htu` (the request URL without query or fragment), `nonce` (only
//!   once the server has handed one out) and `ath` (only with an access token: base64url,
//!   unpadded, of SHA-256 over the token). ConductorOne's library also sets `nbf` = `iat` −
//!   30 s and `exp` = `iat` + 5 min, and its validator checks them when present: so do we.
//! * The validator refuses a proof whose `iat` is more than 30 s from its clock, a reused
//!   `jti`, a method or URL that differ from the request's, an `ath` on a token request or
//!   none on an API call, a key whose RFC 7638 thumbprint is not the one the token is bound
//!   to, and a nonce it did not ask for.
//!
//! The key is Ed25519 (the algorithm the client secret already uses), one for the process
//! ([`ProofKey::process`]): generated from a cryptographically secure generator the first time
//! a proof is needed, kept in memory only, for the process's life; a new one after a restart
//! is fine, since tokens are minted again then. Neither the key nor a proof is ever logged:
//! [`ProofKey`] and [`Proof`] print `[REDACTED]`, and the proofs' constant first part (the
//! encoded header) is registered once with [`crate::secrets`], so a server that echoes a proof
//! back has it hidden from every message.

use std::fmt;
use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer as _, SigningKey};
use rand::RngExt as _;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::secrets::REDACTED;

/// The `typ` of a DPoP proof.
const PROOF_TYPE: &str = "dpop+jwt";

/// How far before `iat` a proof's `nbf` lies (ConductorOne's proofer: 30 s).
const NOT_BEFORE_SECS: i64 = 30;

/// How long after `iat` a proof's `exp` lies (ConductorOne's proofer: 5 minutes).
const VALIDITY_SECS: i64 = 300;

/// The proof key: an Ed25519 key pair of the client's own, and the encoded JWS header every
/// proof shares. `Debug` never shows it.
pub(crate) struct ProofKey {
    key: SigningKey,
    /// base64url of `{"typ":"dpop+jwt","alg":"EdDSA","jwk":{…}}`, the first part of every
    /// proof.
    header: String,
}

/// The process's proof key.
static PROCESS_KEY: LazyLock<ProofKey> = LazyLock::new(ProofKey::generate);

impl ProofKey {
    /// The process's key: every client of the process signs with it (one registration with
    /// the redaction, however many configurations a process builds).
    pub(crate) fn process() -> &'static Self {
        &PROCESS_KEY
    }

    /// A new random key.
    fn generate() -> Self {
        Self::from_seed(rand::rng().random())
    }

    /// The key from a 32-byte Ed25519 seed (tests use fixed seeds).
    pub(crate) fn from_seed(seed: [u8; 32]) -> Self {
        let key = SigningKey::from_bytes(&seed);
        // Written out (base64url needs no escaping), so the encoded header's start is the
        // same for every key: the tests look for it in the logs.
        let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
        let header = format!(
            r#"{{"alg":"EdDSA","jwk":{{"crv":"Ed25519","kty":"OKP","x":"{x}"}},"typ":"{PROOF_TYPE}"}}"#
        );
        let header = URL_SAFE_NO_PAD.encode(header);
        // Every proof starts with it: a server that quotes a proof back has it hidden.
        crate::secrets::register(&header);
        Self { key, header }
    }

    /// A proof for a `method` request to `htu` ([`proof_url`] of the request URL) issued at
    /// `now` (seconds since the Unix epoch), carrying the server's `nonce` if it gave one, and
    /// bound to `access_token` by its hash ([`token_hash`]) on API calls.
    pub(crate) fn proof(
        &self,
        method: &str,
        htu: &str,
        now: i64,
        nonce: Option<&str>,
        access_token_hash: Option<&str>,
    ) -> Proof {
        // A version 4 UUID from the thread's CSPRNG (no system call per proof).
        let jti = uuid::Builder::from_random_bytes(rand::rng().random())
            .into_uuid()
            .to_string();
        let claims = Claims {
            jti: &jti,
            htm: method,
            htu,
            iat: now,
            nbf: now - NOT_BEFORE_SECS,
            exp: now + VALIDITY_SECS,
            nonce,
            ath: access_token_hash,
        };
        let claims = serde_json::to_vec(&claims).expect("proof claims serialize");
        let mut jws = String::with_capacity(self.header.len() + claims.len() * 4 / 3 + 100);
        jws.push_str(&self.header);
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut jws);
        let signature = self.key.sign(jws.as_bytes());
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut jws);
        Proof(jws)
    }
}

impl fmt::Debug for ProofKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProofKey({REDACTED})")
    }
}

/// The claims of a proof, in the order ConductorOne's proofer writes them.
#[derive(Serialize)]
struct Claims<'a> {
    jti: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
    htm: &'a str,
    htu: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ath: Option<&'a str>,
}

/// One signed proof, the value of a request's `DPoP` header. `Debug` and `Display` never
/// show it.
pub(crate) struct Proof(String);

impl Proof {
    /// The proof itself, for the one header that sends it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Proof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Proof({REDACTED})")
    }
}

/// `ath`: base64url (unpadded) of SHA-256 over the access token's ASCII text.
pub(crate) fn token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// `htu` for a request URL: scheme, host, port (unless the scheme's default) and path, with
/// no query and no fragment (RFC 9449 §4.2); `None` when `url` is not a URL.
pub(crate) fn proof_url(url: &str) -> Option<String> {
    let mut url = reqwest::Url::parse(url).ok()?;
    url.set_query(None);
    url.set_fragment(None);
    Some(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Verifier as _;

    fn decode(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("json")
    }

    #[test]
    fn a_proof_is_an_eddsa_jws_with_the_public_key_and_the_request() {
        let key = ProofKey::from_seed([3; 32]);
        let proof = key.proof(
            "POST",
            "https://acme.conductor.one/auth/v1/token",
            1_000_000,
            Some("n-1"),
            None,
        );
        let parts: Vec<&str> = proof.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        // `{"alg":"EdDSA","jwk":{"crv":"Ed25519","kty":"OKP","x":"` for every key.
        assert!(parts[0].starts_with(
            "eyJhbGciOiJFZERTQSIsImp3ayI6eyJjcnYiOiJFZDI1NTE5Iiwia3R5IjoiT0tQIiwieCI6"
        ));
        let header = decode(parts[0]);
        let public = SigningKey::from_bytes(&[3; 32]).verifying_key();
        assert_eq!(
            header,
            serde_json::json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": {"kty": "OKP",
                "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(public.as_bytes())}})
        );
        let claims = decode(parts[1]);
        let jti = claims["jti"].as_str().expect("jti");
        assert_eq!(
            uuid::Uuid::parse_str(jti).map(|u| u.get_version_num()),
            Ok(4)
        );
        assert_eq!(
            claims,
            serde_json::json!({"jti": jti, "iat": 1_000_000, "nbf": 999_970, "exp": 1_000_300,
                "htm": "POST", "htu": "https://acme.conductor.one/auth/v1/token", "nonce": "n-1"})
        );
        let signature: [u8; 64] = URL_SAFE_NO_PAD
            .decode(parts[2])
            .expect("b64")
            .try_into()
            .expect("64 bytes");
        public
            .verify(
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &ed25519_dalek::Signature::from_bytes(&signature),
            )
            .expect("valid signature");
    }

    #[test]
    fn every_proof_has_its_own_jti_and_api_proofs_carry_the_token_hash() {
        let key = ProofKey::from_seed([4; 32]);
        let url = "https://acme.conductor.one/api/v1/systemlog/events";
        let hash = token_hash("token-1");
        let first = decode(
            key.proof("POST", url, 5, None, Some(&hash))
                .expose()
                .split('.')
                .nth(1)
                .expect("claims"),
        );
        let second = decode(
            key.proof("POST", url, 5, None, Some(&hash))
                .expose()
                .split('.')
                .nth(1)
                .expect("claims"),
        );
        assert_ne!(first["jti"], second["jti"]);
        assert_eq!(first["ath"], hash);
        assert!(first.get("nonce").is_none());
    }

    #[test]
    fn the_token_hash_is_base64url_sha256() {
        // RFC 9449 §7.1's example: the hash of this access token.
        assert_eq!(
            token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn the_proof_url_has_no_query_fragment_or_default_port() {
        assert_eq!(
            proof_url("HTTPS://Acme.Conductor.One:443/api/v1/auth/introspect?x=1#f").as_deref(),
            Some("https://acme.conductor.one/api/v1/auth/introspect")
        );
        assert_eq!(
            proof_url("http://127.0.0.1:8080/auth/v1/token").as_deref(),
            Some("http://127.0.0.1:8080/auth/v1/token")
        );
        assert_eq!(proof_url("not a url"), None);
    }

    #[test]
    fn the_process_has_one_key() {
        assert!(std::ptr::eq(ProofKey::process(), ProofKey::process()));
    }

    #[test]
    fn neither_the_key_nor_a_proof_is_shown() {
        let key = ProofKey::from_seed([5; 32]);
        let proof = key.proof("GET", "https://a.example/x", 1, None, None);
        assert_eq!(
            format!("{key:?} {proof:?}"),
            "ProofKey([REDACTED]) Proof([REDACTED])"
        );
        let echoed = format!("refused proof {}", proof.expose());
        assert!(!crate::secrets::redact(&echoed).contains(&proof.expose()[..40]));
    }
}
