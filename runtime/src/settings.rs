//! Loading a binary's settings, and reporting a bad configuration.
//!
//! Layers, later wins (figment): the binary's embedded defaults (a TOML string, every
//! field documented) → an optional TOML file (`--config <file>`) → environment
//! variables `ANTEROOM_<KEY>` with flat names (`ANTEROOM_REDIS_URL` sets `redis_url`).
//! Only the keys of the defaults are read from the environment, so one binary's
//! variables in a shared env file are not errors for the other; a key whose default is
//! a string is taken raw (`ANTEROOM_ADMIN_KEY=0123` stays a string), any other is parsed
//! (numbers, booleans).
//!
//! Every problem is reported at once ([`ConfigErrors`]): a mistyped value is put back to
//! its default and extraction tried again, so one bad value does not hide the others,
//! and the values that did parse are validated too. A binary given a bad configuration
//! prints the list to stderr and exits with [`EXIT_CODE`] ([`report`]).

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::Value;
use figment::Figment;
use serde::de::DeserializeOwned;
use std::fmt;
use std::path::Path;
use std::process::ExitCode;

/// Prefix of every setting's environment variable.
pub const ENV_PREFIX: &str = "ANTEROOM_";

/// Exit code of a binary refused its configuration (the usage-error code clap uses too).
pub const EXIT_CODE: u8 = 2;

/// The key a problem with the `--config` file itself is reported under.
pub const CONFIG_FILE_KEY: &str = "config";

/// One configuration problem: which setting, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The setting's key, e.g. `admin_key` (dotted for a nested table, `abuse.x`).
    pub key: String,
    /// What is wrong, e.g. `must be at least 1`.
    pub message: String,
}

impl ConfigError {
    /// A problem with setting `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The environment variable that sets the key: `ANTEROOM_<KEY>`, upper case.
    pub fn variable(&self) -> String {
        env_variable(&self.key)
    }
}

/// The environment variable of setting `key`: `ANTEROOM_` and the key in upper case.
pub fn env_variable(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_uppercase())
}

/// Every configuration problem found (never just the first). Displays as
///
/// ```text
/// invalid configuration (2 problems):
///   - shards (env ANTEROOM_SHARDS): must be at least 1
///   - admin_key (env ANTEROOM_ADMIN_KEY): is required: ...
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration ({} problems):", self.0.len())?;
        for e in &self.0 {
            writeln!(f, "  - {} (env {}): {}", e.key, e.variable(), e.message)?;
        }
        Ok(())
    }
}

impl ConfigErrors {
    /// `Ok(())` if `errors` is empty, else the errors.
    ///
    /// # Errors
    /// The given problems, if any.
    pub fn check(errors: Vec<ConfigError>) -> Result<(), ConfigErrors> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errors))
        }
    }
}

/// Prints `errors` to stderr and returns [`EXIT_CODE`], for `main` to return.
pub fn report(errors: &ConfigErrors) -> ExitCode {
    eprint!("{errors}");
    ExitCode::from(EXIT_CODE)
}

/// The defaults, then `file` if given.
///
/// # Errors
/// A [`CONFIG_FILE_KEY`] problem if `file` does not exist.
pub fn defaults_then_file(defaults: Figment, file: Option<&Path>) -> Result<Figment, ConfigErrors> {
    match file {
        None => Ok(defaults),
        Some(path) if !path.is_file() => Err(ConfigErrors(vec![ConfigError::new(
            CONFIG_FILE_KEY,
            format!("file {} does not exist", path.display()),
        )])),
        Some(path) => Ok(defaults.merge(Toml::file_exact(path))),
    }
}

/// The top-level keys of a defaults TOML string, split into those read raw from the
/// environment (string defaults) and those parsed (every other value). Nested tables are
/// left out: their keys need names of their own.
///
/// # Panics
/// If `defaults_toml` is not valid TOML (the embedded defaults are tested).
pub fn env_keys(defaults_toml: &str) -> EnvKeys {
    let table: figment::value::Dict = Figment::from(Toml::string(defaults_toml))
        .extract()
        .expect("the embedded defaults are valid TOML");
    let mut keys = EnvKeys::default();
    for (key, value) in table {
        match value {
            Value::String(..) => keys.strings.push(key),
            Value::Dict(..) => {}
            _ => keys.typed.push(key),
        }
    }
    keys
}

/// Keys read from the environment (see [`env_keys`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvKeys {
    /// Parsed as TOML values (numbers, booleans).
    pub typed: Vec<String>,
    /// Taken as raw strings.
    pub strings: Vec<String>,
}

impl EnvKeys {
    /// Every key, sorted.
    pub fn all(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self
            .typed
            .iter()
            .chain(&self.strings)
            .map(String::as_str)
            .collect();
        all.sort_unstable();
        all
    }

