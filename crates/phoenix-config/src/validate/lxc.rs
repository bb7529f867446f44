//! The LXC file: each container checked and built as it is parsed (the raw container never
//! outlives its own entry), with `proxmox_defaults.lxc` merged in.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::Report;
use crate::error::Diagnostic;
use crate::id::{GuestId, MAX_ID, MIN_ID};
use crate::model::hypervisor::LxcDefaults;
use crate::model::lxc::{BindMount, Lxc, LxcNetwork, LxcOption, PortainerRole, Volume};
use crate::model::lxc::{IdKind, IdMap};
use crate::names;
use crate::raw;
use crate::types::{
    AbsPath, FileName, Hostname, InterfaceName, IpConfig, MacAddress, SnapshotName, StorageId,
    TemplateRef,
};

/// The JSON path of a container, `lxc_configs.<key>`, formatted only when a problem is
/// reported.
pub(crate) struct At<'a>(pub &'a str);

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "lxc_configs.{}", self.0)
    }
}

/// Builds containers from raw entries, collecting the LXC file's diagnostics.
pub(crate) struct LxcBuilder<'a> {
    file: &'a Path,
    defaults: Option<&'a LxcDefaults>,
    default_features: Vec<String>,
    pub diagnostics: Vec<Diagnostic>,
    /// Containers with a valid, unique ID, in file order.
    pub lxcs: Vec<Lxc>,
    /// `is_template` as written, per entry of `lxcs` (`None`: decided by `cross`).
    pub explicit_templates: Vec<Option<bool>>,
    /// The key each entry of `lxcs` was written as.
    pub entry_keys: Vec<String>,
    /// Position in `lxcs` of each ID.
    pub keys: BTreeMap<GuestId, usize>,
    /// Keys that are not IDs, to tell a repeated key.
    bad_keys: Vec<String>,
}

impl<'a> LxcBuilder<'a> {
    pub fn new(
        file: &'a Path,
        defaults: Option<&'a LxcDefaults>,
        default_features: Vec<String>,
        text_len: usize,
    ) -> Self {
        // Room for as many containers as a file of this size is likely to hold, so the
        // vector is not copied as it grows; pages never written cost nothing.
        let guess = text_len / 200;
        LxcBuilder {
            file,
            defaults,
            default_features,
            diagnostics: Vec::new(),
            lxcs: Vec::with_capacity(guess),
            explicit_templates: Vec::with_capacity(guess),
            entry_keys: Vec::with_capacity(guess),
            keys: BTreeMap::new(),
            bad_keys: Vec::new(),
        }
    }

    /// The container's ID, or `None` after reporting why the key is not one. `Err` for a key
    /// written twice: the loader's duplicate-key pass then names it.
    fn id(&mut self, key: &str) -> Result<Option<GuestId>, String> {
        let mut r = Report {
            file: self.file,
            out: &mut self.diagnostics,
        };
        let at = || At(key).to_string();
        let Some(id) = GuestId::parse(key) else {
            if self.bad_keys.iter().any(|k| k == key) {
                return Err(format!("duplicate key '{key}'"));
            }
            self.bad_keys.push(key.to_string());
            r.error(at(), format!("container key '{key}' is not a container ID; expected digits ({MIN_ID}-{MAX_ID})"));
            return Ok(None);
        };
        if !id.in_range() {
            r.error(
                at(),
                format!("container ID {id} is out of range; expected {MIN_ID}-{MAX_ID}"),
            );
            return Ok(None);
        }
        if let Some(&prev) = self.keys.get(&id) {
            let prev = &self.entry_keys[prev];
            if prev == key {
                return Err(format!("duplicate key '{key}'"));
            }
            r.error(
                at(),
                format!("container ID {id} is written twice (also as '{prev}')"),
            );
            return Ok(None);
        }
        Ok(Some(id))
    }
}

