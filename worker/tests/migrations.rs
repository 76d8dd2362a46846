//! Migration hygiene: the files in `migrations/` have unique, ordered
//! versions that match what the worker embeds (`worker::repo::MIGRATOR`), and all of
//! them apply, in order, to an empty database — once, then again as a no-op.
//!
//! Uses the real PostgreSQL of the test command (`ANTEROOM_TEST_DATABASE_URL`, default
//! the loopback server's `postgres` database) and a database of its own,
//! `anteroom_test_<uuid>`, dropped at the end.

use sqlx::{Connection, Executor, PgConnection, Row};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use uuid::Uuid;
use worker::repo::MIGRATOR;

fn migrations_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations")
}

/// `(version, description, path)` of every `.sql` file, in file-name order.
fn migration_files() -> Vec<(i64, String, PathBuf)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(migrations_dir())
        .expect("migrations/ is readable")
        .map(|e| e.expect("directory entry").path())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let stem = name
                .strip_suffix(".sql")
                .unwrap_or_else(|| panic!("{name}: only .sql files belong in migrations/"));
            assert!(
                !stem.ends_with(".up") && !stem.ends_with(".down"),
                "{name}: reversible migrations are not used (never edit, add a new one)"
            );
            let (version, description) = stem
                .split_once('_')
                .unwrap_or_else(|| panic!("{name}: expected <version>_<description>.sql"));
            assert!(
                version.len() == 14 && version.bytes().all(|b| b.is_ascii_digit()),
                "{name}: the version must be a UTC timestamp YYYYMMDDhhmmss"
            );
            assert!(!description.is_empty(), "{name}: missing description");
            (version.parse().unwrap(), description.to_owned(), path)
        })
        .collect()
}

#[test]
fn versions_are_unique_ordered_and_embedded() {
    let files = migration_files();
    assert!(!files.is_empty(), "no migration found");
    let versions: Vec<i64> = files.iter().map(|(v, _, _)| *v).collect();
    let unique: BTreeSet<i64> = versions.iter().copied().collect();
    assert_eq!(
        unique.len(),
        versions.len(),
        "duplicate versions: {versions:?}"
    );
    assert!(
        versions.windows(2).all(|w| w[0] < w[1]),
        "file names and versions disagree on the order: {versions:?}"
    );
    let embedded: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
    assert_eq!(
        embedded, versions,
        "the worker embeds other migrations than migrations/ holds (rebuild the worker)"
    );
    for (m, (_, description, _)) in MIGRATOR.iter().zip(&files) {
        assert_eq!(m.description.replace(' ', "_"), *description);
    }
}

/// Table names created by the migration files (`CREATE TABLE [IF NOT EXISTS] name`).
fn created_tables() -> BTreeSet<String> {
    let mut tables = BTreeSet::new();
    for (_, _, path) in migration_files() {
        let sql = std::fs::read_to_string(&path).unwrap().to_lowercase();
        for part in sql.split("create table").skip(1) {
            let name = part
                .trim_start()
                .trim_start_matches("if not exists")
                .split(|c: char| c.is_whitespace() || c == '(')
                .find(|s| !s.is_empty())
                .unwrap_or_default()
                .trim_matches('"')
                .to_owned();
            tables.insert(name);
        }
    }
    tables
}

#[tokio::test]
async fn all_migrations_apply_to_an_empty_database_once() {
    let maintenance = std::env::var("ANTEROOM_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into());
    let db_name = format!("anteroom_test_{}", Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&maintenance)
        .await
        .expect("Failed to connect to PostgreSQL");
    admin
        .execute(format!(r#"CREATE DATABASE "{db_name}""#).as_str())
        .await
        .expect("Failed to create the test database");
    let url = runtime::database::with_database(&maintenance, &db_name);

    let result = async {
        let mut conn = PgConnection::connect(&url).await?;
        MIGRATOR.run(&mut conn).await?;
        let applied: Vec<(i64, bool)> =
            sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&mut conn)
                .await?;
        // A second run finds nothing to do (and no checksum mismatch).
        MIGRATOR.run(&mut conn).await?;
        let rows = sqlx::query(
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = 'public'",
        )
        .fetch_all(&mut conn)
        .await?;
        let tables: BTreeSet<String> = rows.iter().map(|r| r.get("name")).collect();
        conn.close().await?;
        Ok::<_, anyhow::Error>((applied, tables))
    }
    .await;

    admin
        .execute(format!(r#"DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)"#).as_str())
        .await
        .expect("Failed to drop the test database");
    let (applied, tables) = result.expect("migrations apply to an empty database");

    let expected: Vec<(i64, bool)> = MIGRATOR.iter().map(|m| (m.version, true)).collect();
    assert_eq!(applied, expected, "every migration applied once, in order");
    let missing: Vec<_> = created_tables().difference(&tables).cloned().collect();
    assert!(
        missing.is_empty(),
        "tables missing after migrating: {missing:?}"
    );
    for table in ["events", "seats", "seat_claims", "holds", "orders"] {
        assert!(tables.contains(table), "{table} missing: {tables:?}");
    }
}
