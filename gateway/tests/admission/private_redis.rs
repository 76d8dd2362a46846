//! A `redis-server` of one test's own, on a free loopback port, without persistence,
//! killed on drop: its `INFO commandstats` counts that test's commands and no other's.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private Redis server (`ANTEROOM_TEST_REDIS_SERVER`, default `redis-server` on PATH).
pub(crate) struct PrivateRedis {
    child: Child,
    /// `redis://127.0.0.1:{port}`.
    pub(crate) url: String,
}

/// Calls per command name (`get`, `evalsha`, `client|setname`...), from
/// `INFO commandstats`. Commands that scripts run are counted under their own names.
pub(crate) type CommandStats = BTreeMap<String, u64>;

impl PrivateRedis {
    /// Starts the server and waits until it answers `PING` (at most 10 s).
    pub(crate) fn start() -> Self {
        // A port the kernel just handed out and released: free unless another process
        // takes it in the next milliseconds (then the server fails to start, and so does
        // this test, loudly).
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("Failed to find a free loopback port")
            .port();
        let program =
            std::env::var("ANTEROOM_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&program)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("Failed to start {program} (install redis-server): {e}"));
        let redis = Self {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        };
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let pong: Option<String> = redis::Client::open(redis.url.as_str())
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("PING").query(&mut c))
                .ok();
            if pong.as_deref() == Some("PONG") {
                return redis;
            }
            assert!(
                Instant::now() < until,
                "{program} on port {port} never answered"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's command counters since it started.
    pub(crate) fn commandstats(&self) -> CommandStats {
        let client = redis::Client::open(self.url.as_str()).expect("Redis URL");
        let mut conn = client.get_connection().expect("private Redis connection");
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut conn)
            .expect("INFO commandstats");
        parse_commandstats(&info)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cmdstat_get:calls=3,usec=...` lines into `{"get": 3}`.
pub(crate) fn parse_commandstats(info: &str) -> CommandStats {
    info.lines()
        .filter_map(|line| {
            let (name, fields) = line.trim().strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = fields
                .split(',')
                .find_map(|f| f.strip_prefix("calls="))?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

/// What `after` counted more than `before`, per command (zeros left out).
pub(crate) fn delta(before: &CommandStats, after: &CommandStats) -> CommandStats {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}
