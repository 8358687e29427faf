//! Secret backends (`[secret.<id>]`, Vector's names) and `SECRET[<backend>.<key>]` references
//! in string options.
//!
//! Each backend is asked once per file for every key that file references (an `exec`
//! command runs once, with all of them). A value fetched is registered with the redaction
//! registry (`super::register`) before it is used, so it is hidden from server texts and
//! configuration errors alike; a failing backend is an error that names the backend and the
//! key, never a value.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// One `[secret.<id>]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum BackendConfig {
    /// Runs a command that answers Vector's exec protocol.
    Exec(ExecBackend),
    /// A JSON file holding one object of key → value.
    File(FileBackend),
    /// A folder holding one file per key (the key may contain `/`: a file in a subfolder).
    Directory(DirectoryBackend),
}

/// `type = "exec"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecBackend {
    /// The program and its arguments.
    pub command: Vec<String>,
    /// Seconds to wait for the command. Default 5 (Vector's).
    #[serde(default = "default_timeout")]
    pub timeout: u64,
    /// The protocol version. Default `v1`.
    #[serde(default)]
    pub protocol: ExecProtocol,
}

fn default_timeout() -> u64 {
    5
}

/// `protocol.version`: `v1` sends `{"version":"1.0","secrets":[...]}`; `v1_1` adds the
/// backend's `type` and `config` for a command that serves several kinds of store.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(tag = "version", rename_all = "snake_case", deny_unknown_fields)]
pub enum ExecProtocol {
    /// Version 1.0.
    #[default]
    V1,
    /// Version 1.1.
    V1_1 {
        /// Sent as `type`.
        backend_type: String,
        /// Sent as `config`.
        backend_config: serde_json::Value,
    },
}

/// `type = "file"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileBackend {
    /// The JSON file.
    pub path: PathBuf,
}

/// `type = "directory"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryBackend {
    /// The folder.
    pub path: PathBuf,
    /// Remove whitespace (a final newline) from the end of each file. Default `false`.
    #[serde(default)]
    pub remove_trailing_whitespace: bool,
}

/// Why a secret could not be had. Names the backend and key, never a value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// `SECRET[x.key]` with no `[secret.x]`.
    #[error("secret backend `{backend}` is not defined")]
    UnknownBackend {
        /// The backend named.
        backend: String,
    },
    /// The backend failed as a whole.
    #[error("secret backend `{backend}` failed: {reason}")]
    Backend {
        /// The backend.
        backend: String,
        /// What went wrong (no secret value in it).
        reason: String,
    },
    /// The backend answered, but not with this key.
    #[error("secret backend `{backend}` has no value for `{key}`: {reason}")]
    Key {
        /// The backend.
        backend: String,
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
}

impl SecretError {
    /// The backend, and the key when the failure is about one.
    pub fn reference(&self) -> (&str, Option<&str>) {
        match self {
            Self::UnknownBackend { backend } | Self::Backend { backend, .. } => (backend, None),
            Self::Key { backend, key, .. } => (backend, Some(key)),
        }
    }
}

/// Every `SECRET[backend.key]` reference in `text`, as (backend, key).
pub fn references(text: &str) -> Vec<(&str, &str)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("SECRET[") {
        rest = &rest[at + "SECRET[".len()..];
        if let Some((backend, key)) = parse_reference(rest) {
            found.push((backend, key));
        }
    }
    found
}

/// `backend.key]...` → (backend, key), as Vector's pattern reads it: the backend is a word
/// (letters, digits, `_`, `-`), the key may also hold `.` and `/`.
fn parse_reference(text: &str) -> Option<(&str, &str)> {
    let close = text.find(']')?;
    let (backend, key) = text[..close].split_once('.')?;
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    let valid = !backend.is_empty()
        && !key.is_empty()
        && backend.chars().all(word)
        && key.chars().all(|c| word(c) || c == '.' || c == '/');
    valid.then_some((backend, key))
}