    /// `figment` with the `ANTEROOM_*` variables of these keys merged on top.
    pub fn merge_env(&self, figment: Figment) -> Figment {
        let typed: Vec<&str> = self.typed.iter().map(String::as_str).collect();
        let mut figment = figment.merge(Env::prefixed(ENV_PREFIX).only(&typed));
        for key in &self.strings {
            if let Ok(raw) = std::env::var(env_variable(key)) {
                figment = figment.merge(Serialized::default(key, raw));
            }
        }
        figment
    }
}

/// Extracts a `T` from `figment`, reporting every problem at once: each mistyped value
/// is put back to its value in `defaults` and extraction tried again; once the rest
/// parses, `validate` adds its problems with the values that did parse. Without a
/// mistyped value the result is returned unvalidated (the caller validates, or prints).
///
/// # Errors
/// [`ConfigErrors`] with every mistyped value, then the rest's validation problems.
pub fn extract_all<T: DeserializeOwned>(
    mut figment: Figment,
    defaults: &Figment,
    validate: impl Fn(&T) -> Result<(), ConfigErrors>,
) -> Result<T, ConfigErrors> {
    let mut errors: Vec<ConfigError> = Vec::new();
    loop {
        let failure = match figment.extract::<T>() {
            Ok(settings) if errors.is_empty() => return Ok(settings),
            Ok(rest) => {
                if let Err(more) = validate(&rest) {
                    errors.extend(more.0);
                }
                return Err(ConfigErrors(errors));
            }
            Err(e) => e,
        };
        let mut replaced = false;
        for e in failure {
            let key = e.path.join(".");
            let seen = errors.iter().any(|known| known.key == key);
            if !seen {
                if let Ok(value) = defaults.find_value(&key) {
                    figment = figment.merge(Serialized::default(&key, value));
                    replaced = true;
                }
            }
            errors.push(ConfigError::new(key, e.kind.to_string()));
        }
        if !replaced {
            errors.dedup_by(|a, b| a.key == b.key && a.message == b.message);
            return Err(ConfigErrors(errors));
        }
    }
}

/// Whether `namespace` is 1 to 64 ASCII letters, digits, `_` or `-` (it names AMQP
/// objects and prefixes Redis keys).
pub fn valid_namespace(namespace: &str) -> bool {
    !namespace.is_empty()
        && namespace.len() <= 64
        && namespace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The message of an invalid namespace.
pub const NAMESPACE_MESSAGE: &str = "must be 1 to 64 letters, digits, '_' or '-'";

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    const DEFAULTS: &str = r#"
# A string.
name = "x"
# A number.
count = 3
# A flag.
on = false
"#;

    #[derive(Debug, Deserialize)]
    struct Demo {
        name: String,
        count: u16,
        on: bool,
    }

    fn validate(d: &Demo) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        if d.name.is_empty() {
            errors.push(ConfigError::new("name", "must not be empty"));
        }
        ConfigErrors::check(errors)
    }

    fn load(overrides: &str) -> Result<Demo, ConfigErrors> {
        let defaults = Figment::from(Toml::string(DEFAULTS));
        let figment = defaults.clone().merge(Toml::string(overrides));
        extract_all(figment, &defaults, validate)
    }

    #[test]
    fn keys_are_split_by_the_type_of_their_default() {
        let keys = env_keys(DEFAULTS);
        assert_eq!(keys.strings, ["name"]);
        assert_eq!(keys.typed, ["count", "on"]);
        assert_eq!(keys.all(), ["count", "name", "on"]);
    }

    #[test]
    fn every_mistyped_value_and_every_invalid_one_is_reported() {
        let errors = load("count = \"many\"\non = 3\nname = \"\"").unwrap_err();
        let keys: Vec<&str> = errors.0.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["count", "on", "name"], "{errors}");
        let d = load("count = 7").unwrap();
        assert_eq!((d.name.as_str(), d.count, d.on), ("x", 7, false));
    }

    #[test]
    fn the_report_names_key_and_variable() {
        let errors = ConfigErrors(vec![ConfigError::new("shards", "must be at least 1")]);
        assert_eq!(
            errors.to_string(),
            "invalid configuration (1 problems):\n  - shards (env ANTEROOM_SHARDS): must be at least 1\n"
        );
        assert_eq!(EXIT_CODE, 2);
        assert!(ConfigErrors::check(Vec::new()).is_ok());
    }

    #[test]
    fn a_missing_file_is_a_problem_of_the_config_key() {
        let errors = defaults_then_file(
            Figment::from(Toml::string(DEFAULTS)),
            Some(Path::new("/nonexistent/anteroom.toml")),
        )
        .unwrap_err();
        assert_eq!(errors.0[0].key, CONFIG_FILE_KEY);
        assert!(errors.0[0].message.contains("does not exist"));
    }

    #[test]
    fn namespaces() {
        assert!(valid_namespace("anteroom"));
        assert!(valid_namespace("test_1-a"));
        for bad in ["", "a b", "a.b", &"n".repeat(65)] {
            assert!(!valid_namespace(bad), "{bad:?}");
        }
    }
}
