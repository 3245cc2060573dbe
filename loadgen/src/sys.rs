//! What the generator reads and sets on the machine: its file limit, the memory and CPU of the
//! server (and the CPU of the database) from `/proc`, and the loopback source addresses that
//! spread its connections.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Each source address has about 28,000 ephemeral ports; switch well before they run out.
const CONNECTIONS_PER_SOURCE: usize = 20_000;

/// Raises the soft open-file limit to the hard limit; answers the limit now in force.
pub fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, exclusively borrowed rlimit for the calls to read and write.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        }
    }
    limit.rlim_cur
}

/// The loopback address connection number `n` should come from: 127.0.0.1, then .2, .3, ...
pub fn source_for(n: usize) -> SocketAddr {
    let k = 1 + (n / CONNECTIONS_PER_SOURCE) as u8;
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, k)), 0)
}

/// Resident memory of all of `pids` together, in KiB; `None` when there are none to watch.
pub fn total_rss_kib(pids: &[u32]) -> Option<u64> {
    (!pids.is_empty()).then(|| pids.iter().filter_map(|p| rss_kib(*p)).sum())
}

/// Resident memory of `pid`, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// User plus system CPU time `pid` has used, in seconds.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = Stat::read(pid)?;
    Some(ticks_to_secs(
        stat.number(STAT_UTIME)? + stat.number(STAT_STIME)?,
    ))
}

/// CPU time of `pid` and of all its children, those running and those that have exited, in
/// seconds: PostgreSQL does its work in the postmaster's children, which come and go.
pub fn tree_cpu_secs(pid: u32) -> Option<f64> {
    let root = Stat::read(pid)?;
    let mut ticks = [STAT_UTIME, STAT_STIME, STAT_CUTIME, STAT_CSTIME]
        .iter()
        .map(|&field| root.number(field))
        .sum::<Option<u64>>()?;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if let Some(stat) = Stat::read(child).filter(|s| s.number(STAT_PPID) == Some(pid.into())) {
            ticks += stat.number(STAT_UTIME).unwrap_or(0) + stat.number(STAT_STIME).unwrap_or(0);
        }
    }
    Some(ticks_to_secs(ticks))
}

// Fields of /proc/PID/stat, counted from the one after the command name (proc(5) numbers them
// from 1 including pid and name, so these are its numbers less 3).
const STAT_PPID: usize = 1;
const STAT_UTIME: usize = 11;
const STAT_STIME: usize = 12;
const STAT_CUTIME: usize = 13;
const STAT_CSTIME: usize = 14;

/// A process's /proc/PID/stat, split after the command name (which may hold spaces).
struct Stat(Vec<String>);

impl Stat {
    fn read(pid: u32) -> Option<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let fields = stat.rsplit_once(')')?.1.split_whitespace();
        Some(Stat(fields.map(str::to_owned).collect()))
    }

    /// A numeric field: a pid, or a CPU time in clock ticks.
    fn number(&self, field: usize) -> Option<u64> {
        self.0.get(field)?.parse().ok()
    }
}

fn ticks_to_secs(ticks: u64) -> f64 {
    // SAFETY: sysconf takes a constant name and touches no memory of ours.
    ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_rotate_over_loopback() {
        assert_eq!(source_for(0).ip().to_string(), "127.0.0.1");
        assert_eq!(source_for(19_999).ip().to_string(), "127.0.0.1");
        assert_eq!(source_for(20_000).ip().to_string(), "127.0.0.2");
    }

    #[test]
    fn reads_its_own_process() {
        let me = std::process::id();
        assert!(rss_kib(me).unwrap() > 0);
        assert!(cpu_secs(me).is_some());
    }

    #[test]
    fn counts_the_cpu_of_children() {
        let me = std::process::id();
        let before = tree_cpu_secs(me).unwrap();
        // A child that burns CPU until it exits; its time joins ours once it is waited for.
        let status = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
            .status()
            .unwrap();
        assert!(status.success());
        let after = tree_cpu_secs(me).unwrap();
        assert!(after - before >= 0.05, "{before} -> {after}");
        assert!(after >= cpu_secs(me).unwrap());
    }
}
