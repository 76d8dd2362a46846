//! Checks of the gateway's secrets at start-up: long enough, and not a placeholder.
//!
//! The deployment examples (`deploy/compose/env.example`, `deploy/k8s/base/secret.yaml`)
//! ship placeholders (`change-me…`, an all-zero Ed25519 seed) so that they parse; a
//! gateway started with one of them would sign passes anyone can forge or accept an
//! admin key anyone can guess, so they are refused like a missing value, naming the
//! variable and how to generate a real one.

use super::ConfigError;

/// Least length of a text secret (admin key, queue token secret, identity secret), in
/// bytes: 256 bits when random.
pub const MIN_SECRET_BYTES: usize = 32;

/// How to make a secret, quoted in the messages.
const GENERATE: &str = "generate one with `openssl rand -hex 32`";

/// Whether `value` is one of the shipped placeholders (`change-me`, `changeme`,
/// `change_me` anywhere in it, any case).
pub fn is_placeholder(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    ["change-me", "changeme", "change_me"]
        .iter()
        .any(|p| lower.contains(p))
}

/// Whether a 32-byte seed is a placeholder: one byte repeated (the all-zero seed of the
/// examples, `1111…`, `ffff…`).
pub fn is_placeholder_seed(seed: &[u8; 32]) -> bool {
    seed.iter().all(|b| *b == seed[0])
}

/// Checks a text secret: `required` ones must be set; a set one must be at least
/// [`MIN_SECRET_BYTES`] and not a placeholder. Appends at most one problem.
pub(super) fn check_secret(key: &str, value: &str, required: bool, errors: &mut Vec<ConfigError>) {
    let message = if value.is_empty() {
        required.then(|| format!("is required: at least {MIN_SECRET_BYTES} bytes; {GENERATE}"))
    } else if is_placeholder(value) {
        Some(format!(
            "is the placeholder of the deployment examples and must be replaced; {GENERATE}"
        ))
    } else if value.len() < MIN_SECRET_BYTES {
        Some(format!(
            "must be at least {MIN_SECRET_BYTES} bytes (it has {}); {GENERATE}",
            value.len()
        ))
    } else {
        None
    };
    if let Some(message) = message {
        errors.push(ConfigError {
            key: key.into(),
            message,
        });
    }
}

/// Checks the hex of an Ed25519 seed: 64 hex characters, not a placeholder. Appends at
/// most one problem; `what` names the value in the message (e.g. "each key").
pub(super) fn check_seed(key: &str, what: &str, hex_seed: &str, errors: &mut Vec<ConfigError>) {
    let message = match crate::tokens::parse_seed(hex_seed) {
        None => format!(
            "{what} must be the hex of a 32-byte Ed25519 seed (64 hex characters); {GENERATE}"
        ),
        Some(seed) if is_placeholder_seed(&seed) => format!(
            "{what} is a placeholder seed (one byte repeated, like the all-zero seed of the \
             deployment examples) and must be replaced; {GENERATE}"
        ),
        Some(_) => return,
    };
    errors.push(ConfigError {
        key: key.into(),
        message,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(f: impl FnOnce(&mut Vec<ConfigError>)) -> Vec<String> {
        let mut errors = Vec::new();
        f(&mut errors);
        errors.into_iter().map(|e| e.message).collect()
    }

    #[test]
    fn the_examples_placeholders_are_refused() {
        for placeholder in [
            "change-me",
            "change-me-to-at-least-32-bytes-of-randomness",
            "CHANGEME-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        ] {
            let found = problems(|e| check_secret("admin_key", placeholder, true, e));
            assert_eq!(found.len(), 1, "{placeholder}");
            assert!(found[0].contains("placeholder"), "{found:?}");
        }
        let zero = "0".repeat(64);
        let found = problems(|e| check_seed("pass_signing_key", "it", &zero, e));
        assert!(found[0].contains("placeholder"), "{found:?}");
        assert_eq!(
            problems(|e| check_seed("k", "it", &"0123456789abcdef".repeat(4), e)).len(),
            0
        );
    }

    #[test]
    fn short_secrets_are_refused_and_optional_ones_may_be_empty() {
        let short = problems(|e| check_secret("admin_key", &"k".repeat(31), true, e));
        assert!(short[0].contains("at least 32 bytes"), "{short:?}");
        assert!(problems(|e| check_secret("admin_key", &"k".repeat(32), true, e)).is_empty());
        assert!(problems(|e| check_secret("identity_secret", "", false, e)).is_empty());
        assert_eq!(
            problems(|e| check_secret("admin_key", "", true, e)).len(),
            1
        );
        let bad_hex = problems(|e| check_seed("k", "it", "xyz", e));
        assert!(bad_hex[0].contains("64 hex characters"), "{bad_hex:?}");
    }
}
