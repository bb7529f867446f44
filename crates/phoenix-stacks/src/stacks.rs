//! Loading the stacks of a deployment into resolved [`Stack`]s, every problem reported at once
//! with its file and JSON path (or `line:column` in a Compose file).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use phoenix_config::load::load_file;
use phoenix_config::{Diagnostic, Severity};

use crate::compose::Compose;
use crate::model::{CentralStack, Environment, FirewallRule, Manifest, StackFile, StacksFile};
use phoenix_config::model::FirewallRule as ConfigRule;

/// The environment a sync deploys (the old orchestrator deployed this one only).
pub const DEFAULT_ENVIRONMENT: &str = "production";

/// File names inside a stack folder.
pub const COMPOSE_FILE: &str = "docker-compose.yml";
pub const MANIFEST_FILE: &str = "phoenix.json";
/// The central file, in the `etc/` folder beside the hypervisor config.
pub const CENTRAL_FILE: &str = "phoenix_stacks_config.json";

/// Where a stack's definition comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackSource {
    /// `stacks/<name>/` (its `phoenix.json` and `docker-compose.yml`).
    Folder(PathBuf),
    /// An entry of `etc/phoenix_stacks_config.json`.
    Central(PathBuf),
}

/// One stack, resolved and checked.
#[derive(Debug, Clone)]
pub struct Stack {
    pub name: String,
    pub description: Option<String>,
    pub source: StackSource,
    /// The file holding the settings (`phoenix.json` or the central file), for messages.
    pub settings_file: PathBuf,
    /// JSON path of the settings inside `settings_file` (`""` or `docker_stacks.<name>`).
    pub settings_path: String,
    pub compose_path: PathBuf,
    pub compose: Compose,
    pub environments: BTreeMap<String, Environment>,
}

impl Stack {
    /// The settings of `env`, if the stack defines it.
    pub fn environment(&self, env: &str) -> Option<&Environment> {
        self.environments.get(env)
    }

    /// The Compose text deployed for `env`: the file with the environment's Traefik labels.
    pub fn deployed_compose(&self, env: &str) -> String {
        let labels = self
            .environment(env)
            .map(|e| {
                e.services
                    .iter()
                    .map(|(s, set)| (s.clone(), set.traefik_labels.clone()))
                    .collect()
            })
            .unwrap_or_default();
        self.compose.with_labels(&labels)
    }

    /// The firewall rules of `env` (none when the stack lacks it).
    pub fn firewall_rules(&self, env: &str) -> &[FirewallRule] {
        self.environment(env)
            .map(|e| e.firewall_rules.as_slice())
            .unwrap_or(&[])
    }

    /// Where a stack file's source is on the host.
    pub fn file_source(&self, file: &StackFile) -> PathBuf {
        match &self.source {
            StackSource::Folder(dir) => dir.join(&file.source),
            StackSource::Central(central) => base_of_central(central).join(&file.source),
        }
    }

    fn location(&self, rest: &str) -> String {
        match (self.settings_path.is_empty(), rest.is_empty()) {
            (true, _) => rest.to_string(),
            (false, true) => self.settings_path.clone(),
            (false, false) => format!("{}.{rest}", self.settings_path),
        }
    }
}

/// The installation base of a central file (`<base>/etc/phoenix_stacks_config.json`).
fn base_of_central(central: &Path) -> PathBuf {
    central
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("/"))
        .to_path_buf()
}

/// A VM's `docker_stacks`, for [`Stacks::check_assignments`].
#[derive(Debug, Clone)]
pub struct Assignment<'a> {
    pub vmid: u32,
    pub stacks: &'a [String],
    /// The VM config file and the JSON path of the VM (`vms[2]`), for messages.
    pub file: &'a Path,
    pub path: String,
}

/// Every stack of a deployment, and the warnings loading them produced.
#[derive(Debug, Clone, Default)]
pub struct Stacks {
    pub stacks: BTreeMap<String, Stack>,
    pub warnings: Vec<Diagnostic>,
}

impl Stacks {
    /// Loads the stacks of the deployment whose hypervisor config is `config_file`:
    /// `<etc>/phoenix_stacks_config.json` and `<etc>/../stacks/`, each optional.
    pub fn load_beside(config_file: &Path) -> Result<Stacks, Vec<Diagnostic>> {
        let etc = config_file.parent().unwrap_or(Path::new("."));
        let base = etc.parent().unwrap_or(Path::new("."));
        let central = etc.join(CENTRAL_FILE);
        Stacks::load(
            central.is_file().then_some(central.as_path()),
            &base.join("stacks"),
        )
    }

