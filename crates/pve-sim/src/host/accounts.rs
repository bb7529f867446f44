//! Users and sharing: `id`, `getent`, `useradd`, `usermod`, `chpasswd`, `smbpasswd`, `pdbedit`,
//! `exportfs`.

use std::io::Read;

use super::state::{Host, User};
use super::{Args, Out};

fn valid_user(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 32
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b))
}

/// Group IDs: the user's own group has the user's ID; a few Debian system groups are fixed.
fn gid_of(h: &Host, group: &str) -> u32 {
    match group {
        "root" => 0,
        "sudo" => 27,
        "users" => 100,
        g => h.state.users.get(g).map_or(1999, |u| u.uid),
    }
}

/// `id [-u|-g|-nG|-G] [USER]` (no user: root).
pub fn id(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(a, &[]);
    let name = args.pos.first().map_or("root", String::as_str);
    let Some(u) = h.state.users.get(name) else {
        return Out::err(1, format!("id: '{name}': no such user"));
    };
    let mut groups: Vec<String> = vec![name.to_string()];
    groups.extend(u.groups.iter().cloned());
    let text = if args.has(&["u", "user", "g", "group"]) {
        format!("{}\n", u.uid)
    } else if args.has(&["G", "groups"]) && args.has(&["n", "name"]) {
        format!("{}\n", groups.join(" "))
    } else if args.has(&["G", "groups"]) {
        format!(
            "{}\n",
            groups
                .iter()
                .map(|g| gid_of(h, g).to_string())
                .collect::<Vec<_>>()
                .join(" ")
        )
    } else {
        let list: Vec<String> = groups
            .iter()
            .map(|g| format!("{}({g})", gid_of(h, g)))
            .collect();
        format!(
            "uid={0}({name}) gid={0}({name}) groups={1}\n",
            u.uid,
            list.join(",")
        )
    };
    Out::ok(text)
}

/// `getent passwd|shadow|group KEY`: exit 2 when the key is unknown.
pub fn getent(h: &mut Host, a: &[String]) -> Out {
    let (Some(db), Some(key)) = (a.first(), a.get(1)) else {
        return Out::err(1, "pve-sim: getent needs a database and a key");
    };
    let Some(u) = h.state.users.get(key) else {
        return Out {
            code: 2,
            ..Out::default()
        };
    };
    match db.as_str() {
        "passwd" => Out::ok(format!(
            "{key}:x:{0}:{0}::{1}:{2}\n",
            u.uid, u.home, u.shell
        )),
        "shadow" => Out::ok(format!("{key}:{}:20000:0:99999:7:::\n", u.password_hash)),
        "group" => Out::ok(format!("{key}:x:{}:\n", u.uid)),
        other => Out::err(1, format!("Unknown database: {other}")),
    }
}

/// `useradd [-m|-M] [-s SHELL] [-d HOME] [-G GROUPS] [-u UID] [-r] NAME`.
pub fn useradd(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(
        a,
        &[
            "s", "shell", "d", "home-dir", "G", "groups", "u", "uid", "c", "comment", "g", "gid",
        ],
    );
    let Some(name) = args.pos.first() else {
        return Out::err(2, "Usage: useradd [options] LOGIN");
    };
    if !valid_user(name) {
        return Out::err(3, format!("useradd: invalid user name '{name}'"));
    }
    if h.state.users.contains_key(name) {
        return Out::err(9, format!("useradd: user '{name}' already exists"));
    }
    let uid = match args.val(&["u", "uid"]) {
        Some(v) => match v.parse() {
            Ok(n) => n,
            Err(_) => return Out::err(3, format!("useradd: invalid user ID '{v}'")),
        },
        None => h
            .state
            .users
            .values()
            .map(|u| u.uid)
            .filter(|u| *u >= 1000)
            .max()
            .map_or(1000, |m| m + 1),
    };
    let home = args
        .val(&["d", "home-dir"])
        .map_or_else(|| format!("/home/{name}"), str::to_string);
    let user = User {
        uid,
        home: home.clone(),
        shell: args.val(&["s", "shell"]).unwrap_or("/bin/sh").to_string(),
        groups: args
            .val(&["G", "groups"])
            .map(|g| g.split(',').map(str::to_string).collect())
            .unwrap_or_default(),
        password_hash: "!".into(),
    };
    h.state.users.insert(name.clone(), user);
    if args.has(&["m", "create-home"]) {
        let _ = std::fs::create_dir_all(h.host_path(&home));
    }
    Out::changed("")
}

