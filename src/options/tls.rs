//! `tls.*` of a component's HTTP client (Vector's names), applied to a `reqwest` client by
//! [`TlsConfig::apply`] (through [`super::http_client::build`]), and `tls.*` of a server
//! (the `prometheus_exporter` listener), made into a rustls server configuration by
//! [`ServerTlsConfig::server_config`] for [`crate::observability::http::serve`].
//!
//! The client uses rustls (Cargo feature `rustls` of reqwest) with the platform's verifier.
//! Two options need more than reqwest offers with rustls, which refuses to skip the host name
//! check unless it is also told to trust only the roots it is given:
//! `verify_hostname = false` and `server_name`. For those the client gets a rustls
//! configuration of its own whose [`ChainVerifier`] checks the certificate chain against the
//! system's root certificates and `ca_file` exactly as webpki does, then checks the name
//! against `server_name` instead of the URL's host, or not at all.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use reqwest::ClientBuilder;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_cert_signed_by_trust_anchor};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Deserialize;

use crate::component::BuildError;
use crate::secrets::Secret;

/// `tls` options of an HTTP client (Vector's names). TLS itself is chosen by an `https` URL.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Extra CA certificates to trust besides the system's: a PEM bundle or one DER
    /// certificate, or PEM text inline.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (with `key_file`) for mutual TLS, or PEM text inline.
    #[serde(default)]
    pub crt_file: Option<PathBuf>,
    /// PEM private key of `crt_file` (PKCS#8, PKCS#1 or SEC1, unencrypted), or PEM text inline.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// The passphrase of an encrypted `key_file`. Not supported: rustls reads unencrypted keys
    /// only; setting it is a configuration error that says how to decrypt the key.
    #[serde(default)]
    pub key_pass: Option<Secret>,
    /// Check the server's certificate chain. Default `true`.
    #[serde(default)]
    pub verify_certificate: Option<bool>,
    /// Check that the certificate names the host. Default `true`.
    #[serde(default)]
    pub verify_hostname: Option<bool>,
    /// The name the server's certificate must carry, instead of the URL's host (an endpoint
    /// reached by IP address or through another name). rustls still sends the URL's host as
    /// SNI (none for an IP address).
    #[serde(default)]
    pub server_name: Option<String>,
}

/// A `tls` option that cannot be applied; [`TlsError::option`] names it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The option (`tls.ca_file`, ...).
        option: &'static str,
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// `ca_file` or `crt_file` holds no usable certificate.
    #[error("{what} holds no certificate{reason}")]
    NoCertificate {
        /// The option.
        option: &'static str,
        /// The file (or "inline PEM").
        what: String,
        /// `: <parse error>` when parsing failed.
        reason: String,
    },
    /// `key_file` holds no usable private key.
    #[error("{what} holds no unencrypted private key (PKCS#8, PKCS#1 or SEC1 PEM): {reason}")]
    NoKey {
        /// The file (or "inline PEM").
        what: String,
        /// The parse error.
        reason: String,
    },
    /// One of `crt_file` and `key_file` without the other.
    #[error("is required with {other}")]
    Missing {
        /// The missing option.
        option: &'static str,
        /// The option that was set.
        other: &'static str,
    },
    /// `crt_file` and `key_file` do not make a client identity.
    #[error("not a PEM certificate and key: {0}")]
    Identity(String),
    /// `key_pass` is set.
    #[error("encrypted private keys are not supported (rustls reads unencrypted keys only)")]
    KeyPass,
    /// `server_name` is not a DNS name or IP address.
    #[error("`{0}` is not a DNS name or an IP address")]
    ServerName(String),
    /// `verify_hostname = false` or `server_name`, and the system has no root certificate.
    #[error("no root certificate to verify the server with: the system has none")]
    NoRoots,
    /// An option a server with `tls.enabled = true` needs is not set.
    #[error("is required with {with}")]
    Required {
        /// The missing option.
        option: &'static str,
        /// The setting that needs it.
        with: &'static str,
    },
    /// `key_file` is not the private key of `crt_file`'s certificate.
    #[error("is not the private key of the certificate in tls.crt_file")]
    KeyMismatch,
    /// rustls refused the configuration (the client certificate and key do not match, ...).
    #[error("{0}")]
    Rustls(String),
}

