//! The secret type, the redaction of server-provided text, and the secret backends of the
//! configuration (`[secret.<id>]`, [`backends`]).
//!
//! Servers echo credentials back: a 401 that quotes the bearer token, an `X-Request-Id`
//! that repeats it, a token endpoint that quotes the start of the client secret, a HEC
//! message that names the token. So every text a server sent (a body, a message, a header
//! value, an SDK error) passes through `redact` before it is logged or put into an error.
//!
//! `redact` hides every secret the process holds. A [`Secret`] registers its value when it
//! is created, so holding a secret is enough for it to be hidden; values that are not held in
//! a `Secret` but must not be echoed either (an AWS access key id) are added with
//! `register`. The registry is bounded: secrets from the configuration stay (at most
//! `MAX_HELD`), minted ones (access tokens, client assertions) rotate out after
//! `MAX_MINTED` newer ones, by which time they have long expired.

pub mod backends;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, LazyLock, Mutex};

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD_INDIFFERENT;
use serde::{Deserialize, Deserializer};

/// What replaces a secret (or the start of one) in redacted text.
pub(crate) const REDACTED: &str = "[REDACTED]";

/// The longest redacted text, in characters; the rest is replaced by `… (N more bytes)`.
pub(crate) const MAX_CHARS: usize = 1024;

/// The shortest echo of the start of a secret that is hidden: servers cut what they quote,
/// and fewer characters would hide ordinary words that happen to start a secret.
pub(crate) const MIN_PREFIX_CHARS: usize = 8;

/// Shorter values are not registered: they occur in ordinary text, and hiding every
/// occurrence would shred messages while showing where the secret is. No real credential is
/// this short.
pub(crate) const MIN_SECRET_CHARS: usize = 6;

/// Secrets from the configuration (and their parts) kept at once; the oldest go first.
/// Only a process that builds configurations again and again (a test) comes near it.
pub(crate) const MAX_HELD: usize = 256;

/// Minted secrets (access tokens, client assertions) kept at once; the oldest go first.
pub(crate) const MAX_MINTED: usize = 32;

/// The most of a text that is scanned; the rest is never shown.
const MAX_SCAN_BYTES: usize = 64 * 1024;

/// A string that must never be shown: `Debug` and `Display` print `REDACTED`, and its
/// value is hidden from every server-provided text (`redact`) from the moment it exists.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret that lives as long as the process (one from the configuration).
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        register(&value);
        Self(value)
    }

    /// A secret that is replaced from time to time (an access token, a client assertion):
    /// it is forgotten after `MAX_MINTED` newer ones.
    pub fn minted(value: impl Into<String>) -> Self {
        let value = value.into();
        lock().insert(&value, Lifetime::Minted);
        Self(value)
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

/// Hides `value` from every redacted text for as long as the process runs, with its parts
/// that a server may echo alone (for an RFC 8959 `secret-token:` URI: the key after the last
/// `:` and, when that is a JSON Web Key, its private members). [`Secret::new`] calls it; call
/// it directly for a value that is not held in a [`Secret`].
pub(crate) fn register(value: &str) {
    let mut registry = lock();
    registry.insert(value, Lifetime::Held);
    for part in parts(value) {
        registry.insert(&part, Lifetime::Held);
    }
}

/// `text` (from a server) with every registered secret, and every echo of the first
/// [`MIN_PREFIX_CHARS`] or more characters of one, replaced by [`REDACTED`], then cut to
/// [`MAX_CHARS`] characters.
pub(crate) fn redact(text: &str) -> String {
    let matcher = lock().matcher();
    matcher.redact(text)
}

/// `text` (a configuration error) with every registered secret, and every start of one, replaced
/// by [`REDACTED`], whole: unlike [`redact`], not cut (a VRL diagnostic is long, and ours).
pub(crate) fn hide(text: &str) -> String {
    let matcher = lock().matcher();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for range in matcher.ranges(text) {
        out.push_str(&text[at..range.start]);
        out.push_str(REDACTED);
        at = range.end;
    }
    out.push_str(&text[at..]);
    out
}

/// The parts of a secret that a server may echo on their own: for an RFC 8959
/// `secret-token:` URI (ConductorOne's `secret-token:conductorone.com:v1:<base64url JWK>`),
/// the key after the last `:`, and the private members of that key when it is a JSON Web Key
/// (`d`, the Ed25519 seed of ConductorOne's keys, and those of other key types).
fn parts(value: &str) -> Vec<String> {
    const SCHEME: &str = "secret-token:";
    let value = value.trim();
    let is_token = value
        .get(..SCHEME.len())
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case(SCHEME));
    if !is_token {
        return Vec::new();
    }
    let key = value.rsplit(':').next().unwrap_or("").trim_end_matches('=');
    let mut parts = vec![key.to_owned()];
    let jwk = URL_SAFE_NO_PAD_INDIFFERENT
        .decode(key)
        .ok()
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok());
    if let Some(serde_json::Value::Object(jwk)) = jwk {
        // RFC 7518 §6: the private members of EC/OKP (`d`), RSA and symmetric keys.
        for member in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            if let Some(serde_json::Value::String(private)) = jwk.get(member) {
                parts.push(private.trim_end_matches('=').to_owned());
            }
        }
    }
    parts
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lifetime {
    Held,
    Minted,
}

