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

/// The URLs of a comma-separated list, trimmed, empty entries dropped. A comma starts a
/// new URL only where `scheme://` follows it (after spaces), so a comma inside a
/// password stays part of its URL: `amqp://u:a,b@h1,amqp://h2` is two URLs (a password
/// that itself contains `,scheme://` must be percent-encoded).
pub fn split_url_list(list: &str) -> Vec<&str> {
    let mut urls = Vec::new();
    let mut start = 0;
    for (i, _) in list.match_indices(',') {
        if starts_with_scheme(list[i + 1..].trim_start()) {
            urls.push(list[start..i].trim());
            start = i + 1;
        }
    }
    urls.push(list[start..].trim());
    urls.retain(|url| !url.is_empty());
    urls
}

/// Whether `s` begins with `scheme://` (a letter, then letters, digits, `+`, `-`, `.`).
fn starts_with_scheme(s: &str) -> bool {
    s.split_once("://").is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

/// `scheme://user:password@host/...` with the password replaced by [`REDACTED`]; any
/// other string unchanged. The last `@` ends the user information, so a password that
/// contains `@` is hidden whole. A comma-separated list of URLs ([`split_url_list`])
/// has the password of each of its URLs hidden.
pub fn url_password(url: &str) -> String {
    let urls = split_url_list(url);
    if urls.len() > 1 {
        return urls
            .into_iter()
            .map(one_url_password)
            .collect::<Vec<_>>()
            .join(",");
    }
    one_url_password(url)
}

fn one_url_password(url: &str) -> String {
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
    fn every_password_of_a_list_is_hidden() {
        assert_eq!(
            url_password("amqp://a:one@h1:5681/%2f,amqp://b:two@h2:5682/%2f, amqp://h3"),
            "amqp://a:[redacted]@h1:5681/%2f,amqp://b:[redacted]@h2:5682/%2f,amqp://h3"
        );
        // Commas and `@` inside passwords do not split a URL nor leak a piece of it.
        let list = "amqps://u:p,x@y@h1/%2f,amqps://u:p,q:@h2/%2f";
        let hidden = url_password(list);
        assert_eq!(
            hidden,
            "amqps://u:[redacted]@h1/%2f,amqps://u:[redacted]@h2/%2f"
        );
        for secret in ["p,x", "x@y", "p,q"] {
            assert!(!hidden.contains(secret), "{hidden}");
        }
        assert_eq!(
            split_url_list(" amqp://h1 ,, amqp://h2,"),
            ["amqp://h1 ,", "amqp://h2,"]
        );
        assert!(split_url_list(" ").is_empty());
    }

    proptest::proptest! {
        /// Whatever the passwords of a list, none of them appears in the redacted text.
        #[test]
        fn no_password_of_a_list_survives(
            passwords in proptest::collection::vec("[a-zA-Z0-9,;:!@]{1,16}", 1..5),
        ) {
            let list: Vec<String> = passwords
                .iter()
                .enumerate()
                .map(|(i, p)| format!("amqp://user{i}:{p}@host{i}:5672/%2f"))
                .collect();
            let hidden = url_password(&list.join(","));
            for (i, p) in passwords.iter().enumerate() {
                let leaked = format!(":{p}@");
                proptest::prop_assert!(!hidden.contains(&leaked), "{} in {}", p, hidden);
                let shown = format!("amqp://user{i}:[redacted]@host{i}:5672/%2f");
                proptest::prop_assert!(hidden.contains(&shown), "{}", hidden);
            }
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