impl TlsError {
    /// The option at fault.
    pub fn option(&self) -> &'static str {
        match self {
            Self::Read { option, .. }
            | Self::NoCertificate { option, .. }
            | Self::Missing { option, .. }
            | Self::Required { option, .. } => option,
            Self::NoKey { .. } | Self::KeyMismatch => "tls.key_file",
            Self::Identity(_) => "tls.crt_file",
            Self::KeyPass => "tls.key_pass",
            Self::ServerName(_) => "tls.server_name",
            Self::NoRoots => "tls.ca_file",
            Self::Rustls(_) => "tls",
        }
    }

    fn help(&self) -> Option<&'static str> {
        match self {
            Self::KeyPass => Some(
                "decrypt the key once (`openssl pkey -in key.pem -out key-plain.pem`), point \
                 `key_file` at the result (readable only by c1-pipeline) and remove `key_pass`",
            ),
            Self::NoRoots => Some("give the CA that signed the server's certificate in `ca_file`"),
            Self::Required {
                option: "tls.ca_file",
                ..
            } => Some("give the CA that signs the clients' certificates in `ca_file`"),
            Self::Required { .. } => Some(
                "give the server's certificate chain in `crt_file` and its private key in \
                 `key_file` (PEM), or set `tls.enabled = false`",
            ),
            Self::KeyMismatch => Some("give the key the certificate was issued for"),
            _ => None,
        }
    }
}

impl From<TlsError> for BuildError {
    fn from(error: TlsError) -> Self {
        let build = BuildError::field(error.option(), error.to_string());
        match error.help() {
            Some(help) => build.help(help),
            None => build,
        }
    }
}

/// Reads a PEM/DER option: the file, or the value itself when it is inline PEM text (as Vector
/// allows). Returns the bytes and how to name them in errors.
fn read_option(option: &'static str, path: &Path) -> Result<(Vec<u8>, String), TlsError> {
    if let Some(text) = path.to_str()
        && text.contains("-----BEGIN ")
    {
        return Ok((text.as_bytes().to_vec(), "the inline PEM".to_owned()));
    }
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        option,
        path: path.display().to_string(),
        source,
    })?;
    Ok((bytes, path.display().to_string()))
}

/// The private key `tls.key_file` names, and its PEM text.
fn private_key(path: &Path) -> Result<(PrivateKeyDer<'static>, Vec<u8>), TlsError> {
    let (pem, what) = read_option("tls.key_file", path)?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|error| TlsError::NoKey {
        what,
        reason: error.to_string(),
    })?;
    Ok((key, pem))
}

/// The certificates of a PEM bundle, or the one certificate of a DER file.
fn certificates(
    option: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let (bytes, what) = read_option(option, path)?;
    let parsed: Result<Vec<_>, _> = if memchr::memmem::find(&bytes, b"-----BEGIN ").is_some() {
        CertificateDer::pem_slice_iter(&bytes).collect()
    } else {
        Ok(vec![CertificateDer::from(bytes)])
    };
    match parsed {
        Ok(certificates) if !certificates.is_empty() => Ok(certificates),
        Ok(_) => Err(TlsError::NoCertificate {
            option,
            what,
            reason: String::new(),
        }),
        Err(error) => Err(TlsError::NoCertificate {
            option,
            what,
            reason: format!(": {error}"),
        }),
    }
}

/// A client certificate chain and its key, parsed (for rustls) and as PEM (for reqwest).
struct ClientIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    pem: Vec<u8>,
}

