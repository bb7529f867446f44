//! Release downloads from GitHub that are archives, not packages: Traefik's
//! `traefik_<version>_linux_amd64.tar.gz` and `traefik_<version>_checksums.txt`.
//!
//! The tarball is a real gzip'd tar (so the guest's own `tar` and `sha256sum` work on it), whose
//! `traefik` entry is a symbolic link to the stand-in (as the Ollama installer's binary is):
//! extracting it puts a working `traefik` command in place without copying this executable.
//! The gzip stream uses stored (uncompressed) deflate blocks: valid for every decoder, and
//! deterministic (mtime 0), so the checksums file can be computed from it.

use sha2::{Digest, Sha256};

use super::net::Answer;
use crate::sandbox::STANDIN;

/// What `.../releases/download/<tag>/<file>` answers for Traefik's assets.
pub fn traefik(file: &str) -> Option<Answer> {
    let rest = file.strip_prefix("traefik_v")?;
    if let Some(version) = rest.strip_suffix("_linux_amd64.tar.gz") {
        return valid(version).then(|| Answer::Binary(tarball()));
    }
    let version = rest.strip_suffix("_checksums.txt")?;
    if !valid(version) {
        return None;
    }
    let sum = hex(&Sha256::digest(tarball()));
    Some(Answer::Http(
        200,
        format!("{sum}  traefik_v{version}_linux_amd64.tar.gz\n"),
    ))
}

/// `3.5.0`: three numbers.
fn valid(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The archive: `traefik` (link to the stand-in), `LICENSE.md`, `CHANGELOG.md`.
fn tarball() -> Vec<u8> {
    let mut tar = Vec::new();
    tar_entry(&mut tar, "traefik", b'2', STANDIN, b"");
    tar_entry(&mut tar, "LICENSE.md", b'0', "", b"The MIT License (MIT)\n");
    tar_entry(&mut tar, "CHANGELOG.md", b'0', "", b"# Changelog\n");
    tar.extend_from_slice(&[0u8; 1024]);
    gzip_stored(&tar)
}

/// One ustar header (+ data padded to 512 bytes). `kind`: `b'0'` file, `b'2'` symlink.
fn tar_entry(out: &mut Vec<u8>, name: &str, kind: u8, link: &str, data: &[u8]) {
    let mut h = [0u8; 512];
    let put = |h: &mut [u8; 512], at: usize, s: &[u8]| h[at..at + s.len()].copy_from_slice(s);
    put(&mut h, 0, name.as_bytes());
    put(
        &mut h,
        100,
        if kind == b'2' {
            b"0000777\0"
        } else {
            b"0000755\0"
        },
    );
    put(&mut h, 108, b"0000000\0");
    put(&mut h, 116, b"0000000\0");
    put(&mut h, 124, format!("{:011o}\0", data.len()).as_bytes());
    put(&mut h, 136, b"00000000000\0");
    put(&mut h, 148, b"        ");
    h[156] = kind;
    put(&mut h, 157, link.as_bytes());
    put(&mut h, 257, b"ustar\x0000");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    put(&mut h, 148, format!("{sum:06o}\0 ").as_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    let pad = (512 - data.len() % 512) % 512;
    out.extend(std::iter::repeat_n(0u8, pad));
}

/// RFC 1952 gzip of `data` with stored deflate blocks (RFC 1951 section 3.2.4).
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    let chunks: Vec<&[u8]> = data.chunks(65_535).collect();
    for (i, c) in chunks.iter().enumerate() {
        out.push(u8::from(i + 1 == chunks.len()));
        let len = c.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tarball_is_a_gzip_tar_that_tar_lists() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("t.tar.gz");
        std::fs::write(&f, tarball()).unwrap();
        let o = std::process::Command::new("tar")
            .arg("-tvzf")
            .arg(&f)
            .output()
            .unwrap();
        let list = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(list.contains(&format!("traefik -> {STANDIN}")), "{list}");
        assert!(list.contains("LICENSE.md"), "{list}");
    }

    #[test]
    fn checksums_name_the_tarball() {
        let Some(Answer::Http(200, t)) = traefik("traefik_v3.5.0_checksums.txt") else {
            panic!("no checksums")
        };
        assert!(t.ends_with("  traefik_v3.5.0_linux_amd64.tar.gz\n"), "{t}");
        assert!(traefik("traefik_vX_linux_amd64.tar.gz").is_none());
    }
}
