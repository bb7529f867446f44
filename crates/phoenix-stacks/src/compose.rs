//! A Docker Compose file, read just deeply enough for what Phoenix does with it: refuse a file
//! Docker would refuse (syntax, duplicate keys, no `services` mapping), list its services, find
//! the `${VARIABLES}` it uses, and emit it again with Traefik labels added.
//!
//! YAML is parsed with `yaml-rust2` (YAML 1.2, pure Rust, maintained, errors carry line and
//! column). Emitting re-formats the file (comments are dropped), so the deployed text is a
//! deterministic function of the file and the labels: the same inputs always deploy the same
//! bytes, which is what lets a sync see "unchanged".

use std::collections::{BTreeMap, BTreeSet};

use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlEmitter, YamlLoader};

/// A parsed Compose file.
#[derive(Debug, Clone, PartialEq)]
pub struct Compose {
    doc: Yaml,
    text: String,
}

/// Why a Compose file was refused: `line:column` (1-based; empty when it concerns the whole
/// file) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeError {
    pub location: String,
    pub message: String,
}

impl std::fmt::Display for ComposeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.location.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.location, self.message)
        }
    }
}

fn whole(message: impl Into<String>) -> ComposeError {
    ComposeError {
        location: String::new(),
        message: message.into(),
    }
}

impl Compose {
    /// Parses and checks `text`.
    pub fn parse(text: &str) -> Result<Compose, ComposeError> {
        let mut docs = YamlLoader::load_from_str(text).map_err(|e| {
            let m = e.marker();
            ComposeError {
                location: format!("{}:{}", m.line(), m.col()),
                message: format!("invalid YAML: {}", e.info()),
            }
        })?;
        if docs.len() > 1 {
            return Err(whole(
                "holds several YAML documents; a Compose file is one document",
            ));
        }
        let doc = docs
            .pop()
            .ok_or_else(|| whole("is empty; expected a mapping with `services`"))?;
        let top = doc
            .as_hash()
            .ok_or_else(|| whole("expected a mapping at the top level (with `services`)"))?;
        let services = top
            .get(&Yaml::from_str("services"))
            .ok_or_else(|| whole("has no `services` mapping"))?;
        let services = services
            .as_hash()
            .ok_or_else(|| whole("`services` must be a mapping of service names"))?;
        if services.is_empty() {
            return Err(whole("`services` is empty"));
        }
        for (name, body) in services {
            let Some(name) = name.as_str() else {
                return Err(whole("`services`: a service name is not a string"));
            };
            if !valid_service_name(name) {
                return Err(whole(format!(
                    "services.{name}: invalid service name (letters, digits, `.`, `_`, `-`; starting with a letter or digit)"
                )));
            }
            if !(body.as_hash().is_some() || body.is_null()) {
                return Err(whole(format!("services.{name}: expected a mapping")));
            }
            if let Some(labels) = body
                .as_hash()
                .and_then(|b| b.get(&Yaml::from_str("labels")))
            {
                if !(labels.as_hash().is_some() || labels.as_vec().is_some()) {
                    return Err(whole(format!(
                        "services.{name}.labels: expected a list or a mapping"
                    )));
                }
            }
        }
        Ok(Compose {
            doc,
            text: text.to_string(),
        })
    }