impl raw::lxc::LxcSink for LxcBuilder<'_> {
    fn entry(&mut self, key: String, c: raw::lxc::Lxc) -> Result<(), String> {
        let id = self.id(&key)?;
        let explicit_template = c.is_template;
        let mut r = Report {
            file: self.file,
            out: &mut self.diagnostics,
        };
        let lxc = build(&mut r, &At(&key), c, self.defaults, &self.default_features);
        if let Some(id) = id {
            self.keys.insert(id, self.lxcs.len());
            self.lxcs.push(Lxc { id, ..lxc });
            self.explicit_templates.push(explicit_template);
            self.entry_keys.push(key);
        }
        Ok(())
    }
}

/// Checks one container and builds it; invalid values become placeholders (see the module
/// docs of `validate`).
fn build(
    r: &mut Report,
    at: &At,
    mut c: raw::lxc::Lxc,
    defaults: Option<&LxcDefaults>,
    default_features: &[String],
) -> Lxc {
    let name = r
        .value(|| format!("{at}.name"), Hostname::new(c.name))
        .unwrap_or_default();
    let memory_mb = c.memory_mb.or_else(|| defaults.and_then(|d| d.memory_mb));
    let cores = c.cores.or_else(|| defaults.and_then(|d| d.cores));
    r.range(
        || format!("{at}.memory_mb"),
        "memory_mb",
        c.memory_mb,
        16,
        64 * 1024 * 1024,
    );
    r.range(
        || format!("{at}.swap_mb"),
        "swap_mb",
        c.swap_mb,
        0,
        64 * 1024 * 1024,
    );
    r.range(|| format!("{at}.cores"), "cores", c.cores, 1, 8192);
    r.range(
        || format!("{at}.storage_size_gb"),
        "storage_size_gb",
        c.storage_size_gb,
        1,
        1024 * 1024,
    );
    if c.clone_from_ctid.is_none() {
        if c.template.is_none() {
            r.error(at.to_string(), "container has neither `template` nor `clone_from_ctid`; one is needed to create it");
        }
        if c.storage_pool.is_none() {
            r.error(
                at.to_string(),
                "container is created from a template but has no `storage_pool`",
            );
        }
    }
    let template = c
        .template
        .and_then(|t| r.value(|| format!("{at}.template"), TemplateRef::new(t)));
    let storage_pool = c
        .storage_pool
        .and_then(|s| r.value(|| format!("{at}.storage_pool"), StorageId::new(s)));
    // The old tool's `network_config.nameservers`, after the container's own `nameserver`.
    let net_ns = c.network_config.as_mut().and_then(|n| n.nameservers.take());
    let network_config = c.network_config.map(|n| network(r, at, n));
    let mac_address = c
        .mac_address
        .and_then(|m| r.value(|| format!("{at}.mac_address"), MacAddress::new(m)));
    let mut nameservers = Vec::new();
    if let Some(ns) = &c.nameserver {
        for a in ns.split_whitespace() {
            if let Some(ip) = r.value(|| format!("{at}.nameserver"), names::ip(a)) {
                nameservers.push(ip);
            }
        }
    }
    for a in net_ns.iter().flat_map(|l| l.words()) {
        let ip = r.value(|| format!("{at}.network_config.nameservers"), names::ip(a));
        if let Some(ip) = ip.filter(|ip| !nameservers.contains(ip)) {
            nameservers.push(ip);
        }
    }
    let gpus = c
        .gpu_assignment
        .and_then(|g| r.value(|| format!("{at}.gpu_assignment"), names::gpu_assignment(&g)))
        .unwrap_or_default();
    let portainer_role = c
        .portainer_role
        .and_then(|p| r.value(|| format!("{at}.portainer_role"), PortainerRole::parse(&p)));
    let features = super::features(r, at, c.features);
    for (i, o) in c.pct_options.iter().enumerate() {
        r.check(|| format!("{at}.pct_options[{i}]"), names::pct_feature(o));
    }
    let pct_options = if c.pct_options.is_empty() {
        default_features.to_vec()
    } else {
        c.pct_options
    };
    let mut lxc_options = Vec::with_capacity(c.lxc_options.len());
    for (i, o) in c.lxc_options.iter().enumerate() {
        if r.value(|| format!("{at}.lxc_options[{i}]"), names::lxc_option(o))
            .is_some()
        {
            lxc_options.push(LxcOption::split(o));
        }
    }
    // An invalid name is still a name: clones of this container are not reported again.
    let template_snapshot_name = c.template_snapshot_name.map(|s| {
        r.value(
            || format!("{at}.template_snapshot_name"),
            SnapshotName::new(s),
        )
        .unwrap_or_default()
    });
    let apparmor_profile = c.apparmor_profile.and_then(|p| {
        r.value(
            || format!("{at}.apparmor_profile"),
            FileName::new(p, "AppArmor profile"),
        )
    });
    let application_script = c.application_script.and_then(|s| {
        r.value(
            || format!("{at}.application_script"),
            FileName::new(s, "application script"),
        )
    });
    let health_check = c
        .health_check
        .map(|h| super::health(r, &format!("{at}.health_check"), h));
    let firewall = c
        .firewall
        .map(|f| super::firewall(r, &format!("{at}.firewall"), f));
    let zfs_volumes = volumes(r, at, "zfs_volumes", c.zfs_volumes);
    let volumes = volumes(r, at, "volumes", c.volumes);
    let mut mounts = BTreeSet::new();
    for v in zfs_volumes.iter().chain(&volumes) {
        if !mounts.insert(v.mount_point.trimmed().to_string()) {
            r.error(
                at.to_string(),
                format!(
                    "two volumes mount at {}; mount paths identify volumes and must be unique",
                    v.mount_point
                ),
            );
        }
    }
    let mut mount_points = Vec::with_capacity(c.mount_points.len());
    for (i, m) in c.mount_points.into_iter().enumerate() {
        let host_path = r.value(
            || format!("{at}.mount_points[{i}].host_path"),
            AbsPath::new(m.host_path),
        );
        let mount_point = match (m.mount_point, m.container_path) {
            (Some(mp), Some(cp)) if mp != cp => {
                r.error(
                    format!("{at}.mount_points[{i}]"),
                    format!("`mount_point` {mp} and its old name `container_path` {cp} disagree; keep one"),
                );
                None
            }
            (Some(mp), _) => r.value(
                || format!("{at}.mount_points[{i}].mount_point"),
                AbsPath::new(mp),
            ),
            (None, Some(cp)) => r.value(
                || format!("{at}.mount_points[{i}].container_path"),
                AbsPath::new(cp),
            ),
            (None, None) => {
                r.error(
                    format!("{at}.mount_points[{i}]"),
                    "missing `mount_point` (the path inside the container; the old name `container_path` works too)",
                );
                None
            }
        };
        let (Some(host_path), Some(mount_point)) = (host_path, mount_point) else {
            continue;
        };
        if !mounts.insert(mount_point.trimmed().to_string()) {
            r.error(
                format!("{at}.mount_points[{i}]"),
                format!("two mounts at {mount_point}"),
            );
        }
        mount_points.push(BindMount {
            host_path,
            mount_point,
            read_only: m.read_only,
            owner_uid: m.owner_uid,
            owner_gid: m.owner_gid,
        });
    }
    let id_maps = id_maps(r, at, c.id_maps);
    if let Some(t) = &c.traefik_service {
        r.check(
            || format!("{at}.traefik_service.name"),
            names::hostname(&t.name),
        );
    }
    if let Some(u) = &c.bootstrap_ca_url {
        r.check(|| format!("{at}.bootstrap_ca_url"), names::url(u));
    }
    let tests = c
        .tests
        .map(|t| super::tests(r, &format!("{at}.tests"), t))
        .unwrap_or_default();
    Lxc {
        id: GuestId::default(),
        name,
        node: c.node,
        memory_mb,
        swap_mb: c.swap_mb,
        cores,
        template,
        storage_pool,
        storage_size_gb: c.storage_size_gb,
        network_config,
        mac_address,
        nameservers,
        gpus,
        portainer_role,
        unprivileged: c.unprivileged,
        start_at_boot: c.start_at_boot,
        boot_order: c.boot_order,
        boot_delay: c.boot_delay,
        clone_from_ctid: c.clone_from_ctid,
        // Decided once every guest is known (see `cross::mark_templates`).
        is_template: c.is_template.unwrap_or(false),
        full_clone: c.full_clone,
        dependencies: c.dependencies,
        features,
        pct_options,
        lxc_options,
        template_snapshot_name,
        apparmor_profile,
        apparmor_manages_nesting: c.apparmor_manages_nesting,
        enable_lifecycle_snapshots: c.enable_lifecycle_snapshots == Some(true),
        application_script,
        health_check,
        firewall,
        ports: c.ports,
        zfs_volumes,
        volumes,
        mount_points,
        id_maps,
        tests,
        traefik_service: c.traefik_service,
        trigger_sync_on_completion: c.trigger_sync_on_completion == Some(true),
        bootstrap_ca_url: c.bootstrap_ca_url,
    }
}

