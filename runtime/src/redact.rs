//! Printing settings without their secrets. `print-config` prints the effective settings
//! as TOML that parses again: secrets and the passwords inside URLs become
//! [`REDACTED`], so the output can go to a log or a ticket.

use secrecy::{ExposeSecret, SecretString};

/// What a secret is printed as.
pub const REDACTED: &str = "[redacted]";

/// A TOML basic string literal of `s` (quoted, escaped).
pub fn toml_string(s: &str) -> String {
    // A JSON string is a valid TOML basic string for everything serde_json emits
    // (`\"`, `\\`, `\n`, `\uXXXX`, ...).
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A secret as a TOML string literal: `""` if it is empty (so a missing secret shows as
/// missing), else `"[redacted]"`.
pub fn secret_toml(secret: &SecretString) -> String {
    if secret.expose_secret().is_empty() {
        toml_string("")
    } else {
        toml_string(REDACTED)
    }
}

/// `scheme://user:password@host/...` with the password replaced by [`REDACTED`]; any
/// other string unchanged. The last `@` ends the user information, so a password that
/// contains `@` is hidden whole.
pub fn url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:{REDACTED}@{host}"),
        None => url.to_owned(),
    }
}

/// A comma-separated list of URLs (cluster seed nodes) with every password hidden.
pub fn url_list_password(urls: &str) -> String {
    urls.split(',')
        .map(url_password)
        .collect::<Vec<_>>()
        .join(",")
}

/// A comma-separated list of URLs as a TOML string literal, every password hidden.
pub fn url_list_toml(urls: &str) -> String {
    toml_string(&url_list_password(urls))
}

/// A URL that may carry a password, as a TOML string literal with the password hidden.
pub fn url_toml(url: &str) -> String {
    toml_string(&url_password(url))
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::{Format, Toml};

    #[test]
    fn passwords_in_urls_are_hidden() {
        assert_eq!(
            url_password("postgres://app:hunter2@db:5432/anteroom"),
            "postgres://app:[redacted]@db:5432/anteroom"
        );
        assert_eq!(
            url_password("amqp://guest:p@ss@h:5672/%2f"),
            "amqp://guest:[redacted]@h:5672/%2f"
        );
        for unchanged in [
            "redis://127.0.0.1:6379",
            "redis://user@host:6379",
            "not a url",
        ] {
            assert_eq!(url_password(unchanged), unchanged);
        }
    }

    #[test]
    fn secrets_print_as_a_marker_unless_empty() {
        assert_eq!(
            secret_toml(&SecretString::from("hunter2")),
            "\"[redacted]\""
        );
        assert_eq!(secret_toml(&SecretString::from("")), "\"\"");
    }

    #[test]
    fn toml_strings_parse_back() {
        for s in ["plain", "with \"quotes\"", "back\\slash", "new\nline", "é"] {
            let doc = format!("v = {}", toml_string(s));
            let parsed: std::collections::BTreeMap<String, String> =
                figment::Figment::from(Toml::string(&doc))
                    .extract()
                    .unwrap();
            assert_eq!(parsed["v"], s);
        }
    }
}