/// `text` with every reference replaced by its value from `values` (by backend, then key);
/// references without a value are left as written.
pub fn substitute(text: &str, values: &BTreeMap<String, BTreeMap<String, String>>) -> String {
    let mut output = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("SECRET[") {
        output.push_str(&rest[..at]);
        let after = &rest[at + "SECRET[".len()..];
        let value = parse_reference(after).and_then(|(backend, key)| {
            let value = values.get(backend)?.get(key)?;
            Some((value, backend.len() + 1 + key.len() + 1))
        });
        match value {
            Some((value, used)) => {
                output.push_str(value);
                rest = &after[used..];
            }
            None => {
                output.push_str("SECRET[");
                rest = after;
            }
        }
    }
    output.push_str(rest);
    output
}

/// Fetches `keys` from each backend. Every value fetched is registered for redaction.
pub fn fetch(
    backends: &BTreeMap<String, BackendConfig>,
    keys: &BTreeMap<String, BTreeSet<String>>,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, Vec<SecretError>> {
    let mut values = BTreeMap::new();
    let mut errors = Vec::new();
    for (backend, wanted) in keys {
        let Some(config) = backends.get(backend) else {
            errors.push(SecretError::UnknownBackend {
                backend: backend.clone(),
            });
            continue;
        };
        let fetched = match config {
            BackendConfig::Exec(exec) => exec.fetch(backend, wanted),
            BackendConfig::File(file) => file.fetch(backend, wanted),
            BackendConfig::Directory(directory) => directory.fetch(backend, wanted),
        };
        match fetched {
            Ok(found) => {
                for value in found.values() {
                    super::register(value);
                }
                values.insert(backend.clone(), found);
            }
            Err(mut more) => errors.append(&mut more),
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(errors)
    }
}

fn backend_error(backend: &str, reason: impl Into<String>) -> Vec<SecretError> {
    vec![SecretError::Backend {
        backend: backend.to_owned(),
        reason: reason.into(),
    }]
}

impl FileBackend {
    fn fetch(
        &self,
        backend: &str,
        wanted: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, String>, Vec<SecretError>> {
        let path = self.path.display();
        let text = std::fs::read_to_string(&self.path)
            .map_err(|error| backend_error(backend, format!("cannot read {path}: {error}")))?;
        // serde_json's messages quote no input text, only positions.
        let all: BTreeMap<String, String> = serde_json::from_str(&text).map_err(|error| {
            backend_error(
                backend,
                format!("{path} is not a JSON object of strings: {error}"),
            )
        })?;
        pick(backend, wanted, |key| {
            all.get(key)
                .cloned()
                .ok_or_else(|| format!("{path} has no such key"))
        })
    }
}

impl DirectoryBackend {
    fn fetch(
        &self,
        backend: &str,
        wanted: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, String>, Vec<SecretError>> {
        pick(backend, wanted, |key| {
            if key.split('/').any(|part| part == "..") {
                return Err("`..` may not leave the folder".to_owned());
            }
            let path = self.path.join(key);
            let value = std::fs::read_to_string(&path)
                .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
            Ok(if self.remove_trailing_whitespace {
                value.trim_end().to_owned()
            } else {
                value
            })
        })
    }
}

/// Each wanted key from `get`, collecting every failure.
fn pick(
    backend: &str,
    wanted: &BTreeSet<String>,
    get: impl Fn(&str) -> Result<String, String>,
) -> Result<BTreeMap<String, String>, Vec<SecretError>> {
    let mut found = BTreeMap::new();
    let mut errors = Vec::new();
    for key in wanted {
        match get(key) {
            Ok(value) => drop(found.insert(key.clone(), value)),
            Err(reason) => errors.push(SecretError::Key {
                backend: backend.to_owned(),
                key: key.clone(),
                reason,
            }),
        }
    }
    if errors.is_empty() {
        Ok(found)
    } else {
        Err(errors)
    }
}

/// One key of the exec protocol's answer.
#[derive(Deserialize)]
struct ExecAnswer {
    value: Option<String>,
    error: Option<String>,
}

impl ExecBackend {
    fn fetch(
        &self,
        backend: &str,
        wanted: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, String>, Vec<SecretError>> {
        let mut request = serde_json::json!({"version": "1.0", "secrets": wanted});
        if let ExecProtocol::V1_1 {
            backend_type,
            backend_config,
        } = &self.protocol
        {
            request["version"] = "1.1".into();
            request["type"] = backend_type.as_str().into();
            request["config"] = backend_config.clone();
        }
        let output = self
            .run(request.to_string().as_bytes())
            .map_err(|reason| backend_error(backend, reason))?;
        let answers: BTreeMap<String, ExecAnswer> = serde_json::from_slice(&output)
            .map_err(|error| backend_error(backend, format!("invalid answer: {error}")))?;
        pick(backend, wanted, |key| match answers.get(key) {
            Some(ExecAnswer { error: Some(e), .. }) => Err(format!("the command said: {e}")),
            Some(ExecAnswer { value: Some(v), .. }) => Ok(v.clone()),
            _ => Err("the command's answer has no value for it".to_owned()),
        })
    }

    /// Runs the command with `input` on stdin; its stdout, or why not.
    fn run(&self, input: &[u8]) -> Result<Vec<u8>, String> {
        let (program, args) = self
            .command
            .split_first()
            .ok_or("`command` is empty: give the program and its arguments")?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("cannot run `{program}`: {error}"))?;
        // Written and read on threads of their own, so a command that does not read its
        // input, or writes a lot, cannot block the timeout.
        let mut stdin = child.stdin.take().expect("piped");
        let input = input.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let mut stdout = child.stdout.take().expect("piped");
        let reader = std::thread::spawn(move || {
            let mut output = Vec::new();
            stdout.read_to_end(&mut output).map(|_| output)
        });
        let deadline = Instant::now() + Duration::from_secs(self.timeout);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("`{program}` did not finish in {}s", self.timeout));
                }
                Err(error) => return Err(format!("waiting for `{program}`: {error}")),
            }
        };
        let _ = writer.join();
        if !status.success() {
            return Err(format!("`{program}` exited with {status}"));
        }
        reader
            .join()
            .map_err(|_| "reading the command's output failed".to_owned())?
            .map_err(|error| format!("reading the output of `{program}`: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_substitutes_references() {
        let text = "Bearer SECRET[vault.hec/token] and SECRET[bad] SECRET[files.a.b]";
        assert_eq!(references(text), [("vault", "hec/token"), ("files", "a.b")]);
        let values = BTreeMap::from([(
            "vault".to_owned(),
            BTreeMap::from([("hec/token".to_owned(), "t0ken-value".to_owned())]),
        )]);
        assert_eq!(
            substitute(text, &values),
            "Bearer t0ken-value and SECRET[bad] SECRET[files.a.b]"
        );
    }

    #[test]
    fn file_and_directory_backends() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s.json"), r#"{"a": "value-a"}"#).unwrap();
        std::fs::create_dir(dir.path().join("nested")).unwrap();
        std::fs::write(dir.path().join("nested/b"), "value-b\n").unwrap();
        let backends = BTreeMap::from([
            (
                "f".to_owned(),
                BackendConfig::File(FileBackend {
                    path: dir.path().join("s.json"),
                }),
            ),
            (
                "d".to_owned(),
                BackendConfig::Directory(DirectoryBackend {
                    path: dir.path().to_owned(),
                    remove_trailing_whitespace: true,
                }),
            ),
        ]);
        let keys = BTreeMap::from([
            ("f".to_owned(), BTreeSet::from(["a".to_owned()])),
            ("d".to_owned(), BTreeSet::from(["nested/b".to_owned()])),
        ]);
        let values = fetch(&backends, &keys).unwrap();
        assert_eq!(values["f"]["a"], "value-a");
        assert_eq!(values["d"]["nested/b"], "value-b");

        let keys = BTreeMap::from([
            ("f".to_owned(), BTreeSet::from(["missing".to_owned()])),
            ("d".to_owned(), BTreeSet::from(["../escape".to_owned()])),
            ("nope".to_owned(), BTreeSet::from(["x".to_owned()])),
        ]);
        let errors: Vec<String> = fetch(&backends, &keys)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors
                .iter()
                .any(|e| e.contains("`d` has no value for `../escape`"))
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("`f` has no value for `missing`"))
        );
        assert!(
            errors
                .iter()
                .any(|e| e == "secret backend `nope` is not defined")
        );
    }
}
