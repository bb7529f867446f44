//! The stand-in's routes (see the table in the module above), faults and the request log.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::store::{load_faults, random_hex, sha256_hex, State, StoredEndpoint, StoredStack};
use super::{parse_form, Request, Shared};

type Reply = (u16, Vec<u8>);

fn reply(status: u16, v: Value) -> Reply {
    (status, serde_json::to_vec(&v).unwrap_or_default())
}

fn error(status: u16, message: &str, details: &str) -> Reply {
    reply(status, json!({"message": message, "details": details}))
}

/// Handles one request under the state lock, records it, and answers.
pub(crate) fn handle(shared: &Shared, req: &Request) -> Reply {
    let _guard = shared.lock.lock().unwrap_or_else(|p| p.into_inner());
    let dir = &shared.config.dir;
    let mut state = match State::load(dir) {
        Ok(s) => s,
        Err(e) => return error(500, "state unreadable", &e),
    };
    let (status, body) = match fault(dir, &mut state, req) {
        Some(r) => r,
        None => route(shared, &mut state, req),
    };
    if let Err(e) = state.save(dir) {
        return error(500, "state not saved", &e);
    }
    record(dir, req, status);
    (status, body)
}

fn fault(dir: &std::path::Path, state: &mut State, req: &Request) -> Option<Reply> {
    let faults = match load_faults(dir) {
        Ok(f) => f,
        Err(e) => return Some(error(500, "faults.json unreadable", &e)),
    };
    for (i, f) in faults.iter().enumerate() {
        let method_ok = f
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(&req.method));
        let path_ok = f.path.as_deref().is_none_or(|p| req.path.starts_with(p));
        if !(method_ok && path_ok) {
            continue;
        }
        let hits = state.fault_hits.entry(i).or_insert(0);
        if f.times.is_some_and(|t| *hits >= t) {
            continue;
        }
        *hits += 1;
        let msg = f.message.clone().unwrap_or_else(|| "injected fault".into());
        return Some(error(f.status, &msg, "faults.json"));
    }
    None
}

