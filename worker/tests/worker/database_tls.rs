//! The worker's PostgreSQL connections are encrypted exactly when `database_url` asks
//! (its `sslmode`), judged by the server's own view of the connection (`pg_stat_ssl`);
//! with `verify-ca`/`verify-full`, a CA that did not sign the server's certificate is
//! refused. The same test runs against the shared plain server and, in the test
//! command's TLS mode, against the TLS-only one (deploy/local/cluster/postgres.sh).

use secrecy::SecretString;
use std::process::Command;
use uuid::Uuid;
use worker::repo::Repository;

fn settings(url: &str) -> worker::Settings {
    worker::Settings {
        database_url: SecretString::from(url.to_owned()),
        database_max_connections: 1,
        ..worker::Settings::default()
    }
}

fn query_param(url: &str, key: &str) -> Option<String> {
    let parsed = url::Url::parse(url).expect("test database URL");
    parsed
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// A self-signed CA of its own: a valid PEM certificate that signed nothing the server
/// presents.
fn unrelated_ca(dir: &std::path::Path) -> String {
    let path = dir.join("unrelated-ca.pem");
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args([
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=unrelated test CA",
            "-keyout",
        ])
        .arg(dir.join("unrelated-ca.key"))
        .arg("-out")
        .arg(&path)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_is_encrypted_as_the_url_asks_and_verified_against_its_ca() {
    let name = format!("anteroom_test_{}", Uuid::new_v4().simple());
    let url = testkit::db::create_database(&name).await;
    let mode = query_param(&url, "sslmode").unwrap_or_else(|| "prefer".into());

    let repo = Repository::connect(&settings(&url)).await.unwrap();
    let (encrypted,): (bool,) =
        sqlx::query_as("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(repo.pool())
            .await
            .unwrap();
    let (server_ssl,): (String,) = sqlx::query_as("SHOW ssl")
        .fetch_one(repo.pool())
        .await
        .unwrap();
    repo.pool().close().await;
    // libpq's rules, which sqlx follows: `prefer` encrypts whenever the server offers TLS.
    let expected = match mode.as_str() {
        "disable" | "allow" => false,
        "prefer" => server_ssl == "on",
        _ => true,
    };
    assert_eq!(
        encrypted, expected,
        "sslmode={mode}, server ssl={server_ssl}"
    );

    if mode.starts_with("verify-") {
        let dir = std::env::temp_dir().join(format!("anteroom-tls-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let wrong = url.replace(
            &query_param(&url, "sslrootcert").expect("verify mode without sslrootcert"),
            &unrelated_ca(&dir),
        );
        let refused = Repository::connect(&settings(&wrong)).await;
        std::fs::remove_dir_all(&dir).unwrap();
        let Err(refusal) = refused else {
            panic!("an unrelated CA was trusted");
        };
        let err = format!("{refusal:#}");
        assert!(err.to_lowercase().contains("certificate"), "{err}");
    }
    testkit::db::drop_database(&name).await.unwrap();
}