    /// The file as it was read.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Service names, in file order.
    pub fn services(&self) -> Vec<String> {
        self.services_hash()
            .map(|h| {
                h.keys()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `container_name` of a service, when set.
    pub fn container_name(&self, service: &str) -> Option<String> {
        self.service(service)?
            .get(&Yaml::from_str("container_name"))?
            .as_str()
            .map(str::to_string)
    }

    /// Names used as `${NAME}`, `${NAME:-default}` or `$NAME` anywhere in the file, and whether
    /// the use gives a default (then a missing variable is no problem).
    pub fn variables(&self) -> BTreeMap<String, bool> {
        let mut out = BTreeMap::new();
        scan_variables(&self.text, &mut out);
        out
    }

    /// The file with `labels` (service name → `key=value` list) added: an existing label of the
    /// same key is replaced, others are kept; a service's labels keep the form (list or mapping)
    /// the file uses. Unknown services are ignored (the loader refuses them first).
    pub fn with_labels(&self, labels: &BTreeMap<String, Vec<String>>) -> String {
        let mut doc = self.doc.clone();
        if let Yaml::Hash(top) = &mut doc {
            if let Some(Yaml::Hash(services)) = top.get_mut(&Yaml::from_str("services")) {
                for (service, add) in labels {
                    if add.is_empty() {
                        continue;
                    }
                    if let Some(body) = services.get_mut(&Yaml::from_str(service)) {
                        if body.is_null() {
                            *body = Yaml::Hash(Hash::new());
                        }
                        if let Yaml::Hash(body) = body {
                            add_labels(body, add);
                        }
                    }
                }
            }
        }
        emit(&doc)
    }

    /// `image` of a service, when set.
    pub fn image(&self, service: &str) -> Option<String> {
        self.service(service)?
            .get(&Yaml::from_str("image"))?
            .as_str()
            .map(str::to_string)
    }

    /// The named volumes declared `external: true` (by their `name` when it is given): Compose
    /// refuses to start a project while one of them does not exist.
    pub fn external_volumes(&self) -> Vec<String> {
        let Some(Yaml::Hash(vols)) = self
            .doc
            .as_hash()
            .and_then(|t| t.get(&Yaml::from_str("volumes")))
        else {
            return vec![];
        };
        vols.iter()
            .filter_map(|(k, v)| {
                let external = v.as_hash()?.get(&Yaml::from_str("external"))?.as_bool()?;
                let name = v
                    .as_hash()
                    .and_then(|h| h.get(&Yaml::from_str("name")))
                    .and_then(Yaml::as_str)
                    .or(k.as_str())?;
                external.then(|| name.to_string())
            })
            .collect()
    }

    /// The file with `args` appended to `service`'s `command` (a string command stays a string)
    /// and `volume` added to its `volumes`: what Phoenix adds to run a service with files of its
    /// own (Portainer's certificate). An unknown service leaves the file as it is.
    pub fn with_args_and_volume(&self, service: &str, args: &[String], volume: &str) -> String {
        let mut doc = self.doc.clone();
        if let Some(Yaml::Hash(body)) = doc
            .as_mut_hash()
            .and_then(|t| t.get_mut(&Yaml::from_str("services")))
            .and_then(Yaml::as_mut_hash)
            .and_then(|s| s.get_mut(&Yaml::from_str(service)))
        {
            let cmd = Yaml::from_str("command");
            let new = match body.get(&cmd) {
                Some(Yaml::String(c)) => Yaml::String(format!("{c} {}", args.join(" "))),
                Some(Yaml::Array(list)) => {
                    let mut list = list.clone();
                    list.extend(args.iter().map(|a| Yaml::String(a.clone())));
                    Yaml::Array(list)
                }
                _ => Yaml::Array(args.iter().map(|a| Yaml::String(a.clone())).collect()),
            };
            body.insert(cmd, new);
            let vols = Yaml::from_str("volumes");
            let v = Yaml::String(volume.to_string());
            match body.get_mut(&vols) {
                Some(Yaml::Array(list)) => {
                    if !list.contains(&v) {
                        list.push(v);
                    }
                }
                _ => {
                    body.insert(vols, Yaml::Array(vec![v]));
                }
            }
        }
        emit(&doc)
    }

    fn services_hash(&self) -> Option<&Hash> {
        self.doc
            .as_hash()?
            .get(&Yaml::from_str("services"))?
            .as_hash()
    }

    fn service(&self, name: &str) -> Option<&Hash> {
        self.services_hash()?.get(&Yaml::from_str(name))?.as_hash()
    }
}

/// Compose's own rule for service names (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`).
pub fn valid_service_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn add_labels(body: &mut Hash, add: &[String]) {
    let key = Yaml::from_str("labels");
    let pairs: Vec<(&str, &str)> = add
        .iter()
        .map(|l| l.split_once('=').unwrap_or((l.as_str(), "")))
        .collect();
    match body.get_mut(&key) {
        Some(Yaml::Hash(map)) => {
            for (k, v) in pairs {
                map.insert(Yaml::String(k.into()), Yaml::String(v.into()));
            }
        }
        Some(Yaml::Array(list)) => {
            for (k, v) in pairs {
                let prefix = format!("{k}=");
                list.retain(|item| {
                    item.as_str()
                        .is_none_or(|s| !(s.starts_with(&prefix) || s == k))
                });
                list.push(Yaml::String(format!("{k}={v}")));
            }
        }
        _ => {
            let list = pairs
                .into_iter()
                .map(|(k, v)| Yaml::String(format!("{k}={v}")))
                .collect();
            body.insert(key, Yaml::Array(list));
        }
    }
}

fn emit(doc: &Yaml) -> String {
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    // A document we parsed ourselves always emits; an error here would be a bug in the emitter.
    if emitter.dump(doc).is_err() {
        log::error!("the YAML emitter failed on a parsed document");
    }
    let body = out.strip_prefix("---\n").unwrap_or(&out);
    let mut text = body.to_string();
    text.push('\n');
    text
}

/// Finds `$NAME`, `${NAME}`, `${NAME:-x}`, `${NAME-x}`, `${NAME:?x}` (and skips `$$`).
fn scan_variables(text: &str, out: &mut BTreeMap<String, bool>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        if b.get(i + 1) == Some(&b'$') {
            i += 2;
            continue;
        }
        let braced = b.get(i + 1) == Some(&b'{');
        let start = if braced { i + 2 } else { i + 1 };
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
            end += 1;
        }
        if end > start && !b[start].is_ascii_digit() {
            let name = &text[start..end];
            let has_default = braced && matches!(b.get(end), Some(b':') | Some(b'-'));
            let defaulted = has_default && !text[end..].starts_with(":?");
            let entry = out.entry(name.to_string()).or_insert(defaulted);
            *entry = *entry && defaulted;
        }
        i = end.max(i + 1);
    }
}

/// Service names of `compose` that `names` lacks, for error messages.
pub fn missing<'a>(compose: &Compose, names: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let have: BTreeSet<String> = compose.services().into_iter().collect();
    names
        .into_iter()
        .filter(|n| !have.contains(*n))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn portainer_server_gets_its_certificate() {
        let c = Compose::parse(
            "services:\n  portainer:\n    image: portainer/portainer-ce:latest\n    command: -H unix:///var/run/docker.sock\n    volumes:\n      - portainer_data_nfs:/data\nvolumes:\n  portainer_data_nfs:\n    external: true\n  local: {}\n",
        )
        .unwrap();
        assert_eq!(
            c.image("portainer").as_deref(),
            Some("portainer/portainer-ce:latest")
        );
        assert_eq!(c.external_volumes(), ["portainer_data_nfs"]);
        let args: Vec<String> = ["--sslcert", "/certs/a.crt"].map(String::from).to_vec();
        let text = c.with_args_and_volume("portainer", &args, "/x/certs:/certs:ro");
        let out = Compose::parse(&text).unwrap();
        let body = out.service("portainer").unwrap();
        assert_eq!(
            body[&Yaml::from_str("command")].as_str(),
            Some("-H unix:///var/run/docker.sock --sslcert /certs/a.crt")
        );
        assert_eq!(
            body[&Yaml::from_str("volumes")][1].as_str(),
            Some("/x/certs:/certs:ro")
        );
        // The same inputs, the same text (a sync compares it).
        assert_eq!(
            text,
            c.with_args_and_volume("portainer", &args, "/x/certs:/certs:ro")
        );
    }

