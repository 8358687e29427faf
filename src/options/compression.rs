//! `compression`: how a sink compresses what it sends (Vector's names), one type and one set of
//! levels for every sink. Each sink supplies its own default (Vector's: `none` for Splunk HEC,
//! `gzip` for S3) and says which algorithms it supports ([`Compression::check_supported`]).

use serde::Deserialize;

use crate::component::BuildError;

/// gzip level of every sink: 6, zlib's default and Vector's for `compression = "gzip"`.
pub(crate) const GZIP_LEVEL: u32 = 6;

/// zstd level of every sink: 3, zstd's default.
pub(crate) const ZSTD_LEVEL: i32 = 3;

/// `data` gzip-compressed at [`GZIP_LEVEL`], in one piece (for request bodies built whole).
pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    gzip_parts(&[data])
}

/// `parts`, one after the other, gzip-compressed at [`GZIP_LEVEL`] in one member (without
/// joining them first).
pub(crate) fn gzip_parts(parts: &[&[u8]]) -> Vec<u8> {
    use std::io::Write as _;
    let len: usize = parts.iter().map(|part| part.len()).sum();
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(len / 4),
        flate2::Compression::new(GZIP_LEVEL),
    );
    for part in parts {
        // Writing to a Vec cannot fail.
        let _ = encoder.write_all(part);
    }
    encoder.finish().unwrap_or_default()
}

/// The `compression` option.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Uncompressed.
    None,
    /// gzip at [`GZIP_LEVEL`] (`Content-Encoding: gzip`).
    Gzip,
    /// zstd at [`ZSTD_LEVEL`] (`Content-Encoding: zstd`).
    Zstd,
}

impl Compression {
    /// `none`: a serde `default` for sinks whose default is no compression (Splunk HEC).
    pub fn none() -> Self {
        Self::None
    }

    /// `gzip`: a serde `default` for sinks whose default is gzip (S3).
    pub fn gzip() -> Self {
        Self::Gzip
    }

    /// The option's value as written in a configuration.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
        }
    }

    /// The `Content-Encoding` of data compressed this way.
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Gzip => Some("gzip"),
            Self::Zstd => Some("zstd"),
        }
    }

    /// Accepts this compression when it is one of `supported` (what `component` can send);
    /// otherwise an error on the `compression` option naming the alternatives.
    pub fn check_supported(self, component: &str, supported: &[Self]) -> Result<Self, BuildError> {
        if supported.contains(&self) {
            return Ok(self);
        }
        let names: Vec<String> = supported
            .iter()
            .map(|option| format!("\"{}\"", option.name()))
            .collect();
        Err(BuildError::field(
            "compression",
            format!("`{}` is not supported by {component}", self.name()),
        )
        .help(format!("use one of {}", names.join(", "))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sink {
        #[serde(default = "Compression::none")]
        compression: Compression,
    }

    #[test]
    fn names_are_vectors_and_defaults_come_from_the_sink() {
        let parse = |text: &str| toml::from_str::<Sink>(text).map(|sink| sink.compression);
        assert_eq!(parse("").unwrap(), Compression::None);
        assert_eq!(parse("compression = \"gzip\"").unwrap(), Compression::Gzip);
        assert_eq!(parse("compression = \"zstd\"").unwrap(), Compression::Zstd);
        let error = parse("compression = \"lz4\"").unwrap_err().to_string();
        assert!(error.contains("none") && error.contains("zstd"), "{error}");
    }

    #[test]
    fn an_unsupported_algorithm_is_a_config_error_naming_the_alternatives() {
        let supported = [Compression::None, Compression::Gzip];
        assert_eq!(
            Compression::Gzip.check_supported("Splunk HEC", &supported),
            Ok(Compression::Gzip)
        );
        let error = Compression::Zstd
            .check_supported("Splunk HEC", &supported)
            .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("compression"));
        assert!(error.message.contains("`zstd`"), "{}", error.message);
        assert_eq!(error.help.as_deref(), Some("use one of \"none\", \"gzip\""));
    }
}