/// `usermod [-a] -G GROUPS | -s SHELL | -p HASH | -L | -U USER`.
pub fn usermod(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(
        a,
        &["G", "groups", "s", "shell", "p", "password", "d", "home"],
    );
    let Some(name) = args.pos.first() else {
        return Out::err(2, "Usage: usermod [options] LOGIN");
    };
    let Some(u) = h.state.users.get_mut(name) else {
        return Out::err(6, format!("usermod: user '{name}' does not exist"));
    };
    if let Some(g) = args.val(&["G", "groups"]) {
        if !args.has(&["a", "append"]) {
            u.groups.clear();
        }
        u.groups
            .extend(g.split(',').filter(|s| !s.is_empty()).map(str::to_string));
    }
    if let Some(s) = args.val(&["s", "shell"]) {
        u.shell = s.to_string();
    }
    if let Some(p) = args.val(&["p", "password"]) {
        u.password_hash = p.to_string();
    }
    if args.has(&["L", "lock"]) && !u.password_hash.starts_with('!') {
        u.password_hash.insert(0, '!');
    }
    if args.has(&["U", "unlock"]) {
        u.password_hash = u.password_hash.trim_start_matches('!').to_string();
    }
    Out::changed("")
}

/// `chpasswd [-e]`: `user:password` lines on stdin (`-e`: already hashed).
pub fn chpasswd(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(a, &["c", "crypt-method"]);
    let mut input = String::new();
    if std::io::stdin().read_to_string(&mut input).is_err() {
        return Out::err(1, "chpasswd: cannot read standard input");
    }
    for (i, line) in input.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        let Some((user, secret)) = line.split_once(':') else {
            return Out::err(1, format!("chpasswd: line {}: missing new password", i + 1));
        };
        let Some(u) = h.state.users.get_mut(user) else {
            return Out::err(
                1,
                format!("chpasswd: line {}: user '{user}' does not exist", i + 1),
            );
        };
        // Plain passwords are not hashed by the stand-in; it records that one was set.
        u.password_hash = if args.has(&["e", "encrypted"]) {
            secret.to_string()
        } else {
            "$pve-sim$plain-password-set".into()
        };
    }
    Out::changed("")
}

/// `smbpasswd -a [-n] [-s] USER`, `-x USER`, `-d USER`, `-e USER`.
pub fn smbpasswd(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(a, &[]);
    let Some(user) = args.pos.first() else {
        return Out::err(1, "pve-sim: smbpasswd needs a user name");
    };
    if args.has(&["x"]) {
        if !h.state.samba_users.remove(user) {
            return Out::err(1, format!("Failed to find entry for user {user}."));
        }
        return Out::changed(format!("Deleted user {user}.\n"));
    }
    if !h.state.users.contains_key(user) {
        return Out::err(1, format!("Failed to add entry for user {user}."));
    }
    if args.has(&["s"]) {
        let mut sink = String::new();
        let _ = std::io::stdin().read_to_string(&mut sink);
    }
    if args.has(&["a"]) {
        h.state.samba_users.insert(user.clone());
        return Out::changed(format!("Added user {user}.\n"));
    }
    if !h.state.samba_users.contains(user) {
        return Out::err(1, format!("Failed to find entry for user {user}."));
    }
    Out::changed("")
}

/// `pdbedit -L [-u USER]`.
pub fn pdbedit(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(a, &["u", "user"]);
    let uid = |n: &str| h.state.users.get(n).map_or(0, |u| u.uid);
    match args.val(&["u", "user"]) {
        Some(user) if h.state.samba_users.contains(user) => {
            Out::ok(format!("{user}:{}:\n", uid(user)))
        }
        Some(user) => Out::err(255, format!("Username not found! ({user})")),
        None => Out::ok(
            h.state
                .samba_users
                .iter()
                .map(|n| format!("{n}:{}:\n", uid(n)))
                .collect::<String>(),
        ),
    }
}

/// `exportfs -r|-a|-ra` reads `<host root>/etc/exports`; `exportfs [-v]` lists the active exports.
pub fn exportfs(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(a, &["o", "i"]);
    if !args.has(&["r", "a"]) {
        return Out::ok(
            h.state
                .exports
                .iter()
                .map(|e| format!("{e}\n"))
                .collect::<String>(),
        );
    }
    let text = std::fs::read_to_string(h.host_path("/etc/exports")).unwrap_or_default();
    let mut exports = Vec::new();
    let mut warn = String::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let path = line.split_whitespace().next().unwrap_or("");
        if !h.host_path(path).is_dir() {
            warn.push_str(&format!(
                "exportfs: Failed to stat {path}: No such file or directory\n"
            ));
        }
        exports.push(line.to_string());
    }
    h.state.exports = exports;
    Out {
        stderr: warn,
        mutating: true,
        ..Out::default()
    }
}