/// Appends the request to `requests.jsonl`; password fields and tokens are masked.
fn record(dir: &std::path::Path, req: &Request, status: u16) {
    use std::io::Write;
    let mut body: Value = serde_json::from_slice(&req.body).unwrap_or_else(|_| {
        if req.body.is_empty() {
            Value::Null
        } else if req
            .header("Content-Type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
        {
            let form = parse_form(&String::from_utf8_lossy(&req.body));
            Value::Object(
                form.into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            )
        } else {
            Value::String(format!("<{} bytes>", req.body.len()))
        }
    });
    if let Some(o) = body.as_object_mut() {
        for key in ["Password", "password"] {
            if o.contains_key(key) {
                o.insert(key.into(), Value::String("***".into()));
            }
        }
    }
    let line = json!({
        "method": req.method,
        "path": req.path,
        "query": req.query.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
        "authorized": req.header("Authorization").is_some(),
        "status": status,
        "body": body,
    });
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("requests.jsonl"))
    {
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn json_body(req: &Request) -> Result<Value, Reply> {
    serde_json::from_slice(&req.body)
        .map_err(|e| error(400, "Invalid request payload", &e.to_string()))
}

fn field<'a>(v: &'a Value, name: &str) -> &'a str {
    // Go's JSON decoding matches field names case-insensitively.
    v.as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
        .and_then(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn route(shared: &Shared, st: &mut State, req: &Request) -> Reply {
    let parts: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let m = req.method.as_str();
    match (m, parts.as_slice()) {
        ("GET", ["api", "system", "status"]) | ("GET", ["api", "status"]) => reply(
            200,
            json!({"Version": "2.33.0", "InstanceID": st.instance_id}),
        ),
        ("GET", ["api", "users", "admin", "check"]) => match st.admin {
            Some(_) => (204, Vec::new()),
            None => error(
                404,
                "No administrator account found inside the database",
                "object not found",
            ),
        },
        ("POST", ["api", "users", "admin", "init"]) => admin_init(st, req),
        ("POST", ["api", "auth"]) => auth(st, req),
        _ => {
            if !authorized(st, req) {
                return error(
                    401,
                    "Unauthorized",
                    "A valid authorisation token is missing",
                );
            }
            authed(shared, st, req, m, &parts)
        }
    }
}

fn authorized(st: &State, req: &Request) -> bool {
    req.header("Authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .is_some_and(|t| st.tokens.contains(&sha256_hex(t.trim())))
}

fn admin_init(st: &mut State, req: &Request) -> Reply {
    let v = match json_body(req) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (user, pass) = (field(&v, "Username"), field(&v, "Password"));
    if user.is_empty() || user.contains(' ') {
        return error(
            400,
            "Invalid request payload",
            "Invalid username. Must not contain any whitespace",
        );
    }
    if pass.is_empty() {
        return error(400, "Invalid request payload", "Invalid password");
    }
    if st.admin.is_some() {
        return error(
            409,
            "Unable to create administrator user",
            "An administrator user already exists",
        );
    }
    st.admin = Some((user.to_string(), sha256_hex(pass)));
    reply(200, json!({"Id": 1, "Username": user, "Role": 1}))
}

fn auth(st: &mut State, req: &Request) -> Reply {
    let v = match json_body(req) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (user, pass) = (field(&v, "Username"), field(&v, "Password"));
    if user.is_empty() || pass.is_empty() {
        return error(400, "Invalid request payload", "Invalid credentials");
    }
    match &st.admin {
        Some((u, h)) if u == user && *h == sha256_hex(pass) => {
            let token = format!("sim.{}", random_hex(24));
            st.tokens.push(sha256_hex(&token));
            reply(200, json!({"jwt": token}))
        }
        _ => error(422, "Invalid credentials", "Unauthorized"),
    }
}

fn authed(shared: &Shared, st: &mut State, req: &Request, m: &str, parts: &[&str]) -> Reply {
    match (m, parts) {
        ("GET", ["api", "endpoints"]) => reply(200, json!(st.endpoints)),
        ("POST", ["api", "endpoints"]) => endpoint_create(shared, st, req),
        ("GET", ["api", "endpoints", id]) => match find_endpoint(st, id) {
            Some(e) => reply(200, json!(e)),
            None => error(
                404,
                "Unable to find an environment with the specified identifier inside the database",
                "object not found",
            ),
        },
        ("GET", ["api", "stacks"]) => {
            let list: Vec<Value> = st.stacks.iter().map(stack_json).collect();
            reply(200, Value::Array(list))
        }
        ("GET", ["api", "stacks", id]) => match find_stack(st, id) {
            Some(s) => reply(200, stack_json(s)),
            None => stack_missing(),
        },
        ("GET", ["api", "stacks", id, "file"]) => match find_stack(st, id) {
            Some(s) => reply(200, json!({"StackFileContent": s.file})),
            None => stack_missing(),
        },
        ("POST", ["api", "stacks", "create", "standalone", "string"]) => stack_create(st, req),
        ("PUT", ["api", "stacks", id]) => stack_update(st, req, id),
        ("GET", ["api", "endpoints", id, "docker", "configs"]) => match endpoint_id(st, id) {
            Some(e) => reply(200, json!(st.configs.get(&e).cloned().unwrap_or_default())),
            None => error(404, "Unable to find an environment", "object not found"),
        },
        ("POST", ["api", "endpoints", id, "docker", "configs", "create"]) => {
            config_create(st, req, id)
        }
        ("DELETE", ["api", "endpoints", id, "docker", "configs", cid]) => {
            let Some(e) = endpoint_id(st, id) else {
                return error(404, "Unable to find an environment", "object not found");
            };
            let list = st.configs.entry(e).or_default();
            let before = list.len();
            list.retain(|c| c["ID"].as_str() != Some(cid));
            if list.len() == before {
                error(404, &format!("config {cid} not found"), "")
            } else {
                (204, Vec::new())
            }
        }
        _ => error(404, "Not found", &format!("{} {}", req.method, req.path)),
    }
}

fn find_endpoint<'a>(st: &'a State, id: &str) -> Option<&'a StoredEndpoint> {
    let id: u64 = id.parse().ok()?;
    st.endpoints.iter().find(|e| e.id == id)
}

fn endpoint_id(st: &State, id: &str) -> Option<u64> {
    find_endpoint(st, id).map(|e| e.id)
}

fn find_stack<'a>(st: &'a State, id: &str) -> Option<&'a StoredStack> {
    let id: u64 = id.parse().ok()?;
    st.stacks.iter().find(|s| s.id == id)
}