/// The secrets the process holds, and the matcher built from them (rebuilt on the first
/// redaction after a change: secrets change rarely, redactions happen on error paths).
#[derive(Default)]
struct Registry {
    held: VecDeque<Box<str>>,
    minted: VecDeque<Box<str>>,
    matcher: Option<Arc<Matcher>>,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

fn lock() -> std::sync::MutexGuard<'static, Registry> {
    // A panic while holding the lock leaves the lists consistent (every change is one push
    // or pop): keep using them.
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Appends `value`, dropping the oldest entry when `list` is full.
fn push_bounded(list: &mut VecDeque<Box<str>>, value: Box<str>, cap: usize) {
    if list.len() >= cap {
        list.pop_front();
    }
    list.push_back(value);
}

impl Registry {
    fn insert(&mut self, value: &str, lifetime: Lifetime) {
        // Surrounding whitespace is never sent (tokens are trimmed before use).
        let value = value.trim();
        if value.chars().count() < MIN_SECRET_CHARS || self.held.iter().any(|held| **held == *value)
        {
            return;
        }
        if let Some(at) = self.minted.iter().position(|known| **known == *value) {
            // Known: only its age (or lifetime) changes; the matcher stays valid.
            let known = self.minted.remove(at).unwrap_or_else(|| value.into());
            match lifetime {
                Lifetime::Minted => self.minted.push_back(known),
                Lifetime::Held => push_bounded(&mut self.held, known, MAX_HELD),
            }
            return;
        }
        match lifetime {
            Lifetime::Held => push_bounded(&mut self.held, value.into(), MAX_HELD),
            Lifetime::Minted => push_bounded(&mut self.minted, value.into(), MAX_MINTED),
        }
        self.matcher = None;
    }

    fn matcher(&mut self) -> Arc<Matcher> {
        let Self {
            held,
            minted,
            matcher,
        } = self;
        Arc::clone(matcher.get_or_insert_with(|| {
            Arc::new(Matcher::new(held.iter().chain(minted.iter()).map(|s| &**s)))
        }))
    }
}

/// Finds registered secrets, and echoes of their starts, in a text.
struct Matcher {
    /// Finds the first [`MIN_PREFIX_CHARS`] characters of each secret (the whole of a
    /// shorter one); `None` when no secret is registered.
    automaton: Option<AhoCorasick>,
    /// For each pattern of the automaton, the secrets that start with it.
    secrets: Vec<Vec<Box<str>>>,
}

impl Matcher {
    fn new<'a>(secrets: impl Iterator<Item = &'a str>) -> Self {
        let mut patterns: Vec<&'a str> = Vec::new();
        let mut groups: Vec<Vec<Box<str>>> = Vec::new();
        let mut by_pattern: HashMap<&'a str, usize> = HashMap::new();
        for secret in secrets {
            let head = secret
                .char_indices()
                .nth(MIN_PREFIX_CHARS)
                .map_or(secret, |(end, _)| &secret[..end]);
            let group = *by_pattern.entry(head).or_insert_with(|| {
                patterns.push(head);
                groups.push(Vec::new());
                patterns.len() - 1
            });
            groups[group].push(secret.into());
        }
        // Overlapping matches (`Standard`): a secret may start inside another one.
        let automaton = (!patterns.is_empty())
            .then(|| {
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .build(&patterns)
                    .ok()
            })
            .flatten();
        Self {
            automaton,
            secrets: groups,
        }
    }

