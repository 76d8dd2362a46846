//! Settings tests (no environment mutation: layers are given as TOML strings).

use super::*;

fn layered(toml: &str) -> Result<Settings, ConfigErrors> {
    Settings::from_figment(Figment::from(Toml::string(DEFAULTS)).merge(Toml::string(toml)))
}

#[test]
fn embedded_defaults_match_the_contract() {
    let s = Settings::default();
    assert_eq!(
        s.database_url.expose_secret(),
        "postgres://postgres:postgres@127.0.0.1:5432/anteroom"
    );
    assert_eq!(s.redis_url, "redis://127.0.0.1:6379");
    assert_eq!(s.amqp_url, "amqp://guest:guest@127.0.0.1:5672/%2f");
    assert_eq!(s.namespace, "anteroom");
    assert_eq!(s.shards, protocol::shard::DEFAULT_SHARDS);
    assert_eq!(s.metrics_port, 9101);
    assert_eq!(s.batch_max_commands, 256);
    assert_eq!(s.batch_max_wait_ms, 5);
    assert_eq!(s.expiry_tick_ms, 200);
    assert_eq!(s.result_ttl_secs, protocol::names::RESULT_TTL_SECONDS);
    assert_eq!(s.refusal_ttl_secs, protocol::names::REFUSAL_TTL_SECONDS);
    assert_eq!(s.retention_secs, 7 * 86_400);
    assert!(layered("").is_ok());
}

#[test]
fn retention_and_ttls_below_what_a_pass_can_ask_are_refused() {
    let errors = layered(
        "retention_secs = 3600
result_ttl_secs = 60
refusal_ttl_secs = 10",
    )
    .unwrap_err()
    .0;
    let variables: Vec<String> = errors.iter().map(ConfigError::variable).collect();
    assert_eq!(
        variables,
        [
            "ANTEROOM_RETENTION_SECS",
            "ANTEROOM_RESULT_TTL_SECS",
            "ANTEROOM_REFUSAL_TTL_SECS"
        ]
    );
}

#[test]
fn later_layers_override() {
    let s = layered("shards = 2\nnamespace = \"test_x\"\nmetrics_port = 0").unwrap();
    assert_eq!(
        (s.shards, s.namespace.as_str(), s.metrics_port),
        (2, "test_x", 0)
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let errors = layered(
        "shards = 0\nnamespace = \"bad ns\"\nbatch_max_commands = \"many\"\n\
         database_url = \"mysql://x\"\nexpiry_tick_ms = 1",
    )
    .unwrap_err();
    let vars: Vec<String> = errors.0.iter().map(ConfigError::variable).collect();
    for v in [
        "ANTEROOM_SHARDS",
        "ANTEROOM_NAMESPACE",
        "ANTEROOM_BATCH_MAX_COMMANDS",
        "ANTEROOM_DATABASE_URL",
        "ANTEROOM_EXPIRY_TICK_MS",
    ] {
        assert!(
            vars.iter().any(|known| known == v),
            "{v} missing from {errors}"
        );
    }
    assert_eq!(errors.0.len(), 5, "{errors}");
}

#[test]
fn a_missing_config_file_is_an_error() {
    let err = Settings::load(Some(Path::new("/nonexistent/worker.toml"))).unwrap_err();
    assert_eq!(err.0[0].key, "config");
}

#[test]
fn secrets_are_redacted() {
    let s = layered("database_url = \"postgres://app:hunter2@db:5432/anteroom\"").unwrap();
    let shown = s.redacted();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(
        shown.contains("postgres://app:[redacted]@db:5432/anteroom"),
        "{shown}"
    );
    assert!(!format!("{s:?}").contains("hunter2"));
    assert!(
        shown.contains("redis_url = \"redis://127.0.0.1:6379\""),
        "{shown}"
    );
    let reparsed: Settings = Figment::from(Toml::string(&shown)).extract().unwrap();
    assert_eq!(reparsed.metrics_port, s.metrics_port);
}

#[test]
fn database_tls_settings_are_checked_and_the_password_stays_hidden() {
    let ca = std::env::temp_dir().join(format!("worker-ca-{}.pem", std::process::id()));
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let url = format!(
        "postgres://app:hunter2@10.0.0.5:5432/anteroom?sslmode=verify-full&sslrootcert={}",
        ca.display()
    );
    let s = layered(&format!("database_url = \"{url}\"")).unwrap();
    let shown = s.redacted();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("sslmode=verify-full"), "{shown}");

    for (url, words) in [
        ("postgres://db/x?sslmode=on", "sslmode must be one of"),
        (
            "postgres://db/x?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
            "/nonexistent/ca.pem",
        ),
    ] {
        let errors = layered(&format!("database_url = \"{url}\"")).unwrap_err();
        assert_eq!(errors.0.len(), 1, "{errors}");
        assert_eq!(errors.0[0].variable(), "ANTEROOM_DATABASE_URL");
        assert!(errors.0[0].message.contains(words), "{errors}");
    }
    std::fs::remove_file(ca).unwrap();
}
