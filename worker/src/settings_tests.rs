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
    assert_eq!(s.batch_max_commands, 1024);
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
fn redis_cluster_and_tls_settings_are_checked_together() {
    let s = layered(
        "redis_mode = \"cluster\"\n\
         redis_url = \"redis://127.0.0.1:7001,redis://127.0.0.1:7002\"",
    )
    .unwrap();
    let redis = s.redis().unwrap();
    assert_eq!(redis.mode, runtime::redis::RedisMode::Cluster);
    assert_eq!(redis.urls.len(), 2);

    let errors = layered(
        "redis_mode = \"standalone\"\n\
         redis_url = \"redis://127.0.0.1:7001,redis://127.0.0.1:7002\"\n\
         redis_ca_file = \"/etc/hostname\"",
    )
    .unwrap_err();
    let variables: Vec<String> = errors.0.iter().map(ConfigError::variable).collect();
    assert_eq!(
        variables,
        ["ANTEROOM_REDIS_URL", "ANTEROOM_REDIS_CA_FILE"],
        "{errors}"
    );
    let errors = layered("redis_mode = \"sentinel\"").unwrap_err();
    assert_eq!(errors.0[0].variable(), "ANTEROOM_REDIS_MODE");
    // A password in a seed URL never reaches print-config.
    let s = layered(
        "redis_mode = \"cluster\"\n\
         redis_url = \"redis://u:hunter2@a:1,redis://u:hunter3@b:2\"",
    )
    .unwrap();
    let shown = s.redacted();
    assert!(
        !shown.contains("hunter2") && !shown.contains("hunter3"),
        "{shown}"
    );
    assert!(shown.contains("redis_mode = \"cluster\""), "{shown}");
}

#[test]
fn amqp_lists_ca_files_and_group_sizes_the_worker_cannot_serve_are_refused() {
    let s = layered(
        "amqp_url = \"amqp://u:p1@127.0.0.1:5681/%2f, amqp://u:p2@127.0.0.1:5682/%2f\"
amqp_quorum_group_size = 3",
    )
    .unwrap();
    assert_eq!(s.brokers().unwrap().nodes().len(), 2);
    assert_eq!(s.topology().quorum_group_size(), 3);
    let printed = s.redacted();
    assert!(
        !printed.contains("p1") && !printed.contains("p2"),
        "{printed}"
    );
    assert!(printed.contains("amqp_quorum_group_size = 3"), "{printed}");

    let refused = |toml: &str| -> Vec<String> {
        layered(toml)
            .unwrap_err()
            .0
            .iter()
            .map(ConfigError::variable)
            .collect()
    };
    for toml in [
        "amqp_url = \"http://127.0.0.1:5672\"",
        "amqp_url = \"amqp://h1,amqps://h2\"",
        "amqp_url = \"\"",
    ] {
        assert_eq!(refused(toml), ["ANTEROOM_AMQP_URL"], "{toml}");
    }
    for toml in [
        "amqp_ca_file = \"/nonexistent/ca.pem\"\namqp_url = \"amqps://h\"",
        "amqp_ca_file = \"Cargo.toml\"\namqp_url = \"amqps://h\"",
    ] {
        assert_eq!(refused(toml), ["ANTEROOM_AMQP_CA_FILE"], "{toml}");
    }
    for size in ["-1", "8"] {
        let toml = format!("amqp_quorum_group_size = {size}");
        assert_eq!(
            refused(&toml),
            ["ANTEROOM_AMQP_QUORUM_GROUP_SIZE"],
            "{toml}"
        );
    }
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
