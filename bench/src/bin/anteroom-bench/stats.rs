//! Results of one run and the printed table.

use crate::cpu::CpuByComponent;
use std::time::Duration;

/// What one run measured.
#[derive(Debug, Clone)]
pub(crate) struct RunResult {
    /// `a group commit`, `b txn/command`, `c lock/seat`, ...
    pub(crate) design: String,
    pub(crate) workload: &'static str,
    /// Holds issued.
    pub(crate) ops: usize,
    /// Holds that got seats.
    pub(crate) committed: usize,
    /// Holds answered (held or refused).
    pub(crate) decided: usize,
    /// First request to last answer.
    pub(crate) wall: Duration,
    /// Per answered hold, request to answer, in µs.
    pub(crate) latencies_us: Vec<u64>,
    /// Worker designs: mean commands per group commit and mean commit time (ms).
    pub(crate) batch: Option<(f64, f64)>,
    /// 1-minute load average when the run started.
    pub(crate) load: f64,
    /// CPU time per component during the load phase.
    pub(crate) cpu: CpuByComponent,
}

impl RunResult {
    pub(crate) fn committed_per_s(&self) -> f64 {
        self.committed as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    pub(crate) fn decided_per_s(&self) -> f64 {
        self.decided as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile (0..=1) of the latencies, in ms.
    pub(crate) fn quantile_ms(&self, q: f64) -> f64 {
        quantile_us(&self.latencies_us, q) as f64 / 1000.0
    }
}

/// Nearest-rank quantile of `values` (sorted or not); 0 when empty.
pub(crate) fn quantile_us(values: &[u64], q: f64) -> u64 {
    if values.is_empty() {
        return 0;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// The 1-minute load average (`/proc/loadavg`), 0 if unreadable.
pub(crate) fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|l| l.parse().ok()))
        .unwrap_or(0.0)
}

/// Prints the table and the (a)/(c) ratios.
pub(crate) fn print_table(results: &[RunResult]) {
    println!();
    println!(
        "{:<22} {:<8} {:>7} {:>12} {:>11} {:>8} {:>8} {:>7} {:>10} {:>5}",
        "design",
        "workload",
        "ops",
        "committed/s",
        "decided/s",
        "p50 ms",
        "p99 ms",
        "batch",
        "commit ms",
        "load"
    );
    for r in results {
        let (batch, commit) = match r.batch {
            Some((b, c)) => (format!("{b:.0}"), format!("{c:.1}")),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:<22} {:<8} {:>7} {:>12.0} {:>11.0} {:>8.1} {:>8.1} {:>7} {:>10} {:>5.1}",
            r.design,
            r.workload,
            r.ops,
            r.committed_per_s(),
            r.decided_per_s(),
            r.quantile_ms(0.5),
            r.quantile_ms(0.99),
            batch,
            commit,
            r.load
        );
    }
    println!();
    for workload in ["uniform", "hot"] {
        let find = |prefix: &str| {
            results
                .iter()
                .find(|r| r.design.starts_with(prefix) && r.workload == workload)
        };
        if let (Some(a), Some(c)) = (find("(a)"), find("(c)")) {
            println!(
                "(a)/(c) {workload}: {:.1}x committed/s, {:.1}x decided/s",
                a.committed_per_s() / c.committed_per_s().max(1e-9),
                a.decided_per_s() / c.decided_per_s().max(1e-9)
            );
        }
    }
}

/// Prints CPU ms per 1000 decided holds per component, and cores busy (all components'
/// CPU time over wall time).
pub(crate) fn print_cpu_table(results: &[RunResult]) {
    let Some(first) = results.iter().find(|r| !r.cpu.is_empty()) else {
        return;
    };
    let names: Vec<&str> = first.cpu.keys().copied().collect();
    println!();
    print!("{:<22} {:<8}", "CPU ms per 1000 holds", "workload");
    for n in &names {
        print!(" {n:>13}");
    }
    println!(" {:>8} {:>6}", "total", "cores");
    for r in results.iter().filter(|r| !r.cpu.is_empty()) {
        let per_k = |d: Duration| d.as_secs_f64() * 1e6 / r.decided.max(1) as f64;
        print!("{:<22} {:<8}", r.design, r.workload);
        for n in &names {
            print!(
                " {:>13.0}",
                per_k(r.cpu.get(n).copied().unwrap_or_default())
            );
        }
        let total: Duration = r.cpu.values().sum();
        println!(
            " {:>8.0} {:>6.2}",
            per_k(total),
            total.as_secs_f64() / r.wall.as_secs_f64().max(1e-9)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::quantile_us;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile_us(&v, 0.5), 50);
        assert_eq!(quantile_us(&v, 0.99), 99);
        assert_eq!(quantile_us(&v, 1.0), 100);
        assert_eq!(quantile_us(&[], 0.5), 0);
    }
}