    use super::*;

    const QDRANT: &str = "version: '3.8'\nservices:\n  qdrant:\n    image: qdrant/qdrant:latest\n    ports:\n      - \"6333:6333\"\n";

    #[test]
    fn lists_services_in_file_order() {
        let c = Compose::parse("services:\n  b:\n    image: x\n  a:\n    image: y\n").unwrap();
        assert_eq!(c.services(), ["b", "a"]);
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let e = Compose::parse("services:\n  web:\n    image: [x\n    ports: 1\n").unwrap_err();
        assert!(
            e.location.starts_with("4:") || e.location.starts_with("3:"),
            "{e}"
        );
        assert!(e.message.starts_with("invalid YAML"), "{e}");
        let e = Compose::parse("services:\n\tweb: {}\n").unwrap_err();
        assert_eq!(e.location, "2:1", "{e}");
    }

    #[test]
    fn refuses_what_compose_refuses() {
        for (text, want) in [
            ("", "is empty"),
            ("- a\n", "mapping at the top level"),
            ("version: '3'\n", "no `services`"),
            ("services: []\n", "must be a mapping"),
            ("services: {}\n", "is empty"),
            ("services:\n  _x:\n    image: a\n", "invalid service name"),
            ("services:\n  a: 3\n", "expected a mapping"),
            ("services:\n  a:\n    labels: x\n", "list or a mapping"),
            ("a: 1\n---\nb: 2\n", "several YAML documents"),
        ] {
            let e = Compose::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
        let e = Compose::parse("services:\n  a:\n    image: x\n  a:\n    image: y\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("duplicated key"), "{e}");
    }

    #[test]
    fn labels_are_added_as_a_list_and_replace_same_keys() {
        let c = Compose::parse(QDRANT).unwrap();
        let mut l = BTreeMap::new();
        l.insert(
            "qdrant".to_string(),
            vec![
                "traefik.enable=true".to_string(),
                "traefik.http.routers.q.rule=Host(`q.x`)".to_string(),
            ],
        );
        let out = c.with_labels(&l);
        let again = Compose::parse(&out).unwrap();
        let labels = again.service("qdrant").unwrap()[&Yaml::from_str("labels")].clone();
        assert_eq!(
            labels
                .as_vec()
                .unwrap()
                .iter()
                .map(|y| y.as_str().unwrap())
                .collect::<Vec<_>>(),
            [
                "traefik.enable=true",
                "traefik.http.routers.q.rule=Host(`q.x`)"
            ]
        );
        // Deterministic, and adding the same labels twice changes nothing.
        assert_eq!(out, c.with_labels(&l));
        assert_eq!(again.with_labels(&l), out);

        let c = Compose::parse(
            "services:\n  a:\n    image: x\n    labels:\n      - traefik.enable=false\n      - keep=1\n",
        )
        .unwrap();
        let mut l = BTreeMap::new();
        l.insert("a".to_string(), vec!["traefik.enable=true".to_string()]);
        let out = c.with_labels(&l);
        assert!(
            out.contains("keep=1") && out.contains("traefik.enable=true"),
            "{out}"
        );
        assert!(!out.contains("traefik.enable=false"), "{out}");

        let c = Compose::parse("services:\n  a:\n    labels:\n      keep: \"1\"\n").unwrap();
        let out = c.with_labels(&l);
        let again = Compose::parse(&out).unwrap();
        let labels = again.service("a").unwrap()[&Yaml::from_str("labels")].clone();
        assert_eq!(labels["traefik.enable"].as_str(), Some("true"));
        assert_eq!(labels["keep"].as_str(), Some("1"));
    }

    #[test]
    fn variables_and_their_defaults() {
        let c = Compose::parse(
            "services:\n  a:\n    ports: [\"${API_PORT}:${API_PORT}\"]\n    environment:\n      - X=${X:-1}\n      - Y=$Y\n      - Z=$$Z\n      - W=${W:?need W}\n",
        )
        .unwrap();
        let v = c.variables();
        assert_eq!(v.get("API_PORT"), Some(&false));
        assert_eq!(v.get("X"), Some(&true));
        assert_eq!(v.get("Y"), Some(&false));
        assert_eq!(v.get("W"), Some(&false));
        assert!(!v.contains_key("Z"));
    }
}