    /// The byte ranges of `text` to hide, sorted, merged, on character boundaries.
    fn ranges(&self, text: &str) -> Vec<Range<usize>> {
        let Some(automaton) = &self.automaton else {
            return Vec::new();
        };
        let mut ranges: Vec<Range<usize>> = automaton
            .find_overlapping_iter(text)
            .map(|found| {
                let rest = &text.as_bytes()[found.start()..];
                // The longest echo of a secret starting here: at least the pattern, which is
                // a whole secret or its first MIN_PREFIX_CHARS characters.
                let echoed = self.secrets[found.pattern().as_usize()]
                    .iter()
                    .map(|secret| common_prefix(rest, secret.as_bytes()))
                    .max()
                    .unwrap_or(0)
                    .max(found.len());
                found.start()..text.ceil_char_boundary(found.start() + echoed)
            })
            .collect();
        ranges.sort_unstable_by_key(|range| range.start);
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
        for range in ranges {
            match merged.last_mut() {
                Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
                _ => merged.push(range),
            }
        }
        merged
    }

    fn redact(&self, text: &str) -> String {
        let window = &text[..text.floor_char_boundary(MAX_SCAN_BYTES)];
        let mut out = String::with_capacity(window.len().min(MAX_CHARS * 4));
        let mut at = 0;
        for range in self.ranges(window) {
            out.push_str(&window[at..range.start]);
            out.push_str(REDACTED);
            at = range.end;
        }
        out.push_str(&window[at..]);
        let mut unshown = text.len() - window.len();
        if unshown > 0 {
            // The window may end inside a secret, leaving a start too short to recognise.
            let keep = out
                .char_indices()
                .rev()
                .nth(MIN_PREFIX_CHARS - 2)
                .map_or(0, |(at, _)| at);
            unshown += out.len() - keep;
            out.truncate(keep);
        }
        cap(out, unshown)
    }
}