fn network(r: &mut Report, at: &At, n: raw::lxc::LxcNetwork) -> LxcNetwork {
    let name = r
        .value(
            || format!("{at}.network_config.name"),
            InterfaceName::new(n.name),
        )
        .unwrap_or_default();
    let bridge = r
        .value(
            || format!("{at}.network_config.bridge"),
            InterfaceName::new(n.bridge),
        )
        .unwrap_or_default();
    let ip = r
        .value(|| format!("{at}.network_config.ip"), IpConfig::new(&n.ip))
        .unwrap_or_default();
    let gw =
        n.gw.and_then(|g| r.value(|| format!("{at}.network_config.gw"), names::ip(&g)));
    LxcNetwork {
        name,
        bridge,
        ip,
        gw,
        tag: n.tag,
    }
}

fn volumes(r: &mut Report, at: &At, key: &str, vols: Vec<raw::lxc::Volume>) -> Vec<Volume> {
    let mut out = Vec::with_capacity(vols.len());
    for (i, v) in vols.into_iter().enumerate() {
        let p = format!("{at}.{key}[{i}]");
        let pool = r.value(|| format!("{p}.pool"), StorageId::new(v.pool));
        let mount_point = r.value(|| format!("{p}.mount_point"), AbsPath::new(v.mount_point));
        r.range(
            || format!("{p}.size_gb"),
            "size_gb",
            Some(v.size_gb),
            1,
            1024 * 1024,
        );
        if let (Some(pool), Some(mount_point)) = (pool, mount_point) {
            out.push(Volume {
                name: v.name,
                pool,
                size_gb: v.size_gb,
                mount_point,
                backup: v.backup,
            });
        }
    }
    out
}

