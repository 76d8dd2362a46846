//! Checking a PostgreSQL `database_url` before anything connects, so that a TLS setting
//! the binaries cannot serve stops the start with a clear message instead of failing on
//! the first query.
//!
//! TLS goes through sqlx's own rustls support and reads these query parameters of the
//! URL (sqlx's names, also accepted in their dashed spellings):
//!
//! | parameter | values | meaning |
//! |---|---|---|
//! | `sslmode` | `disable`, `allow`, `prefer` (default), `require`, `verify-ca`, `verify-full` | as libpq: `require` encrypts without checking the server, `verify-ca` checks the chain, `verify-full` also the host name or IP address |
//! | `sslrootcert` | path of a PEM file of CA certificates | the CAs `verify-ca`/`verify-full` trust; without it, the Mozilla roots built into the binary |
//!
//! Every host form can be verified (rustls checks DNS names and IP addresses against the
//! certificate's subject alternative names), so no host is refused for `verify-full`.

use rustls_pki_types::{pem::PemObject, CertificateDer};
use std::path::Path;

/// The `sslmode` values sqlx serves, weakest first.
pub const SSL_MODES: [&str; 6] = [
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// Checks the scheme of `url` and its TLS parameters (`sslmode`, `sslrootcert`).
///
/// # Errors
/// A message for the setting, naming the first problem: not a `postgres://` or
/// `postgresql://` URL, an unparseable URL, an `sslmode` outside [`SSL_MODES`], an
/// `sslrootcert` file that is missing, unreadable or holds no PEM certificate. The
/// message never contains the URL (it may hold a password).
pub fn check_database_url(url: &str) -> Result<(), String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err("must start with postgres:// or postgresql://".into());
    }
    let parsed = url::Url::parse(url).map_err(|e| format!("is not a valid URL ({e})"))?;
    for (key, value) in parsed.query_pairs() {
        match key.as_ref() {
            "sslmode" | "ssl-mode" if !SSL_MODES.contains(&value.as_ref()) => {
                return Err(format!(
                    "has sslmode={value}; sslmode must be one of {}",
                    SSL_MODES.join(", ")
                ));
            }
            "sslrootcert" | "ssl-root-cert" | "ssl-ca" => check_root_cert(Path::new(&*value))?,
            _ => {}
        }
    }
    Ok(())
}

/// `url` with its database (the path) replaced by `name`, the query (`sslmode`,
/// `sslrootcert`, ...) kept: `postgres://h/postgres?sslmode=require` and `anteroom_x` give
/// `postgres://h/anteroom_x?sslmode=require`. A string that is not a URL gets `/name`
/// appended, so the connection that follows reports it.
pub fn with_database(url: &str, name: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_path(&format!("/{name}"));
            parsed.into()
        }
        Err(_) => format!("{url}/{name}"),
    }
}

/// `path` names a readable file with at least one PEM certificate, all of them parseable.
fn check_root_cert(path: &Path) -> Result<(), String> {
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("has sslrootcert={shown}: {e}"))?;
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        cert.map_err(|e| format!("has sslrootcert={shown}: not a PEM certificate file ({e:?})"))?;
        count += 1;
    }
    if count == 0 {
        return Err(format!(
            "has sslrootcert={shown}: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM_BLOCK: &str = "-----BEGIN CERTIFICATE-----\n\
        MIIBMzCB2qADAgECAhQBAgMEBQYHCAkKCwwNDg8QERITFDAKBggqhkjOPQQDAjAP\n\
        MQ0wCwYDVQQDDARUZXN0MB4XDTI0MDEwMTAwMDAwMFoXDTM0MDEwMTAwMDAwMFow\n\
        DzENMAsGA1UEAwwEVGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABAAAAAAA\n\
        -----END CERTIFICATE-----\n";

    /// A file in the temporary directory, deleted when dropped.
    struct TempFile(String);

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    impl std::fmt::Display for TempFile {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }

    fn file(name: &str, contents: &str) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("anteroom-dbcheck-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        TempFile(path.to_str().unwrap().to_owned())
    }

    #[test]
    fn the_database_is_replaced_and_the_tls_parameters_kept() {
        assert_eq!(
            with_database("postgres://u:pw@127.0.0.1:5432/postgres", "anteroom_t"),
            "postgres://u:pw@127.0.0.1:5432/anteroom_t"
        );
        assert_eq!(
            with_database(
                "postgres://postgres@localhost:5433/postgres?sslmode=verify-full&sslrootcert=/tmp/a/tls/ca.pem",
                "anteroom_t"
            ),
            "postgres://postgres@localhost:5433/anteroom_t?sslmode=verify-full&sslrootcert=/tmp/a/tls/ca.pem"
        );
        assert_eq!(with_database("postgres://db", "x"), "postgres://db/x");
    }

    #[test]
    fn plain_urls_and_every_ssl_mode_pass() {
        check_database_url("postgres://app:pw@db:5432/anteroom").unwrap();
        check_database_url("postgresql://db/anteroom").unwrap();
        for mode in SSL_MODES {
            check_database_url(&format!("postgres://db/anteroom?sslmode={mode}")).unwrap();
            check_database_url(&format!("postgres://db/anteroom?ssl-mode={mode}")).unwrap();
        }
    }

    #[test]
    fn verify_full_takes_names_and_addresses() {
        let ca = file("ca.pem", PEM_BLOCK);
        for host in ["localhost", "db.example.com", "127.0.0.1", "[::1]"] {
            check_database_url(&format!(
                "postgres://app@{host}:5432/x?sslmode=verify-full&sslrootcert={ca}"
            ))
            .unwrap();
        }
    }

    #[test]
    fn unknown_ssl_modes_are_refused_with_the_choices() {
        for mode in ["verify_full", "VERIFY-FULL", "on", ""] {
            let err = check_database_url(&format!("postgres://db/x?sslmode={mode}")).unwrap_err();
            assert!(err.contains("verify-full"), "{err}");
            assert!(err.contains(&format!("sslmode={mode};")), "{err}");
        }
    }

    #[test]
    fn a_missing_root_cert_file_is_refused() {
        let err = check_database_url(
            "postgres://db/x?sslmode=verify-full&sslrootcert=/nonexistent/anteroom/ca.pem",
        )
        .unwrap_err();
        assert!(
            err.contains("sslrootcert=/nonexistent/anteroom/ca.pem"),
            "{err}"
        );
        let err = check_database_url("postgres://db/x?ssl-ca=/nonexistent/ca.pem").unwrap_err();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn a_root_cert_file_without_a_certificate_is_refused() {
        let key = file(
            "key.pem",
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
        );
        for path in [
            file("text.pem", "not a certificate\n"),
            file("empty.pem", ""),
            key,
        ] {
            let err =
                check_database_url(&format!("postgres://db/x?sslrootcert={path}")).unwrap_err();
            assert!(err.contains("no PEM certificate"), "{err}");
        }
    }

    #[test]
    fn other_schemes_and_broken_urls_are_refused_without_echoing_them() {
        let err = check_database_url("mysql://u:hunter2@db/x").unwrap_err();
        assert!(err.contains("postgres://"), "{err}");
        let err = check_database_url("postgres://u:hunter2@db:notaport/x").unwrap_err();
        assert!(
            err.contains("not a valid URL") && !err.contains("hunter2"),
            "{err}"
        );
    }
}