/// How many leading bytes `a` and `b` share.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// `text` cut to [`MAX_CHARS`] characters, with a note of what is left out (`unshown` bytes
/// already cut before, plus the bytes cut here).
fn cap(mut text: String, mut unshown: usize) -> String {
    if let Some((end, _)) = text.char_indices().nth(MAX_CHARS) {
        unshown += text.len() - end;
        text.truncate(end);
    }
    if unshown > 0 {
        text.push_str(&format!("… ({unshown} more bytes)"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A private registry, so tests running at the same time do not see each other's secrets.
    fn redactor(secrets: &[&str]) -> impl Fn(&str) -> String + use<> {
        let mut registry = Registry::default();
        for secret in secrets {
            registry.insert(secret, Lifetime::Held);
            for part in parts(secret) {
                registry.insert(&part, Lifetime::Held);
            }
        }
        let matcher = registry.matcher();
        move |text| matcher.redact(text)
    }

    const TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    const HEC: &str = "8f3c2a1e-5b7d-4c9e-a0f1-2d3e4f5a6b7c";

    #[test]
    fn whole_secrets_are_hidden_wherever_they_are() {
        let redact = redactor(&[TOKEN, HEC]);
        assert_eq!(
            redact(&format!("bad token Bearer {TOKEN} (request {HEC})")),
            "bad token Bearer [REDACTED] (request [REDACTED])"
        );
        assert_eq!(redact(TOKEN), REDACTED);
        assert_eq!(redact(&format!("{TOKEN}{TOKEN}")), REDACTED);
        assert_eq!(redact("nothing secret here"), "nothing secret here");
    }

    #[test]
    fn an_echo_of_the_start_of_a_secret_is_hidden_from_eight_characters() {
        let redact = redactor(&[TOKEN]);
        assert_eq!(
            redact(&format!("token {}… is invalid", &TOKEN[..20])),
            "token [REDACTED]… is invalid"
        );
        assert_eq!(redact(&format!("x{}y", &TOKEN[..8])), "x[REDACTED]y");
        // The start and a differing rest: only the common part is hidden.
        assert_eq!(
            redact(&format!("{}XYZ", &TOKEN[..12])),
            format!("{REDACTED}XYZ")
        );
        // Seven characters are too few to tell from ordinary text.
        assert_eq!(redact(&TOKEN[..7]), &TOKEN[..7]);
        // The middle of a secret alone is not an echo of its start.
        assert_eq!(redact(&TOKEN[10..30]), &TOKEN[10..30]);
    }

    #[test]
    fn the_parts_of_a_client_secret_are_hidden_on_their_own() {
        let d = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
        let jwk = format!(
            r#"{{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"{d}"}}"#
        );
        let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&jwk);
        let secret = format!("secret-token:conductorone.com:v1:{key}");
        let redact = redactor(&[&secret]);
        assert_eq!(redact(&format!("got {secret}")), "got [REDACTED]");
        assert_eq!(redact(&format!("key {key}=")), "key [REDACTED]=");
        assert_eq!(redact(&format!("d={d}")), "d=[REDACTED]");
        assert_eq!(redact(&format!("d={}…", &d[..10])), "d=[REDACTED]…");
        assert_eq!(redact(&format!("bad {}", &secret[..20])), "bad [REDACTED]");
        // The public key is not a secret.
        assert!(redact("x=11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").contains("11qYAYKx"));
    }

    #[test]
    fn several_and_overlapping_secrets_are_hidden_together() {
        let a = "alpha-secret-0001";
        let b = "secret-0001-bravo";
        let redact = redactor(&[a, b, HEC]);
        assert_eq!(
            redact(&format!("{a} and {b} and {HEC}")),
            "[REDACTED] and [REDACTED] and [REDACTED]"
        );
        // `b` starts inside `a`: one hidden stretch covers both.
        assert_eq!(redact("<alpha-secret-0001-bravo>"), "<[REDACTED]>");
        // One secret containing another.
        let redact = redactor(&["inner-secret", "outer-inner-secret-value"]);
        assert_eq!(redact("[outer-inner-secret-value]"), "[[REDACTED]]");
        assert_eq!(redact("(inner-secret)"), "([REDACTED])");
    }

    #[test]
    fn short_values_are_not_registered() {
        let redact = redactor(&["t", "abc12", "  "]);
        assert_eq!(redact("t abc12"), "t abc12");
        let redact = redactor(&["abc123"]);
        assert_eq!(redact("x abc123 y"), "x [REDACTED] y");
    }

    #[test]
    fn long_texts_are_cut_at_a_character_boundary() {
        let redact = redactor(&[]);
        let text = "é".repeat(2000);
        let out = redact(&text);
        assert!(out.starts_with(&"é".repeat(MAX_CHARS)));
        assert!(out.ends_with(&format!("… ({} more bytes)", (2000 - MAX_CHARS) * 2)));
        assert_eq!(redact(&"a".repeat(MAX_CHARS)), "a".repeat(MAX_CHARS));
        // Redaction happens before the cut: a secret across the limit leaves nothing.
        let redact = redactor(&[TOKEN]);
        let text = format!("{}{TOKEN}", "a".repeat(MAX_CHARS - 5));
        let out = redact(&text);
        assert!(out.starts_with(&format!("{}[RED", "a".repeat(MAX_CHARS - 5))));
        assert!(!out.contains(&TOKEN[..5]), "{out}");
    }

    #[test]
    fn a_huge_text_is_scanned_only_as_far_as_it_can_be_shown() {
        // A secret cut by the scan window leaves no start, however short.
        let redact = redactor(&[TOKEN]);
        let text = format!("{}{TOKEN}", " ".repeat(MAX_SCAN_BYTES - 5));
        let out = redact(&text);
        assert!(!out.contains(&TOKEN[..3]));
        assert!(out.ends_with(&format!("… ({} more bytes)", text.len() - MAX_CHARS)));
    }

    #[test]
    fn minted_secrets_rotate_out_and_held_ones_stay() {
        let mut registry = Registry::default();
        registry.insert("held-secret-value", Lifetime::Held);
        for n in 0..MAX_MINTED + 3 {
            registry.insert(&format!("{n:04}-minted-token"), Lifetime::Minted);
        }
        assert_eq!(registry.minted.len(), MAX_MINTED);
        let matcher = registry.matcher();
        assert_eq!(matcher.redact("0000-minted-token"), "0000-minted-token");
        assert_eq!(matcher.redact("0034-minted-token"), REDACTED);
        assert_eq!(matcher.redact("held-secret-value"), REDACTED);
        for n in 0..MAX_HELD + 1 {
            registry.insert(&format!("held-secret-{n:04}"), Lifetime::Held);
        }
        assert_eq!(registry.held.len(), MAX_HELD);
    }

    #[test]
    fn a_secret_is_hidden_from_the_moment_it_exists_and_never_shown() {
        let value = format!("process-wide-{}", uuid::Uuid::new_v4());
        let echo = format!("the server says {value}");
        assert_eq!(redact(&echo), echo);
        let secret = Secret::new(value.clone());
        assert_eq!(redact(&echo), "the server says [REDACTED]");
        assert_eq!(
            format!("{secret:?} {secret} {secret:#?}"),
            "Secret([REDACTED]) [REDACTED] Secret([REDACTED])"
        );
        let parsed: Secret =
            serde_json::from_str(&format!("\"minted-{value}\"")).expect("a string");
        assert_eq!(parsed.expose(), format!("minted-{value}"));
        assert_eq!(redact(&format!("minted-{value}")), REDACTED);
        let token = Secret::minted(format!("token-{value}"));
        assert_eq!(
            redact(&format!("Bearer {}", token.expose())),
            "Bearer [REDACTED]"
        );
    }
}
