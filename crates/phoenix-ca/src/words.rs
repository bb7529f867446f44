//! Splitting a configured command line into an argv, as a POSIX shell would split one simple
//! command, and refusing anything a shell would do more with (`;`, `|`, `&`, redirections,
//! `$`, backquotes, globs outside quotes). The manifest's `post_renewal_command` is run with
//! that argv, never through a shell; shell syntax belongs inside `bash -c '...'` explicitly.

/// The argv of `line`, or why it is not one simple command.
pub fn split(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(x @ ('$' | '`')) => {
                            return Err(format!(
                                "'{x}' inside double quotes would be expanded by a shell; use single quotes"
                            ))
                        }
                        Some(x) => cur.push(x),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(x) => cur.push(x),
                    None => return Err("trailing backslash".into()),
                }
            }
            ';' | '|' | '&' | '<' | '>' | '$' | '`' | '(' | ')' | '*' | '?' | '[' | '\n' => {
                return Err(format!(
                    "'{c}' outside quotes is shell syntax; write one command, or put shell syntax inside /bin/bash -c '...'"
                ))
            }
            x => {
                in_word = true;
                cur.push(x);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    if out.is_empty() {
        return Err("empty command".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_commands() {
        assert_eq!(
            split("pct exec 101 -- systemctl reload nginx").unwrap(),
            ["pct", "exec", "101", "--", "systemctl", "reload", "nginx"]
        );
        assert_eq!(
            split("pct exec 102 -- /bin/bash -c 'while [ ! -f /x.crt ]; do sleep 1; done; systemctl reload traefik'").unwrap(),
            ["pct", "exec", "102", "--", "/bin/bash", "-c", "while [ ! -f /x.crt ]; do sleep 1; done; systemctl reload traefik"]
        );
        assert_eq!(split(r#"a "b c" d\ e"#).unwrap(), ["a", "b c", "d e"]);
    }

    #[test]
    fn shell_syntax_is_refused() {
        for bad in [
            "a; b",
            "a | b",
            "a && b",
            "a > f",
            "echo $HOME",
            "echo `id`",
            "rm *",
            "a \"$X\"",
            "'open",
            "",
        ] {
            assert!(split(bad).is_err(), "{bad}");
        }
    }
}
