//! What the generator reads and sets on the machine: its file limit, the server's memory and
//! CPU from `/proc`, and the loopback source addresses that spread its connections.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Each source address has about 28,000 ephemeral ports; switch well before they run out.
const CONNECTIONS_PER_SOURCE: usize = 20_000;

/// Raises the soft open-file limit to the hard limit; answers the limit now in force.
pub fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
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
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks as f64 / hz)
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
}