impl TlsConfig {
    /// Applies the options to `builder`: extra roots, a client certificate, and what is
    /// verified. Reads the files; no network I/O.
    pub fn apply(&self, builder: ClientBuilder) -> Result<ClientBuilder, TlsError> {
        if self
            .key_pass
            .as_ref()
            .is_some_and(|pass| !pass.expose().is_empty())
        {
            return Err(TlsError::KeyPass);
        }
        let roots = match &self.ca_file {
            Some(path) => certificates("tls.ca_file", path)?,
            None => Vec::new(),
        };
        let identity = self.identity()?;
        let verify_certificate = self.verify_certificate != Some(false);
        let verify_hostname = self.verify_hostname != Some(false);
        let server_name = match self.server_name.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => Some(
                ServerName::try_from(name.to_owned())
                    .map_err(|_| TlsError::ServerName(name.to_owned()))?,
            ),
            _ => None,
        };
        if !verify_certificate {
            tracing::warn!("tls.verify_certificate is false: any server certificate is accepted");
        } else if !verify_hostname {
            tracing::warn!("tls.verify_hostname is false: a certificate for any name is accepted");
        }
        if verify_certificate && (!verify_hostname || server_name.is_some()) {
            let name = server_name.filter(|_| verify_hostname);
            let config = rustls_config(roots, identity, name)?;
            return Ok(builder.tls_backend_preconfigured(config));
        }
        let mut builder = builder.tls_certs_merge(
            roots
                .iter()
                .filter_map(|der| reqwest::Certificate::from_der(der).ok()),
        );
        if let Some(identity) = identity {
            let identity = reqwest::Identity::from_pem(&identity.pem)
                .map_err(|error| TlsError::Identity(error.to_string()))?;
            builder = builder.identity(identity);
        }
        Ok(builder.tls_danger_accept_invalid_certs(!verify_certificate))
    }

    fn identity(&self) -> Result<Option<ClientIdentity>, TlsError> {
        let (crt, key) = match (&self.crt_file, &self.key_file) {
            (Some(crt), Some(key)) => (crt, key),
            (None, None) => return Ok(None),
            (Some(_), None) => {
                return Err(TlsError::Missing {
                    option: "tls.key_file",
                    other: "crt_file",
                });
            }
            (None, Some(_)) => {
                return Err(TlsError::Missing {
                    option: "tls.crt_file",
                    other: "key_file",
                });
            }
        };
        let chain = certificates("tls.crt_file", crt)?;
        let (key, key_pem) = private_key(key)?;
        let (mut pem, _) = read_option("tls.crt_file", crt)?;
        pem.push(b'\n');
        pem.extend(key_pem);
        Ok(Some(ClientIdentity { chain, key, pem }))
    }
}

/// `tls` options of a server (Vector's names for a listener's `tls`): serve over TLS with a
/// certificate, and optionally require client certificates signed by `ca_file`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsConfig {
    /// Serve over TLS. Default `false`.
    #[serde(default)]
    pub enabled: bool,
    /// The server's PEM certificate chain, or PEM text inline. Required when enabled.
    #[serde(default)]
    pub crt_file: Option<PathBuf>,
    /// The PEM private key of `crt_file` (PKCS#8, PKCS#1 or SEC1, unencrypted), or PEM text
    /// inline. Required when enabled.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// The passphrase of an encrypted `key_file`. Not supported, as for clients: setting it
    /// is a configuration error that says how to decrypt the key.
    #[serde(default)]
    pub key_pass: Option<Secret>,
    /// The CAs whose client certificates are accepted (PEM bundle, one DER certificate, or
    /// PEM text inline). Required with `verify_certificate = true`.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Require every client to present a certificate signed by `ca_file`. Default `false`
    /// (Vector's for listeners).
    #[serde(default)]
    pub verify_certificate: Option<bool>,
    /// Accepted for Vector's configurations; a server checks no host name.
    #[serde(default)]
    pub verify_hostname: Option<bool>,
}

impl ServerTlsConfig {
    /// The rustls configuration to serve with, or `None` when `enabled` is false. Reads the
    /// files; every unusable option is an error naming it.
    pub fn server_config(&self) -> Result<Option<Arc<rustls::ServerConfig>>, TlsError> {
        if !self.enabled {
            return Ok(None);
        }
        if (self.key_pass.as_ref()).is_some_and(|pass| !pass.expose().is_empty()) {
            return Err(TlsError::KeyPass);
        }
        let required = |option| TlsError::Required {
            option,
            with: "tls.enabled = true",
        };
        let crt_file = self.crt_file.as_ref().ok_or(required("tls.crt_file"))?;
        let key_file = self.key_file.as_ref().ok_or(required("tls.key_file"))?;
        let chain = certificates("tls.crt_file", crt_file)?;
        let (key, _) = private_key(key_file)?;
        let provider = CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|error| TlsError::Rustls(error.to_string()))?;
        let builder = match self.verify_certificate {
            Some(true) => {
                let ca_file = self.ca_file.as_ref().ok_or(TlsError::Required {
                    option: "tls.ca_file",
                    with: "tls.verify_certificate = true",
                })?;
                let mut roots = RootCertStore::empty();
                roots.add_parsable_certificates(certificates("tls.ca_file", ca_file)?);
                let verifier = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::clone(&provider),
                )
                .build()
                .map_err(|error| TlsError::NoCertificate {
                    option: "tls.ca_file",
                    what: ca_file.display().to_string(),
                    reason: format!(": {error}"),
                })?;
                builder.with_client_cert_verifier(verifier)
            }
            _ => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|error| match error {
                rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch,
                other => TlsError::Rustls(other.to_string()),
            })?;
        // Both HTTP versions the server speaks, as over plain TCP.
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Some(Arc::new(config)))
    }
}

