//! Proxmox task ids: `UPID:$node:$pid:$pstart:$starttime:$type:$id:$user:`, the first three
//! numbers in upper-case hex (`PVE::Tools::upid_encode`).

use std::fmt;

/// A decoded UPID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upid {
    pub node: String,
    pub pid: u32,
    pub pstart: u64,
    pub starttime: u64,
    /// Task type (`vzcreate`, `qmclone`, ...).
    pub kind: String,
    /// Usually the guest id; may be empty.
    pub id: String,
    /// `user@realm` or `user@realm!token`.
    pub user: String,
}

impl Upid {
    /// Parses a UPID as `PVE::Tools::upid_decode` accepts it.
    pub fn parse(s: &str) -> Option<Upid> {
        let rest = s.strip_prefix("UPID:")?.strip_suffix(':')?;
        let f: Vec<&str> = rest.split(':').collect();
        if f.len() != 7 {
            return None;
        }
        let node_ok = !f[0].is_empty()
            && f[0].chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !f[0].starts_with('-')
            && !f[0].ends_with('-');
        let hex = |s: &str, lens: std::ops::RangeInclusive<usize>| {
            (lens.contains(&s.len()) && s.chars().all(|c| c.is_ascii_hexdigit()))
                .then(|| u64::from_str_radix(s, 16).ok())
                .flatten()
        };
        let no_space = |s: &str| !s.chars().any(char::is_whitespace);
        if !node_ok || f[4].is_empty() || !no_space(f[4]) || !no_space(f[5]) || f[6].is_empty() {
            return None;
        }
        Some(Upid {
            node: f[0].to_string(),
            pid: hex(f[1], 8..=8)? as u32,
            pstart: hex(f[2], 8..=9)?,
            starttime: hex(f[3], 8..=8)?,
            kind: f[4].to_string(),
            id: f[5].to_string(),
            user: f[6].to_string(),
        })
    }
}

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UPID:{}:{:08X}:{:08X}:{:08X}:{}:{}:{}:",
            self.node, self.pid, self.pstart, self.starttime, self.kind, self.id, self.user
        )
    }
}

/// Whether a task's `exitstatus` means success (`OK`, or `WARNINGS: N`), as
/// `PVE::UPID::status_is_error` decides.
pub fn status_is_ok(status: &str) -> bool {
    status == "OK"
        || status
            .strip_prefix("WARNINGS: ")
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let s = "UPID:pve:00001A2B:0003C4D5:65A1B2C3:vzclone:950:phoenix@pve!ci:";
        let u = Upid::parse(s).unwrap();
        assert_eq!(u.node, "pve");
        assert_eq!(u.kind, "vzclone");
        assert_eq!(u.id, "950");
        assert_eq!(u.user, "phoenix@pve!ci");
        assert_eq!(u.to_string(), s);
        assert!(Upid::parse("UPID:pve:1:2:3:x:y:z:").is_none());
        assert!(Upid::parse("pve:00001A2B:0003C4D5:65A1B2C3:vzclone:950:root@pam:").is_none());
    }

    #[test]
    fn exit_statuses() {
        assert!(status_is_ok("OK"));
        assert!(status_is_ok("WARNINGS: 2"));
        assert!(!status_is_ok("WARNINGS: "));
        assert!(!status_is_ok(
            "can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout"
        ));
        assert!(!status_is_ok("unexpected status"));
    }
}