    /// Loads the central file (when given) and the stack folders under `stacks_dir` (when it
    /// exists). Errors: every problem found, warnings included.
    pub fn load(central: Option<&Path>, stacks_dir: &Path) -> Result<Stacks, Vec<Diagnostic>> {
        let mut diags = Vec::new();
        let mut stacks = BTreeMap::new();
        for (name, dir) in folders(stacks_dir, &mut diags) {
            if let Some(stack) = load_folder(&name, &dir, &mut diags) {
                stacks.insert(name, stack);
            }
        }
        if let Some(central) = central {
            load_central(central, &mut stacks, &mut diags);
        }
        for stack in stacks.values() {
            check_stack(stack, &mut diags);
        }
        if diags.iter().any(|d| d.severity == Severity::Error) {
            return Err(diags);
        }
        Ok(Stacks {
            stacks,
            warnings: diags,
        })
    }

    pub fn get(&self, name: &str) -> Option<&Stack> {
        self.stacks.get(name)
    }

    /// The firewall rules a VM gets from its `docker_stacks` (environment deployed), after its
    /// own `rules`: a rule equal to one already there (own or of an earlier stack) is not
    /// repeated. Unknown stacks are skipped ([`Stacks::check_assignments`] reports them).
    pub fn firewall_rules_for(
        &self,
        own: &[FirewallRule],
        docker_stacks: &[String],
    ) -> Vec<FirewallRule> {
        let mut out: Vec<FirewallRule> = own.to_vec();
        for name in docker_stacks {
            let Some(stack) = self.stacks.get(name) else {
                continue;
            };
            for rule in stack.firewall_rules(DEFAULT_ENVIRONMENT) {
                if !out.iter().any(|r| same_rule(r, rule)) {
                    out.push(rule.clone());
                }
            }
        }
        out
    }