/// The rustls configuration of a client whose name check reqwest cannot express: the chain
/// checked against the system's roots and `extra_roots`, the name against `name` (or not at
/// all when `None`).
fn rustls_config(
    extra_roots: Vec<CertificateDer<'static>>,
    identity: Option<ClientIdentity>,
    name: Option<ServerName<'static>>,
) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    // Unreadable system certificates are skipped, as the platform verifier does.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    roots.add_parsable_certificates(extra_roots);
    if roots.is_empty() {
        return Err(TlsError::NoRoots);
    }
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let roots = Arc::new(roots);
    let webpki =
        WebPkiServerVerifier::builder_with_provider(Arc::clone(&roots), Arc::clone(&provider))
            .build()
            .map_err(|error| TlsError::Rustls(error.to_string()))?;
    let verifier = ChainVerifier {
        roots,
        webpki,
        name,
        algorithms: provider.signature_verification_algorithms,
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsError::Rustls(error.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match identity {
        Some(ClientIdentity { chain, key, .. }) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|error| TlsError::Identity(error.to_string()))?,
        None => builder.with_no_client_auth(),
    };
    // As reqwest's own configuration with HTTP/2 enabled.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Checks a server's certificate chain as webpki does, and its name against the configured
/// `server_name` instead of the URL's host, or not at all (`verify_hostname = false`).
#[derive(Debug)]
pub(crate) struct ChainVerifier {
    roots: Arc<RootCertStore>,
    webpki: Arc<WebPkiServerVerifier>,
    name: Option<ServerName<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ChainVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _url_host: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(name) = &self.name {
            return self.webpki.verify_server_cert(
                end_entity,
                intermediates,
                name,
                ocsp_response,
                now,
            );
        }
        let certificate = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &certificate,
            &self.roots,
            intermediates,
            now,
            self.algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(text: &str) -> Result<reqwest::Client, BuildError> {
        let config: TlsConfig = toml::from_str(text).expect("valid tls options");
        let builder = config.apply(reqwest::Client::builder())?;
        Ok(builder.build().expect("a client"))
    }

    fn error(text: &str) -> BuildError {
        apply(text).expect_err(text)
    }

    #[test]
    fn each_unusable_option_is_named() {
        for (text, field) in [
            ("ca_file = \"/no/such/ca.pem\"", "tls.ca_file"),
            ("crt_file = \"/no/such/crt.pem\"", "tls.key_file"),
            ("key_file = \"/no/such/key.pem\"", "tls.crt_file"),
            (
                "ca_file = \"-----BEGIN CERTIFICATE-----\\nnot base64\"",
                "tls.ca_file",
            ),
            ("server_name = \"not a name!\"", "tls.server_name"),
        ] {
            assert_eq!(error(text).field.as_deref(), Some(field), "{text}");
        }
        let missing = error("ca_file = \"/no/such/ca.pem\"");
        assert!(
            missing.message.starts_with("cannot read /no/such/ca.pem"),
            "{}",
            missing.message
        );
    }

    #[test]
    fn an_encrypted_key_is_refused_with_the_fix() {
        let refused = error("key_pass = \"secret\"");
        assert_eq!(refused.field.as_deref(), Some("tls.key_pass"));
        assert!(
            refused
                .help
                .as_deref()
                .unwrap_or("")
                .contains("openssl pkey")
        );
        // `key_pass = ""` (an unset variable) is no passphrase.
        apply("key_pass = \"\"").expect("an empty passphrase is none");
    }

    #[test]
    fn hostname_checks_can_be_turned_off_or_redirected_without_a_ca_file() {
        // reqwest with rustls refuses `verify_hostname = false` alone; the system's roots make
        // it work.
        assert!(!rustls_native_certs::load_native_certs().certs.is_empty());
        apply("verify_hostname = false").expect("no hostname check");
        apply("server_name = \"splunk.example.com\"").expect("another name");
        apply("server_name = \"10.0.0.1\"").expect("an IP address");
        apply("verify_certificate = false").expect("no check at all");
        apply("").expect("the defaults");
    }
}