fn stack_missing() -> Reply {
    error(
        404,
        "Unable to find a stack with the specified identifier inside the database",
        "object not found",
    )
}

fn stack_json(s: &StoredStack) -> Value {
    let mut v = json!(s);
    if let Some(o) = v.as_object_mut() {
        o.remove("StackFileContent");
        o.remove("Deployments");
    }
    v
}

fn endpoint_create(shared: &Shared, st: &mut State, req: &Request) -> Reply {
    let form = parse_form(&String::from_utf8_lossy(&req.body));
    let get = |k: &str| {
        form.iter()
            .find(|(x, _)| x == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let name = get("Name");
    if name.is_empty() {
        return error(400, "Invalid request payload", "Invalid environment name");
    }
    let kind: u32 = get("EndpointCreationType").parse().unwrap_or(0);
    if !(1..=5).contains(&kind) {
        return error(400, "Invalid request payload", "Invalid environment type value. Value must be one of: 1 (Docker environment), 2 (Agent environment), 3 (Azure environment), 4 (Edge Agent environment) or 5 (Local Kubernetes environment)");
    }
    if st.endpoints.iter().any(|e| e.name == name) {
        return error(409, "Name is not unique", "");
    }
    let url = get("URL");
    if kind == 2 {
        let Some(addr) = url.strip_prefix("tcp://") else {
            return error(400, "Invalid request payload", "Invalid environment URL");
        };
        // Portainer pings the agent before saving the environment.
        if let Some(root) = &shared.config.sim_root {
            if let Err(why) = crate::net::lookup_name(root, addr) {
                return error(500, "Unable to get environment type", &why);
            }
        }
    }
    let group: u64 = get("GroupID").parse().unwrap_or(0).max(1);
    let tls = get("TLS") == "true" || get("TLS") == "1";
    let e = StoredEndpoint {
        id: st.new_id(),
        name: name.to_string(),
        kind: if kind == 2 { 2 } else { kind },
        url: url.to_string(),
        group_id: group,
        status: 1,
        tls: json!({"TLS": tls, "TLSSkipVerify": get("TLSSkipVerify") == "true"}),
    };
    st.endpoints.push(e.clone());
    reply(200, json!(e))
}

fn valid_stack_name(n: &str) -> bool {
    let mut c = n.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_lowercase() || f.is_ascii_digit())
        && c.all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || x == '_' || x == '-')
}

fn env_of(v: &Value) -> Result<Vec<Value>, Reply> {
    let env = v
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("Env")))
        .map(|(_, e)| e.clone())
        .unwrap_or(Value::Array(vec![]));
    let list = match env {
        Value::Null => vec![],
        Value::Array(a) => a,
        _ => return Err(error(400, "Invalid request payload", "Env must be a list")),
    };
    for e in &list {
        if field(e, "name").is_empty() {
            return Err(error(
                400,
                "Invalid request payload",
                "Env entries need a name",
            ));
        }
    }
    Ok(list)
}