/// `id_maps`: each range checked; two ranges of one kind may not overlap inside the container.
fn id_maps(r: &mut Report, at: &At, maps: Vec<raw::lxc::IdMap>) -> Vec<IdMap> {
    if maps.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<IdMap> = Vec::with_capacity(maps.len());
    for (i, m) in maps.into_iter().enumerate() {
        let Some(kind) = r.value(|| format!("{at}.id_maps[{i}].type"), IdKind::parse(&m.kind))
        else {
            continue;
        };
        let fits = |first: u32| first.checked_add(m.size).is_some();
        if m.size == 0 || !fits(m.container_id) || !fits(m.host_id) {
            r.error(
                format!("{at}.id_maps[{i}]"),
                format!(
                    "size {} does not fit: a range needs at least 1 ID and must end within 32-bit IDs",
                    m.size
                ),
            );
            continue;
        }
        let map = IdMap {
            kind,
            container_id: m.container_id,
            host_id: m.host_id,
            size: m.size,
        };
        let overlaps = |o: &IdMap| {
            o.kind == map.kind
                && o.container_id < map.container_id + map.size
                && map.container_id < o.container_id + o.size
        };
        if let Some(j) = out.iter().position(overlaps) {
            r.error(
                format!("{at}.id_maps[{i}]"),
                format!("maps container IDs that id_maps[{j}] maps already"),
            );
            continue;
        }
        out.push(map);
    }
    out
}
