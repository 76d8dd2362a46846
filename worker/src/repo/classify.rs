//! Whether retrying a failed PostgreSQL call can help.
//!
//! A group commit that fails is either **transient** (the connection, the server or the
//! transaction's luck failed: the same batch may commit if retried) or **permanent**
//! (PostgreSQL refused the data itself: the same statements fail the same way every
//! time). The shard loop retries only transient failures with backoff; a permanent one
//! is isolated by splitting the batch (`shard/isolate.rs`), so one command PostgreSQL
//! can never store does not stall every other command of its shard.
//!
//! The SQLSTATE codes are PostgreSQL's (Appendix A, "PostgreSQL Error Codes"): the first
//! two characters are the class.

/// Retrying can help with `e`: the connection or server failed, or the transaction lost
/// a race. Everything else (data exceptions, constraint violations, encode and decode
/// errors, SQL the server refuses) fails the same way when retried.
///
/// Transient:
/// - client side: I/O, TLS, protocol hiccups, pool acquire timeout, pool closed, the
///   connection worker gone, `BEGIN` failed;
/// - SQLSTATE class `08` (connection exception), `53` (insufficient resources: disk
///   full, out of memory, too many connections), `58` (system error: I/O outside
///   PostgreSQL);
/// - `40001` serialization failure, `40P01` deadlock, `40003` statement completion
///   unknown;
/// - `57014` query canceled (statement timeout), `57P01`/`57P02` administrator or
///   crash shutdown, `57P03` cannot connect now (starting up, recovering);
/// - `55P03` lock not available, `25P03` idle-in-transaction timeout, `25006` read-only
///   transaction (connected to a standby during a failover).
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| transient_sqlstate(&c)),
        _ => false,
    }
}

/// Whether SQLSTATE `code` names a transient condition (see [`is_transient`]).
pub fn transient_sqlstate(code: &str) -> bool {
    matches!(
        code,
        "40001"
            | "40P01"
            | "40003"
            | "57014"
            | "57P01"
            | "57P02"
            | "57P03"
            | "55P03"
            | "25P03"
            | "25006"
    ) || ["08", "53", "58"]
        .iter()
        .any(|class| code.starts_with(class))
}

/// The SQLSTATE of `e`, when PostgreSQL answered with an error.
pub fn sqlstate(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// Whether `e` is a data exception (SQLSTATE class `22`: a value the column cannot
/// take, such as a NUL byte in text `22021` or a bad Unicode escape in JSON `22P05`).
/// Raised by a command's own writes, it means the command's input was at fault.
pub fn is_data_exception(e: &sqlx::Error) -> bool {
    sqlstate(e).is_some_and(|c| c.starts_with("22"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_are_transient() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(is_transient(&sqlx::Error::Io(io)));
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(is_transient(&sqlx::Error::PoolClosed));
        assert!(is_transient(&sqlx::Error::Protocol("unexpected".into())));
    }

    #[test]
    fn encode_and_decode_errors_are_permanent() {
        assert!(!is_transient(&sqlx::Error::Decode("bad".into())));
        assert!(!is_transient(&sqlx::Error::Encode("bad".into())));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
    }

    #[test]
    fn sqlstate_classes() {
        for code in [
            "08006", "08000", "40001", "40P01", "57014", "57P01", "57P03", "53300", "53100",
            "25006",
        ] {
            assert!(transient_sqlstate(code), "{code}");
        }
        for code in [
            "22021", "22P05", "22001", "23505", "23514", "42703", "P0001", "XX000",
        ] {
            assert!(!transient_sqlstate(code), "{code}");
        }
    }
}