/// What `docker compose up` would refuse: the text must be a Compose file with services.
fn check_compose(text: &str) -> Result<(), String> {
    let docs = yaml_rust2::YamlLoader::load_from_str(text).map_err(|e| {
        format!(
            "failed to deploy a stack: yaml: line {}: {}",
            e.marker().line(),
            e.info()
        )
    })?;
    let doc = docs
        .first()
        .ok_or("failed to deploy a stack: empty compose file")?;
    let services = &doc["services"];
    if services.as_hash().is_none_or(|h| h.is_empty()) {
        return Err("failed to deploy a stack: no service defined".into());
    }
    Ok(())
}

fn stack_create(st: &mut State, req: &Request) -> Reply {
    let Some(endpoint) = req.query("endpointId").and_then(|e| endpoint_id(st, e)) else {
        return error(
            404,
            "Unable to find an environment with the specified identifier inside the database",
            "endpointId",
        );
    };
    let v = match json_body(req) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let name = field(&v, "Name");
    if !valid_stack_name(name) {
        return error(400, "Invalid request payload", "Invalid stack name");
    }
    let file = field(&v, "StackFileContent");
    if file.is_empty() {
        return error(400, "Invalid request payload", "Invalid stack file content");
    }
    let env = match env_of(&v) {
        Ok(e) => e,
        Err(r) => return r,
    };
    if st
        .stacks
        .iter()
        .any(|s| s.endpoint_id == endpoint && s.name.eq_ignore_ascii_case(name))
    {
        return error(
            409,
            &format!("A stack with the normalized name '{name}' already exists"),
            "",
        );
    }
    if let Err(why) = check_compose(file) {
        return error(500, &why, "");
    }
    let s = StoredStack {
        id: st.new_id(),
        name: name.to_string(),
        kind: 2,
        endpoint_id: endpoint,
        env,
        status: 1,
        entry_point: "docker-compose.yml".into(),
        creation_date: now(),
        update_date: 0,
        file: file.to_string(),
        deployments: 1,
    };
    st.stacks.push(s.clone());
    reply(200, stack_json(&s))
}

fn stack_update(st: &mut State, req: &Request, id: &str) -> Reply {
    if req
        .query("endpointId")
        .and_then(|e| endpoint_id(st, e))
        .is_none()
    {
        return error(400, "Invalid query parameter: endpointId", "");
    }
    let v = match json_body(req) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let file = field(&v, "StackFileContent").to_string();
    if file.is_empty() {
        return error(400, "Invalid request payload", "Invalid stack file content");
    }
    let env = match env_of(&v) {
        Ok(e) => e,
        Err(r) => return r,
    };
    if let Err(why) = check_compose(&file) {
        return error(500, &why, "");
    }
    let Some(s) = id
        .parse::<u64>()
        .ok()
        .and_then(|id| st.stacks.iter_mut().find(|s| s.id == id))
    else {
        return stack_missing();
    };
    s.file = file;
    s.env = env;
    s.update_date = now();
    s.deployments += 1;
    let out = stack_json(s);
    reply(200, out)
}

fn config_create(st: &mut State, req: &Request, id: &str) -> Reply {
    let Some(e) = endpoint_id(st, id) else {
        return error(404, "Unable to find an environment", "object not found");
    };
    let v = match json_body(req) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let name = field(&v, "Name").to_string();
    if name.is_empty() {
        return error(400, "config name required", "");
    }
    let list = st.configs.entry(e).or_default();
    if list
        .iter()
        .any(|c| c["Spec"]["Name"].as_str() == Some(&name))
    {
        return error(409, &format!("config {name} already exists"), "");
    }
    let cid = random_hex(12);
    list.push(json!({
        "ID": cid,
        "Spec": {"Name": name, "Data": field(&v, "Data"), "Labels": v.get("Labels").cloned().unwrap_or(json!({}))},
    }));
    reply(200, json!({"ID": cid}))
}
