//! The admission loop's timing with tokio's paused clock: the ticker's cadence, and the
//! token bucket driven by three simulated replicas' loops for two virtual minutes.

use super::bucket::TokenBucket;
use super::Ticker;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[tokio::test(start_paused = true)]
async fn the_ticker_keeps_its_period_and_skips_missed_ticks() {
    let shutdown = CancellationToken::new();
    let mut ticker = Ticker::new(Duration::from_millis(100));
    let start = Instant::now();
    let mut at = Vec::new();
    for i in 0..5 {
        assert!(ticker.next(&shutdown).await);
        at.push(start.elapsed().as_millis());
        if i == 2 {
            // A step that overruns by 2.5 periods.
            tokio::time::sleep(Duration::from_millis(350)).await;
        }
    }
    // The late tick fires once at once (550), then the schedule resumes: no burst of
    // catch-up ticks for the periods missed.
    assert_eq!(at, vec![0, 100, 200, 550, 600]);
    shutdown.cancel();
    assert!(!ticker.next(&shutdown).await, "stops on shutdown");
}

/// Admissions in each whole minute after `start`, from `(time, count)` records.
fn per_minute(records: &[(Duration, u64)], minutes: u64) -> Vec<u64> {
    (0..minutes)
        .map(|m| {
            let range = Duration::from_secs(m * 60)..Duration::from_secs((m + 1) * 60);
            records
                .iter()
                .filter(|(t, _)| range.contains(t))
                .map(|(_, n)| n)
                .sum()
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn three_replicas_admit_exactly_the_rate() {
    for rate in [60u32, 600, 6_000, 100_000] {
        let bucket = Arc::new(Mutex::new(TokenBucket::default()));
        let records = Arc::new(Mutex::new(Vec::new()));
        let start = Instant::now();
        let end = start + Duration::from_secs(121);
        let mut replicas = tokio::task::JoinSet::new();
        for replica in 0..3u64 {
            let (bucket, records) = (bucket.clone(), records.clone());
            replicas.spawn(async move {
                // Replicas start out of phase; one of them stalls now and then.
                tokio::time::sleep(Duration::from_millis(replica * 37)).await;
                let mut ticker = Ticker::new(Duration::from_millis(100));
                let shutdown = CancellationToken::new();
                let mut n = 0u64;
                while ticker.next(&shutdown).await && Instant::now() < end {
                    let now = Instant::now() - start;
                    let taken = bucket.lock().unwrap().take(
                        1_000_000 + now.as_millis() as i64,
                        rate,
                        u64::MAX,
                        u64::MAX,
                    );
                    records.lock().unwrap().push((now, taken));
                    n += 1;
                    if replica == 2 && n.is_multiple_of(50) {
                        tokio::time::sleep(Duration::from_millis(730)).await;
                    }
                }
            });
        }
        while let Some(r) = replicas.join_next().await {
            r.unwrap();
        }
        let records = records.lock().unwrap();
        // Exact up to the last call: floor(rate * elapsed), whatever the interleaving.
        let last = records.iter().map(|(t, _)| *t).max().unwrap();
        let total: u64 = records.iter().map(|(_, n)| n).sum();
        let ideal = last.as_millis() as u64 * u64::from(rate) / 60_000;
        assert_eq!(total, ideal, "rate {rate}");
        // Per minute, the unit venues set the rate in: within 1% (and one admission: a minute
        // boundary falls between two calls).
        for (m, n) in per_minute(&records, 2).iter().enumerate() {
            let diff = (*n as f64 - f64::from(rate)).abs();
            let tolerance = (f64::from(rate) * 0.01).max(1.0);
            assert!(diff <= tolerance, "rate {rate}, minute {m}: {n}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_replica_that_stops_changes_nothing() {
    // Two replicas, one of which dies after 30 s: the survivor keeps the rate alone.
    let bucket = Arc::new(Mutex::new(TokenBucket::default()));
    let start = Instant::now();
    let total = Arc::new(Mutex::new((0u64, Duration::ZERO)));
    let mut replicas = tokio::task::JoinSet::new();
    for life in [Duration::from_secs(30), Duration::from_secs(60)] {
        let (bucket, total) = (bucket.clone(), total.clone());
        replicas.spawn(async move {
            let mut ticker = Ticker::new(Duration::from_millis(100));
            let shutdown = CancellationToken::new();
            while ticker.next(&shutdown).await && start.elapsed() < life {
                let at = start.elapsed();
                let taken = bucket.lock().unwrap().take(
                    5_000 + at.as_millis() as i64,
                    1_200,
                    u64::MAX,
                    u64::MAX,
                );
                let mut t = total.lock().unwrap();
                t.0 += taken;
                t.1 = t.1.max(at);
            }
        });
    }
    while let Some(r) = replicas.join_next().await {
        r.unwrap();
    }
    let (admitted, last) = *total.lock().unwrap();
    assert_eq!(admitted, last.as_millis() as u64 * 1_200 / 60_000);
    assert!(admitted >= 1_198, "{admitted}");
}
