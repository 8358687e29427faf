//! `proxy.*` of a component's HTTP client (Vector's names and rules), applied to a `reqwest`
//! client by [`ProxyConfig::apply`] (through [`super::http_client::build`]).
//!
//! Without a `proxy` table the client does what it always did: reqwest reads `HTTP_PROXY`,
//! `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY` from the environment. With one, as in Vector, each
//! option set wins over its environment variable (`proxy.http` over `HTTP_PROXY`,
//! `proxy.https` over `HTTPS_PROXY`, a non-empty `proxy.no_proxy` over `NO_PROXY`), and
//! `proxy.enabled = false` turns every proxy off, the environment's too.

use reqwest::{ClientBuilder, NoProxy, Proxy};
use serde::Deserialize;

use crate::component::BuildError;
use crate::options::default_true;

/// `proxy` options.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Use a proxy at all. Default `true`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Proxy for `http://` URLs (`http://proxy.example.com:3128`, credentials as
    /// `http://user:password@…`). Default: `HTTP_PROXY`.
    #[serde(default)]
    pub http: Option<String>,
    /// Proxy for `https://` URLs (tunnelled with `CONNECT`). Default: `HTTPS_PROXY`.
    #[serde(default)]
    pub https: Option<String>,
    /// Hosts reached without a proxy: host names (`localhost`), domains with a leading dot
    /// (`.example.com`: the domain and its subdomains; reqwest also lets `example.com` match
    /// its subdomains), IP addresses, CIDR blocks (`10.0.0.0/8`), or `*` for every host: a
    /// list, or one comma-separated string as `NO_PROXY` (Vector reads both). Default:
    /// `NO_PROXY`.
    #[serde(default, deserialize_with = "list_or_commas")]
    pub no_proxy: Vec<String>,
}

/// A list of strings, or one string of comma-separated items.
fn list_or_commas<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCommas {
        List(Vec<String>),
        Commas(String),
    }
    Ok(match ListOrCommas::deserialize(deserializer)? {
        ListOrCommas::List(items) => items,
        ListOrCommas::Commas(text) => text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            http: None,
            https: None,
            no_proxy: Vec::new(),
        }
    }
}

/// A `proxy` option that cannot be applied.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ProxyError {
    /// The option at fault (`proxy.http`, `proxy.https`).
    pub option: &'static str,
    message: String,
}

impl From<ProxyError> for BuildError {
    fn from(error: ProxyError) -> Self {
        BuildError::field(error.option, error.message)
            .help("give the proxy's URL, e.g. \"http://proxy.example.com:3128\"")
    }
}

/// An option's value, or its environment variable's (upper case first, as curl), empty =
/// unset.
fn value_or_env(
    value: Option<&str>,
    names: [&str; 2],
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    let set = |text: &str| (!text.trim().is_empty()).then(|| text.trim().to_owned());
    value.and_then(set).or_else(|| {
        names
            .iter()
            .find_map(|name| env(name).as_deref().and_then(set))
    })
}

/// A proxy URL, checked (the error never quotes it: it may hold a password).
fn proxy(option: &'static str, url: &str, no_proxy: Option<NoProxy>) -> Result<Proxy, ProxyError> {
    let error = |message: String| ProxyError { option, message };
    let parsed = reqwest::Url::parse(url).map_err(|e| error(format!("is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(error(format!(
            "must be an http:// or https:// URL with a host, not a `{}:` URL",
            parsed.scheme()
        )));
    }
    let proxy = match option {
        "proxy.http" => Proxy::http(parsed),
        _ => Proxy::https(parsed),
    };
    Ok(proxy
        .map_err(|e| error(format!("is not a usable proxy: {e}")))?
        .no_proxy(no_proxy))
}

impl ProxyConfig {
    /// Applies the options to `builder` (see the module documentation), reading the
    /// environment's proxy variables.
    pub fn apply(&self, builder: ClientBuilder) -> Result<ClientBuilder, ProxyError> {
        self.apply_with_env(builder, &|name| std::env::var(name).ok())
    }

