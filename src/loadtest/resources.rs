//! What a run needs of the machine and reads of it: the descriptors its open sockets take, checked
//! against what the process may open before anything starts, and a process's resident memory and
//! CPU time.

use crate::startup::DESCRIPTORS_RESERVED;
use std::time::Duration;

/// Descriptors the harness keeps beside the sockets it counts: the runtime's, the admin's client,
/// stdio, the JSON report.
const HARNESS_SPARE: u64 = 128;

/// The sockets a run keeps open at once, and whether both their ends are in this process (the
/// `--embedded` server's and the harness's).
#[derive(Debug, Clone, Copy)]
pub struct SocketBudget {
    /// One connection each that lives as long as the run: the event streams.
    pub held: u64,
    /// Connections beside them: readers, joins in flight, leaves.
    pub beside: u64,
    pub both_ends: bool,
}

impl SocketBudget {
    fn ends(&self) -> u64 {
        if self.both_ends {
            2
        } else {
            1
        }
    }

    /// Descriptors kept from sockets: the harness's own, and the embedded server's when it is here.
    fn spare(&self) -> u64 {
        HARNESS_SPARE + if self.both_ends { DESCRIPTORS_RESERVED } else { 0 }
    }

    /// Descriptors the run needs at its most.
    pub fn needed(&self) -> u64 {
        self.ends() * (self.held + self.beside) + self.spare()
    }

    /// The most held connections that fit in `limit` descriptors beside the rest.
    pub fn held_max(&self, limit: u64) -> u64 {
        (limit.saturating_sub(self.spare()) / self.ends()).saturating_sub(self.beside)
    }

    /// Refuses, with the figures, a run that would run out of descriptors half way; `limit` is
    /// what the process may open (None: unlimited or unknown, then nothing is refused).
    pub fn check(&self, what: &str, limit: Option<u64>) -> Result<(), String> {
        let Some(limit) = limit.filter(|limit| self.needed() > *limit) else {
            return Ok(());
        };
        let ends = match self.both_ends {
            true => "two descriptors a connection, the embedded server's end and the harness's",
            false => "one descriptor a connection",
        };
        Err(format!(
            "{what} {} needs {} descriptors ({ends}, with {} more connections beside them and {} kept \
             spare), but this process may open {limit} (its hard limit, `ulimit -Hn`): at most {} fit{}",
            self.held,
            self.needed(),
            self.beside,
            self.spare(),
            self.held_max(limit),
            match self.both_ends {
                true => "; a server started on its own (--url) holds twice as many",
                false => "",
            }
        ))
    }
}

/// The resident memory of this process (None) or of process `pid`, in bytes; None when it
/// cannot be read.
pub fn resident_bytes(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_string(),
    };
    vm_rss_bytes(&std::fs::read_to_string(path).ok()?)
}

/// The CPU time, user and system, this process (None) or process `pid` has used; None when it
/// cannot be read.
pub fn cpu_time(pid: Option<u32>) -> Option<Duration> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    // SAFETY: sysconf only reads a configuration value.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = cpu_ticks(&std::fs::read_to_string(path).ok()?)?;
    let ticks_per_second = u64::try_from(ticks_per_second).ok().filter(|ticks| *ticks > 0)?;
    Some(Duration::from_secs_f64(ticks as f64 / ticks_per_second as f64))
}

/// `utime` plus `stime` of a `/proc/…/stat`, in clock ticks: its 14th and 15th fields, counted
/// after the command's name, which is in parentheses and may hold spaces.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // The state, the 3rd field, is the first after the name.
    let field = |number: usize| fields.get(number - 3)?.parse::<u64>().ok();
    Some(field(14)? + field(15)?)
}

/// The `VmRSS` line of a `/proc/…/status`, in bytes.
fn vm_rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|line| line.strip_prefix("VmRSS:"))?;
    let kilobytes: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kilobytes * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_embedded_run_counts_both_ends_and_the_servers_reserve() {
        let budget = SocketBudget {
            held: 9_000,
            beside: 300,
            both_ends: true,
        };
        assert_eq!(budget.needed(), 2 * 9_300 + 128 + DESCRIPTORS_RESERVED);
        assert!(budget.check("--watchers", Some(20_000)).is_ok());
        let too_many = SocketBudget { held: 12_000, ..budget };
        let refusal = too_many.check("--watchers", Some(20_000)).unwrap_err();
        assert!(
            refusal.starts_with("--watchers 12000 needs 24856 descriptors"),
            "{refusal}"
        );
        assert!(refusal.contains("may open 20000"), "{refusal}");
        assert!(refusal.contains("at most 9572 fit"), "{refusal}");
        assert_eq!(too_many.check("--watchers", None), Ok(()), "an unlimited process");
    }

    #[test]
    fn a_remote_server_leaves_the_harness_one_end_only() {
        let budget = SocketBudget {
            held: 19_000,
            beside: 300,
            both_ends: false,
        };
        assert_eq!(budget.held_max(20_000), 20_000 - 128 - 300);
        assert!(budget.check("--watchers", Some(20_000)).is_ok());
    }

    #[test]
    fn the_resident_memory_is_read_in_bytes() {
        let status = "Name:\tloadtest\nVmPeak:\t  900 kB\nVmRSS:\t    2048 kB\nThreads:\t4\n";
        assert_eq!(vm_rss_bytes(status), Some(2 * 1024 * 1024));
        assert_eq!(vm_rss_bytes("Name:\tx\n"), None);
        assert!(resident_bytes(None).is_some_and(|bytes| bytes > 0));
    }

    #[test]
    fn the_cpu_time_is_user_and_system_ticks_after_the_name() {
        let stat = "4242 (load test) S 1 4242 4242 0 -1 4194560 500 0 0 0 170 30 0 0 20 0 9 0 100 0";
        assert_eq!(cpu_ticks(stat), Some(200));
        assert_eq!(cpu_ticks("4242 (x) S 1"), None);
        assert!(cpu_time(None).is_some());
    }
}
