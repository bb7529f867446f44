//! Parameters on the wire as Proxmox's HTTP server reads them (`PVE::APIServer::AnyEvent`):
//! `application/x-www-form-urlencoded`, in the query for GET and DELETE and in the body for
//! POST and PUT; an array is the same field repeated (the server turns repeated fields into a
//! list, and a single value into a one-element list where the schema wants an array).

use std::collections::BTreeMap;

use pve::api::Value;

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Encodes a request path: characters allowed in a path segment (RFC 3986 `pchar`: `:`, `@`,
/// `!` and friends, as in UPIDs and volume ids) stay, `/` separates segments, the rest is escaped.
pub fn path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for b in p.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `k=v&k=v2...` in parameter order, list values as repeated fields.
pub fn form(params: &BTreeMap<String, Value>) -> String {
    let mut parts = Vec::new();
    for (k, v) in params {
        match v {
            Value::Str(s) => parts.push(format!("{}={}", component(k), component(s))),
            Value::List(l) => {
                for s in l {
                    parts.push(format!("{}={}", component(k), component(s)));
                }
            }
        }
    }
    parts.join("&")
}

/// Decodes a form or query string back into parameters (repeated fields become a list).
pub fn parse_form(s: &str) -> BTreeMap<String, Value> {
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for part in s.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let (k, v) = (unescape(k), unescape(v));
        let merged = match out.remove(&k) {
            None => Value::Str(v),
            Some(Value::Str(old)) => Value::List(vec![old, v]),
            Some(Value::List(mut l)) => {
                l.push(v);
                Value::List(l)
            }
        };
        out.insert(k, merged);
    }
    out
}

/// `+` is a space, `%XX` a byte; invalid escapes stay as they are; bytes are read as UTF-8.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_round_trip_with_lists_and_odd_characters() {
        let mut p = BTreeMap::new();
        p.insert(
            "command".to_string(),
            Value::List(vec!["sh".into(), "-c".into(), "a b&c=d".into()]),
        );
        p.insert(
            "net0".to_string(),
            Value::Str("name=eth0,ip=10.0.0.2/24".into()),
        );
        p.insert("description".to_string(), Value::Str("ümlaut 100%".into()));
        let f = form(&p);
        assert_eq!(
            f,
            "command=sh&command=-c&command=a%20b%26c%3Dd&description=%C3%BCmlaut%20100%25&net0=name%3Deth0%2Cip%3D10.0.0.2%2F24"
        );
        assert_eq!(parse_form(&f), p);
        assert_eq!(unescape("a+b%2"), "a b%2");
    }

    #[test]
    fn paths_keep_upids_and_escape_spaces() {
        assert_eq!(
            path("/nodes/pve/tasks/UPID:pve:0000A:00B:00C:vzstart:950:root@pam!ci:/status"),
            "/nodes/pve/tasks/UPID:pve:0000A:00B:00C:vzstart:950:root@pam!ci:/status"
        );
        assert_eq!(path("/a b/%"), "/a%20b/%25");
    }
}
