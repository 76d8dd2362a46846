//! One PostgreSQL database per test, created empty through the maintenance database
//! ([`maintenance_db_url`]); the worker applies the migrations when it starts
//! (`worker::Application::build`).

use crate::services::maintenance_db_url;
use sqlx::{Connection, Executor, PgConnection};

/// Creates the empty database `name` and returns its URL (the maintenance URL with the
/// database name replaced, its query kept).
///
/// # Panics
/// When PostgreSQL does not answer or refuses the `CREATE DATABASE`.
pub async fn create_database(name: &str) -> String {
    let maintenance = maintenance_db_url();
    let mut conn = PgConnection::connect(&maintenance)
        .await
        .expect("Failed to connect to PostgreSQL (maintenance database)");
    conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await
        .expect("Failed to create the test database");
    database_url(name)
}

/// The URL of database `name` on the server of [`maintenance_db_url`], with its TLS
/// parameters.
pub fn database_url(name: &str) -> String {
    runtime::database::with_database(&maintenance_db_url(), name)
}

/// Drops database `name`, closing its open connections (`WITH (FORCE)`).
///
/// # Errors
/// PostgreSQL unreachable or refusing the `DROP DATABASE`.
pub async fn drop_database(name: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(&maintenance_db_url()).await?;
    conn.execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
        .await?;
    Ok(())
}
