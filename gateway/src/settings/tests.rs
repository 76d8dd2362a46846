//! Unit tests of `settings.rs`.

use super::*;

fn valid() -> Settings {
    Settings {
        admin_key: "admin-key-of-a-unit-test-0123456789".to_string().into(),
        queue_token_secret: "q".repeat(32).into(),
        pass_signing_key: "0123456789abcdef".repeat(4).into(),
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
        command_batch_max: 0,
        command_batch_delay_us: 10_001,
        ..valid()
    };
    let errors = s.validate().unwrap_err();
    assert_eq!(errors.0.len(), 5);
    assert!(errors.0.iter().any(|e| e.key == "command_batch_max"));
    assert!(errors.0.iter().any(|e| e.key == "command_batch_delay_us"));
}

#[test]
fn secrets_never_printed() {
    let s = Settings {
        amqp_url: "amqp://guest:hunter2@h:5672/%2f,amqp://guest:hunter3@h2:5672/%2f".into(),
        ..valid()
    };
    let printed = format!("{s:?}");
    assert!(!printed.contains("admin-key-of"));
    assert!(!printed.contains("hunter2"));
    assert!(!printed.contains("hunter3"));
    assert!(!printed.contains(&"0123456789abcdef".repeat(4)));
    assert!(printed.contains("[redacted]"));
    let reparsed: Settings =
        figment::Figment::from(figment::providers::Toml::string(&s.redacted_toml()))
            .extract()
            .unwrap();
    assert_eq!(reparsed.port, s.port);
}

/// The only test that touches `ANTEROOM_*` variables (they are process-wide).
#[test]
fn layers_defaults_file_then_env_with_raw_string_secrets() {
    let file = std::env::temp_dir().join(format!("gw-settings-{}.toml", std::process::id()));
    std::fs::write(
        &file,
        "port = 9999\nnamespace = \"fromfile\"\nadmin_key = \"file-key\"\n",
    )
    .unwrap();
    let vars = [
        ("ANTEROOM_PORT", "0"),
        ("ANTEROOM_ADMIN_KEY", &"0123456789".repeat(4)),
        ("ANTEROOM_QUEUE_TOKEN_SECRET", &"7".repeat(40)),
        ("ANTEROOM_PASS_SIGNING_KEY", &"0123456789abcdef".repeat(4)),
        ("ANTEROOM_DATABASE_URL", "postgres://worker-only"),
    ];
    for (k, v) in vars {
        std::env::set_var(k, v);
    }
    let loaded = Settings::load(Some(&file));
    let missing = Settings::load(Some(std::path::Path::new("/nonexistent/gw.toml")));
    for (k, _) in vars {
        std::env::remove_var(k);
    }
    std::fs::remove_file(&file).unwrap();
    let s = loaded.unwrap();
    assert_eq!(s.port, 0, "env beats file");
    assert_eq!(s.namespace, "fromfile", "file beats defaults");
    assert_eq!(
        s.admin_key.expose_secret(),
        "0123456789".repeat(4),
        "digits stay a string"
    );
    assert_eq!(
        s.pass_signing_key.expose_secret(),
        "0123456789abcdef".repeat(4).as_str()
    );
    assert_eq!(s.reply_timeout_ms, 2000, "defaults fill the rest");
    assert_eq!(missing.unwrap_err().0[0].key, "config");
}

#[test]
fn every_default_key_is_read_from_the_environment() {
    let mut keys: Vec<&str> = DEFAULTS_TOML
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(" = "))
        .filter_map(|l| l.split(" = ").next())
        .collect();
    keys.sort_unstable();
    let env_keys = runtime::settings::env_keys(DEFAULTS_TOML);
    assert_eq!(keys, env_keys.all());
    // Secrets and URLs are strings, read raw (`ANTEROOM_ADMIN_KEY=0123` stays text).
    for key in [
        "admin_key",
        "queue_token_secret",
        "pass_signing_key",
        "redis_url",
    ] {
        assert!(env_keys.strings.iter().any(|k| k == key), "{key}");
    }
    assert!(env_keys.typed.iter().any(|k| k == "port"));
}

#[test]
fn every_mistyped_value_is_reported_at_once() {
    let file = std::env::temp_dir().join(format!("gw-mistyped-{}.toml", std::process::id()));
    std::fs::write(
        &file,
        "port = \"http\"\nshards = \"x\"\nreply_timeout_ms = true\n",
    )
    .unwrap();
    let result = Settings::extract(Some(&file));
    std::fs::remove_file(&file).unwrap();
    let keys: Vec<String> = result.unwrap_err().0.into_iter().map(|e| e.key).collect();
    for key in ["port", "reply_timeout_ms", "shards"] {
        assert_eq!(
            keys.iter().filter(|k| *k == key).count(),
            1,
            "{key} once in {keys:?}"
        );
    }
    // The values that did parse are range-checked too (here: the missing secrets).
    assert!(keys.iter().any(|k| k == "admin_key"), "{keys:?}");
}