    /// [`apply`](Self::apply) with the environment given by `env`.
    pub fn apply_with_env(
        &self,
        builder: ClientBuilder,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ClientBuilder, ProxyError> {
        if *self == Self::default() {
            // No `proxy` options: reqwest's own reading of the environment, as before.
            return Ok(builder);
        }
        let mut builder = builder.no_proxy();
        if !self.enabled {
            return Ok(builder);
        }
        let no_proxy = if self.no_proxy.is_empty() {
            value_or_env(None, ["NO_PROXY", "no_proxy"], env)
        } else {
            Some(self.no_proxy.join(","))
        };
        let no_proxy = no_proxy.and_then(|list| NoProxy::from_string(&list));
        let http = value_or_env(self.http.as_deref(), ["HTTP_PROXY", "http_proxy"], env);
        if let Some(url) = http {
            builder = builder.proxy(proxy("proxy.http", &url, no_proxy.clone())?);
        }
        let https = value_or_env(self.https.as_deref(), ["HTTPS_PROXY", "https_proxy"], env);
        if let Some(url) = https {
            builder = builder.proxy(proxy("proxy.https", &url, no_proxy)?);
        }
        Ok(builder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(text: &str, env: &[(&str, &str)]) -> Result<(), ProxyError> {
        let config: ProxyConfig = toml::from_str(text).expect("valid proxy options");
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = move |name: &str| {
            env.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };
        config
            .apply_with_env(reqwest::Client::builder(), &lookup)
            .map(|_| ())
    }

    #[test]
    fn bad_proxy_urls_name_the_option_and_never_quote_the_url() {
        let error = apply("http = \"http://user:hunter2@[::1\"", &[]).unwrap_err();
        assert_eq!(error.option, "proxy.http");
        assert!(!error.to_string().contains("hunter2"), "{error}");
        let error = apply("https = \"socks5://127.0.0.1:1080\"", &[]).unwrap_err();
        assert_eq!(error.option, "proxy.https");
        assert!(error.to_string().contains("socks5"), "{error}");
        // A bad environment variable is reported under the option it stands for.
        let error = apply("no_proxy = [\"localhost\"]", &[("HTTPS_PROXY", "ftp://x")]).unwrap_err();
        assert_eq!(error.option, "proxy.https");
        // Disabled: nothing is read.
        apply("enabled = false", &[("HTTP_PROXY", "ftp://x")]).expect("disabled");
        apply("http = \"http://127.0.0.1:3128\"\nno_proxy = [\"*\"]", &[]).expect("valid");
        apply("http = \"\"", &[]).expect("empty is unset");
    }

    #[test]
    fn no_proxy_is_a_list_or_a_comma_separated_string() {
        let parse = |text: &str| toml::from_str::<ProxyConfig>(text).expect(text).no_proxy;
        assert_eq!(
            parse("no_proxy = \"localhost, .example.com\""),
            ["localhost", ".example.com"]
        );
        assert_eq!(parse("no_proxy = [\"localhost\"]"), ["localhost"]);
        assert!(toml::from_str::<ProxyConfig>("no_proxy = 3").is_err());
    }

    #[test]
    fn options_win_over_the_environment() {
        let env = |name: &str| match name {
            "http_proxy" => Some("http://lower:1".to_owned()),
            "HTTPS_PROXY" => Some(" ".to_owned()),
            _ => None,
        };
        let names = ["HTTP_PROXY", "http_proxy"];
        assert_eq!(
            value_or_env(Some("http://option:2"), names, &env).as_deref(),
            Some("http://option:2")
        );
        assert_eq!(
            value_or_env(None, names, &env).as_deref(),
            Some("http://lower:1")
        );
        assert_eq!(
            value_or_env(None, ["HTTPS_PROXY", "https_proxy"], &env),
            None
        );
    }
}