    /// Checks the VMs' `docker_stacks`: every name is a known stack that defines the
    /// environment deployed, and no VM lists a stack twice.
    pub fn check_assignments(&self, vms: &[Assignment<'_>]) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let known: Vec<&str> = self.stacks.keys().map(String::as_str).collect();
        for vm in vms {
            let mut seen = BTreeSet::new();
            for (i, name) in vm.stacks.iter().enumerate() {
                let at = format!("{}.docker_stacks[{i}]", vm.path);
                if !seen.insert(name) {
                    out.push(Diagnostic::error(
                        vm.file,
                        at,
                        format!("VM {}: stack '{name}' is listed twice", vm.vmid),
                    ));
                    continue;
                }
                match self.stacks.get(name) {
                    None => out.push(Diagnostic::error(
                        vm.file,
                        at,
                        format!(
                            "VM {}: unknown stack '{name}'{}; stacks are defined in stacks/<name>/phoenix.json or etc/{CENTRAL_FILE} (known: {})",
                            vm.vmid,
                            suggest(name, &known),
                            if known.is_empty() { "none".to_string() } else { known.join(", ") }
                        ),
                    )),
                    Some(stack) if stack.environment(DEFAULT_ENVIRONMENT).is_none() => {
                        out.push(Diagnostic::error(
                            vm.file,
                            at,
                            format!(
                                "VM {}: stack '{name}' has no '{DEFAULT_ENVIRONMENT}' environment in {}",
                                vm.vmid,
                                stack.settings_file.display()
                            ),
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        out
    }
}

fn suggest(name: &str, known: &[&str]) -> String {
    known
        .iter()
        .map(|k| (strsim_distance(name, k), *k))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, k)| format!(" (did you mean '{k}'?)"))
        .unwrap_or_default()
}

/// Levenshtein distance (short names only; no need for a crate here).
fn strsim_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Two rules that let the same traffic through (comments aside).
fn same_rule(a: &FirewallRule, b: &FirewallRule) -> bool {
    let key = |r: &FirewallRule| {
        (
            r.direction.clone(),
            r.action.clone(),
            r.source.clone(),
            r.dest.clone(),
            r.proto.clone(),
            r.port.clone(),
            r.sport.clone(),
            r.iface.clone(),
        )
    };
    key(a) == key(b)
}

/// Stack names reach Portainer stack names, paths and messages: the old schema's pattern.
pub fn valid_stack_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The stack folders under `dir`, sorted by name.
fn folders(dir: &Path, diags: &mut Vec<Diagnostic>) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        if !valid_stack_name(&name) {
            diags.push(Diagnostic::error(
                &path,
                "",
                format!("invalid stack folder name '{name}': letters, digits, '_' and '-' only"),
            ));
            continue;
        }
        out.push((name, path));
    }
    out.sort();
    out
}

fn load_folder(name: &str, dir: &Path, diags: &mut Vec<Diagnostic>) -> Option<Stack> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let compose_path = dir.join(COMPOSE_FILE);
    for (path, what) in [
        (&manifest_path, "manifest"),
        (&compose_path, "Compose file"),
    ] {
        if !path.is_file() {
            diags.push(Diagnostic::warning(
                dir,
                "",
                format!("stack '{name}' skipped: no {what} {}", file_name(path)),
            ));
            return None;
        }
    }
    let manifest = match load_file::<Manifest>(&manifest_path) {
        Ok(p) => {
            diags.extend(p.warnings);
            p.value
        }
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let compose = load_compose(name, &compose_path, diags)?;
    Some(Stack {
        name: name.to_string(),
        description: manifest.description,
        source: StackSource::Folder(dir.to_path_buf()),
        settings_file: manifest_path,
        settings_path: String::new(),
        compose_path,
        compose,
        environments: manifest.environments,
    })
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// Reads and parses a Compose file; a problem names the stack and the line.
fn load_compose(name: &str, path: &Path, diags: &mut Vec<Diagnostic>) -> Option<Compose> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            diags.push(Diagnostic::error(
                path,
                "",
                format!("stack '{name}': cannot read the Compose file: {e}"),
            ));
            return None;
        }
    };
    match Compose::parse(&text) {
        Ok(c) => Some(c),
        Err(e) => {
            diags.push(Diagnostic::error(
                path,
                e.location,
                format!("stack '{name}': {}", e.message),
            ));
            None
        }
    }
}

fn load_central(path: &Path, stacks: &mut BTreeMap<String, Stack>, diags: &mut Vec<Diagnostic>) {
    let file = match load_file::<StacksFile>(path) {
        Ok(p) => {
            diags.extend(p.warnings);
            p.value
        }
        Err(d) => {
            diags.push(d);
            return;
        }
    };
    for (name, entry) in file.docker_stacks {
        let at = format!("docker_stacks.{name}");
        if !valid_stack_name(&name) {
            diags.push(Diagnostic::error(
                path,
                at,
                "invalid stack name: letters, digits, '_' and '-' only",
            ));
            continue;
        }
        if let Some(folder) = stacks.get(&name) {
            diags.push(Diagnostic::warning(
                path,
                at,
                format!(
                    "superseded by the stack folder {} (a folder is deployed as a whole; this entry is not used)",
                    folder.settings_file.parent().unwrap_or(Path::new("")).display()
                ),
            ));
            continue;
        }
        if let Some(stack) = central_stack(path, &name, entry, diags) {
            stacks.insert(name, stack);
        }
    }
}

fn central_stack(
    path: &Path,
    name: &str,
    entry: CentralStack,
    diags: &mut Vec<Diagnostic>,
) -> Option<Stack> {
    let at = format!("docker_stacks.{name}");
    let rel = Path::new(&entry.compose_file_path);
    if rel.is_absolute() || rel.components().any(|c| c.as_os_str() == "..") {
        diags.push(Diagnostic::error(
            path,
            format!("{at}.compose_file_path"),
            "expected a path relative to the installation base, without '..'",
        ));
        return None;
    }
    let compose_path = base_of_central(path).join(rel);
    if !compose_path.is_file() {
        diags.push(Diagnostic::error(
            path,
            format!("{at}.compose_file_path"),
            format!(
                "stack '{name}': Compose file {} not found",
                compose_path.display()
            ),
        ));
        return None;
    }
    let compose = load_compose(name, &compose_path, diags)?;
    Some(Stack {
        name: name.to_string(),
        description: entry.description,
        source: StackSource::Central(path.to_path_buf()),
        settings_file: path.to_path_buf(),
        settings_path: at,
        compose_path,
        compose,
        environments: entry.environments,
    })
}

/// Checks what a sync would otherwise find out half way.
fn check_stack(stack: &Stack, diags: &mut Vec<Diagnostic>) {
    let file = &stack.settings_file;
    let services: BTreeSet<String> = stack.compose.services().into_iter().collect();
    for (env_name, env) in &stack.environments {
        let at = |rest: String| stack.location(&format!("environments.{env_name}{rest}"));
        if !valid_stack_name(env_name) {
            diags.push(Diagnostic::error(
                file,
                at(String::new()),
                "invalid environment name: letters, digits, '_' and '-' only",
            ));
        }
        let mut names = BTreeSet::new();
        for (i, v) in env.variables.iter().enumerate() {
            if !valid_variable(&v.name) {
                diags.push(Diagnostic::error(
                    file,
                    at(format!(".variables[{i}].name")),
                    format!(
                        "invalid variable name '{}': expected [A-Za-z_][A-Za-z0-9_]*",
                        v.name
                    ),
                ));
            } else if !names.insert(v.name.clone()) {
                diags.push(Diagnostic::error(
                    file,
                    at(format!(".variables[{i}].name")),
                    format!("variable '{}' is set twice", v.name),
                ));
            }
        }
        for (var, defaulted) in stack.compose.variables() {
            if !defaulted && !names.contains(&var) {
                diags.push(Diagnostic::warning(
                    file,
                    at(".variables".into()),
                    format!(
                        "stack '{}': {} uses ${{{var}}} but environment '{env_name}' sets no variable '{var}' (Compose substitutes an empty string)",
                        stack.name,
                        file_name(&stack.compose_path)
                    ),
                ));
            }
        }
        for (i, f) in env.files.iter().enumerate() {
            check_file(stack, f, file, at(format!(".files[{i}]")), diags);
        }
        for (service, settings) in &env.services {
            let sat = at(format!(".services.{service}"));
            if !services.contains(service) {
                diags.push(Diagnostic::error(
                    file,
                    sat.clone(),
                    format!(
                        "stack '{}': '{service}' is not a service of {} (services: {})",
                        stack.name,
                        stack.compose_path.display(),
                        services.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            for (j, label) in settings.traefik_labels.iter().enumerate() {
                if let Err(why) = check_label(label) {
                    diags.push(Diagnostic::error(
                        file,
                        format!("{sat}.traefik_labels[{j}]"),
                        why,
                    ));
                }
            }
        }
        for (i, rule) in env.firewall_rules.iter().enumerate() {
            if let Err(why) = check_rule(rule) {
                diags.push(Diagnostic::error(
                    file,
                    at(format!(".firewall_rules[{i}]")),
                    why,
                ));
            }
        }
    }
}

fn valid_variable(name: &str) -> bool {
    let mut c = name.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

fn check_file(stack: &Stack, f: &StackFile, file: &Path, at: String, diags: &mut Vec<Diagnostic>) {
    let src = Path::new(&f.source);
    if f.source.is_empty() || src.is_absolute() || src.components().any(|c| c.as_os_str() == "..") {
        diags.push(Diagnostic::error(
            file,
            format!("{at}.source"),
            "expected a relative path without '..'",
        ));
    } else if !stack.file_source(f).is_file() {
        diags.push(Diagnostic::error(
            file,
            format!("{at}.source"),
            format!(
                "stack '{}': file {} not found",
                stack.name,
                stack.file_source(f).display()
            ),
        ));
    }
    if !f.destination_in_container.starts_with('/') {
        diags.push(Diagnostic::error(
            file,
            format!("{at}.destination_in_container"),
            "expected an absolute path inside the container",
        ));
    }
}

/// A Traefik label: `traefik.<key>=<value>`, the key without blanks.
pub fn check_label(label: &str) -> Result<(), String> {
    let Some((key, _)) = label.split_once('=') else {
        return Err(format!("'{label}': expected key=value"));
    };
    if !key.starts_with("traefik.") || key.len() <= "traefik.".len() {
        return Err(format!("'{label}': the key must start with 'traefik.'"));
    }
    if key
        .chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '\'')
    {
        return Err(format!("'{label}': the key may not hold blanks or quotes"));
    }
    Ok(())
}

/// A firewall rule as Proxmox's `[RULES]` accepts it (direction, action, ports, protocol).
pub fn check_rule(rule: &FirewallRule) -> Result<(), String> {
    if !matches!(rule.direction.as_str(), "in" | "out") {
        return Err(format!("type '{}': expected 'in' or 'out'", rule.direction));
    }
    if !matches!(rule.action.as_str(), "ACCEPT" | "DROP" | "REJECT") {
        return Err(format!(
            "action '{}': expected ACCEPT, DROP or REJECT",
            rule.action
        ));
    }
    for (key, ports) in [("port", &rule.port), ("sport", &rule.sport)] {
        if let Some(p) = ports {
            let ok = !p.is_empty()
                && p.split(',').all(|part| {
                    let mut r = part.splitn(2, ':');
                    r.all(|n| n.parse::<u16>().is_ok_and(|n| n > 0))
                });
            if !ok {
                return Err(format!(
                    "{key} '{p}': expected ports 1-65535, lists (80,443) or ranges (8000:8010)"
                ));
            }
            if rule.proto.is_none() {
                return Err(format!("{key} needs 'proto' (tcp or udp)"));
            }
        }
    }
    if let Some(p) = &rule.proto {
        if p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!(
                "proto '{p}': expected a protocol name such as tcp or udp"
            ));
        }
    }
    for (key, v) in [("source", &rule.source), ("dest", &rule.dest)] {
        if let Some(v) = v {
            if v.is_empty() || v.chars().any(|c| c.is_whitespace()) {
                return Err(format!(
                    "{key} '{v}': expected an address, CIDR, range or alias"
                ));
            }
        }
    }
    Ok(())
}

/// A stack's rule in the model's terms (`phoenix_config`'s [`ConfigRule`], the `.fw` writers'
/// input), commented with the stack it comes from. The values were checked when the stack was
/// loaded ([`check_rule`]); an error here names the stack.
pub fn config_rule(stack: &str, r: &FirewallRule) -> Result<ConfigRule, String> {
    use phoenix_config::model::firewall::{Direction, FwAction, FwAddress, PortList};
    let at = |e: String| format!("stack '{stack}': firewall rule: {e}");
    let addr = |v: &Option<String>| v.as_deref().map(FwAddress::parse).transpose().map_err(at);
    let ports = |v: &Option<String>| v.as_deref().map(PortList::parse).transpose().map_err(at);
    Ok(ConfigRule {
        direction: Direction::parse(&r.direction).map_err(at)?,
        action: FwAction::parse(&r.action).map_err(at)?,
        iface: r
            .iface
            .as_deref()
            .map(phoenix_config::types::InterfaceName::new)
            .transpose()
            .map_err(|e| at(e.to_string()))?,
        source: addr(&r.source)?,
        dest: addr(&r.dest)?,
        proto: r.proto.clone(),
        dport: ports(&r.port)?,
        sport: ports(&r.sport)?,
        comment: Some(match &r.comment {
            Some(c) => format!("stack {stack}: {c}"),
            None => format!("stack {stack}"),
        }),
        ..ConfigRule::default()
    })
}

impl Stacks {
    /// The `[RULES]` of a VM's `.fw`: its own `firewall.rules`, then the `production` rules of
    /// each stack of its `docker_stacks` not already there (for the VM firewall writer: a VM
    /// running stacks opens exactly what they declare).
    pub fn vm_rules(
        &self,
        own: &[ConfigRule],
        docker_stacks: &[String],
    ) -> Result<Vec<ConfigRule>, String> {
        let mut out = own.to_vec();
        for name in docker_stacks {
            let Some(stack) = self.stacks.get(name) else {
                return Err(format!("unknown stack '{name}'"));
            };
            for rule in stack.firewall_rules(DEFAULT_ENVIRONMENT) {
                let r = config_rule(name, rule)?;
                let same = |x: &ConfigRule| {
                    ConfigRule {
                        comment: None,
                        ..x.clone()
                    } == ConfigRule {
                        comment: None,
                        ..r.clone()
                    }
                };
                if !out.iter().any(same) {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let mut r = FirewallRule {
            direction: "in".into(),
            action: "ACCEPT".into(),
            proto: Some("tcp".into()),
            port: Some("80,443".into()),
            ..Default::default()
        };
        assert!(check_rule(&r).is_ok());
        r.port = Some("8000:8010".into());
        assert!(check_rule(&r).is_ok());
        r.port = Some("0".into());
        assert!(check_rule(&r).is_err());
        r.port = Some("80".into());
        r.proto = None;
        assert!(check_rule(&r).unwrap_err().contains("proto"));
        r.direction = "sideways".into();
        assert!(check_rule(&r).is_err());
    }

    #[test]
    fn labels() {
        assert!(check_label("traefik.enable=true").is_ok());
        assert!(check_label("traefik.http.routers.q.rule=Host(`q.x`)").is_ok());
        assert!(check_label("enable=true").is_err());
        assert!(check_label("traefik.enable").is_err());
        assert!(check_label("traefik.a b=1").is_err());
    }

    #[test]
    fn names() {
        assert!(valid_stack_name("qdrant_service"));
        assert!(!valid_stack_name("../x"));
        assert!(valid_variable("API_PORT"));
        assert!(!valid_variable("1X"));
        assert_eq!(strsim_distance("qdrant_servce", "qdrant_service"), 1);
    }
}