#[test]
fn placeholder_and_short_secrets_are_refused_by_name() {
    let s = Settings {
        admin_key: "change-me".to_string().into(),
        queue_token_secret: "change-me-to-at-least-32-bytes-of-randomness".into(),
        pass_signing_key: "0".repeat(64).into(),
        ..valid()
    };
    let errors = s.validate().unwrap_err();
    let keys: Vec<_> = errors.0.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        ["admin_key", "queue_token_secret", "pass_signing_key"]
    );
    let text = errors.to_string();
    assert!(text.contains("ANTEROOM_ADMIN_KEY"), "{text}");
    assert!(text.contains("ANTEROOM_PASS_SIGNING_KEY"), "{text}");
    assert!(text.contains("openssl rand -hex 32"), "{text}");
    let short = Settings {
        admin_key: "k".repeat(31).into(),
        ..valid()
    };
    assert_eq!(short.validate().unwrap_err().0[0].key, "admin_key");
}

#[test]
fn previous_pass_keys_are_checked_one_by_one() {
    let ok = Settings {
        pass_previous_keys: format!("{}, {}", "0f1e2d3c4b5a6978".repeat(4), "a1b2".repeat(16))
            .into(),
        ..valid()
    };
    assert!(ok.validate().is_ok());
    let bad = Settings {
        pass_previous_keys: format!("{},{}", "0f1e2d3c4b5a6978".repeat(4), "0".repeat(64)).into(),
        ..valid()
    };
    let errors = bad.validate().unwrap_err().0;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].key, "pass_previous_keys");
    assert!(
        errors[0].message.contains("entry 2"),
        "{}",
        errors[0].message
    );
}

#[test]
fn redis_settings_are_checked_together() {
    let s = Settings {
        redis_mode: "cluster".into(),
        redis_url: "redis://127.0.0.1:7001,rediss://127.0.0.1:7002".into(),
        ..valid()
    };
    let errors = s.validate().unwrap_err();
    assert_eq!(errors.0.len(), 1, "{errors}");
    assert_eq!(errors.0[0].variable(), "ANTEROOM_REDIS_URL");
    assert!(errors.0[0].message.contains("mixes"), "{errors}");
    let s = Settings {
        redis_ca_file: "/nonexistent/ca.pem".into(),
        redis_url: "rediss://localhost:6390".into(),
        ..valid()
    };
    let errors = s.validate().unwrap_err();
    assert_eq!(errors.0[0].variable(), "ANTEROOM_REDIS_CA_FILE");
    let s = Settings {
        redis_mode: "cluster".into(),
        redis_url: "redis://u:hunter2@a:1,redis://u:hunter3@b:2".into(),
        ..valid()
    };
    assert!(s.validate().is_ok());
    let shown = s.redacted_toml();
    assert!(
        !shown.contains("hunter2") && !shown.contains("hunter3"),
        "{shown}"
    );
}

#[test]
fn amqp_settings_the_gateway_cannot_serve_are_refused() {
    let keys = |s: Settings| -> Vec<String> {
        s.validate()
            .map_or_else(|e| e.0.into_iter().map(|e| e.key).collect(), |()| vec![])
    };
    let list = "amqp://u:p@127.0.0.1:5681/%2f,amqp://u:p@127.0.0.1:5682/%2f";
    assert!(keys(Settings {
        amqp_url: list.into(),
        amqp_quorum_group_size: 7,
        ..valid()
    })
    .is_empty());
    assert_eq!(
        keys(Settings {
            amqp_url: "amqp://h1,amqps://h2".into(),
            ..valid()
        }),
        ["amqp_url"]
    );
    assert_eq!(
        keys(Settings {
            amqp_ca_file: "Cargo.toml".into(),
            amqp_url: "amqps://h".into(),
            ..valid()
        }),
        ["amqp_ca_file"]
    );
    assert_eq!(
        keys(Settings {
            amqp_quorum_group_size: 8,
            ..valid()
        }),
        ["amqp_quorum_group_size"]
    );
}

#[test]
fn database_tls_settings_are_checked_and_the_password_stays_hidden() {
    let ca = std::env::temp_dir().join(format!("gw-ca-{}.pem", std::process::id()));
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let with_db = |url: String| Settings {
        database_url: url.into(),
        ..valid()
    };
    let served = with_db(format!(
        "postgres://app:hunter2@db.internal:5432/anteroom?sslmode=verify-full&sslrootcert={}",
        ca.display()
    ));
    served.validate().unwrap();
    let printed = served.redacted_toml();
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(printed.contains("sslmode=verify-full"), "{printed}");

    for (url, words) in [
        (
            "postgres://db/x?sslmode=verify".to_owned(),
            "sslmode must be one of",
        ),
        (
            "postgres://db/x?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem".to_owned(),
            "/nonexistent/ca.pem",
        ),
        (
            format!(
                "postgres://db/x?sslrootcert={}",
                std::env::temp_dir().display()
            ),
            "sslrootcert=",
        ),
    ] {
        let errors = with_db(url).validate().unwrap_err();
        assert_eq!(errors.0.len(), 1, "{errors}");
        assert_eq!(errors.0[0].variable(), "ANTEROOM_DATABASE_URL");
        assert!(errors.0[0].message.contains(words), "{errors}");
    }
    std::fs::remove_file(ca).unwrap();
}
