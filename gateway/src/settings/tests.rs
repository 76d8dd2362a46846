//! Unit tests of `settings.rs`.

use super::*;

fn valid() -> Settings {
    Settings {
        admin_key: "admin".to_string().into(),
        queue_token_secret: "q".repeat(32).into(),
        pass_signing_key: "11".repeat(32).into(),
        ..Settings::default()
    }
}

#[test]
fn defaults_need_the_three_secrets() {
    let errors = Settings::default().validate().unwrap_err();
    let keys: Vec<_> = errors.0.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        ["admin_key", "queue_token_secret", "pass_signing_key"]
    );
    assert!(valid().validate().is_ok());
}

#[test]
fn every_problem_is_reported() {
    let s = Settings {
        shards: 0,
        redis_url: "http://x".into(),
        reply_timeout_ms: 0,
        ..valid()
    };
    assert_eq!(s.validate().unwrap_err().0.len(), 3);
}

#[test]
fn secrets_never_printed() {
    let s = Settings {
        amqp_url: "amqp://guest:hunter2@h:5672/%2f".into(),
        ..valid()
    };
    let printed = format!("{s:?}");
    assert!(!printed.contains("admin\""));
    assert!(!printed.contains("hunter2"));
    assert!(!printed.contains(&"11".repeat(32)));
    assert!(printed.contains("[redacted]"));
    let reparsed: Settings =
        figment::Figment::from(figment::providers::Toml::string(&s.redacted_toml()))
            .extract()
            .unwrap();
    assert_eq!(reparsed.port, s.port);
}
