//! The deployment kit (docs/operations.md) is checked, not just shipped:
//!
//! - `nginx -t` accepts deploy/nginx/agora.conf (with a throwaway certificate made by
//!   deploy/nginx/dev-cert.sh, and the upstream host names pointed at 127.0.0.1, the only
//!   two substitutions), and the config proxies WebSockets, redirects to HTTPS, sets the
//!   security headers, keeps /metrics and tokens private and matches the body limit;
//! - deploy/compose.yml (no `docker compose` here: parsed as YAML) names only services it
//!   defines, mounts only files that exist, gives both nodes the same secrets and settings
//!   but their own node id, and agrees with the nginx upstream and the Prometheus targets;
//! - deploy/grafana/agora.json queries only metrics the server exports;
//! - the Dockerfile builds the locked release binary and runs it unprivileged.
//!
//! nginx must be installed (./scripts/test.sh installs it); without it the test fails.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;
use serde_norway::Value as Yaml;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

fn read(rel: &str) -> String {
    let path = repo().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The text without `#` comments (none of the checked files has `#` inside a string).
fn uncommented(text: &str) -> String {
    text.lines().map(|l| l.split('#').next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

// ---------------------------------------------------------------------------------------
// nginx

/// The body of the first `{ ... }` block whose header line starts with `header`.
fn block<'a>(conf: &'a str, header: &str) -> &'a str {
    let start = conf
        .match_indices(header)
        .map(|(i, _)| i)
        .find(|&i| conf[i + header.len()..].trim_start().starts_with('{'))
        .unwrap_or_else(|| panic!("nginx config has no `{header} {{` block"));
    let open = start + conf[start..].find('{').expect("an opening brace");
    let mut depth = 0;
    for (i, c) in conf[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &conf[open + 1..open + i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced braces after `{header}`");
}

/// The top-level `server { ... }` blocks of the config.
fn server_blocks(conf: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = conf;
    let mut offset = 0;
    while let Some(i) = rest.find("server {") {
        let body = block(&conf[offset + i..], "server");
        out.push(body);
        let consumed = i + "server {".len() + body.len() + 1;
        offset += consumed;
        rest = &conf[offset..];
    }
    out
}

/// The statements of a block (`directive args;`), nested blocks included, as word lists
/// (quoted words unquoted; `;`, `{` and `}` inside quotes are part of the word).
fn directives(body: &str) -> Vec<Vec<String>> {
    let (mut out, mut words, mut word) = (Vec::new(), Vec::<String>::new(), String::new());
    let mut quote: Option<char> = None;
    for c in body.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => quote = Some(c),
            (None, ';' | '{' | '}') => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                if !words.is_empty() {
                    out.push(std::mem::take(&mut words));
                }
            }
            (None, c) if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            (None, c) => word.push(c),
        }
    }
    out
}

fn has(body: &str, words: &[&str]) -> bool {
    directives(body).iter().any(|d| d.len() >= words.len() && d.iter().zip(words).all(|(a, b)| a == b))
}

/// `host:port` of every `server` line in `upstream agora_nodes`.
fn upstream_servers(conf: &str) -> Vec<String> {
    let upstream = block(conf, "upstream agora_nodes");
    directives(upstream).into_iter().filter(|d| d[0] == "server").map(|d| d[1].clone()).collect()
}

/// nginx sizes: `256k`, `1m`, `1024`.
fn nginx_size(v: &str) -> usize {
    let (num, mult) = match v.chars().last() {
        Some('k' | 'K') => (&v[..v.len() - 1], 1024),
        Some('m' | 'M') => (&v[..v.len() - 1], 1024 * 1024),
        _ => (v, 1),
    };
    num.parse::<usize>().unwrap_or_else(|_| panic!("bad nginx size {v:?}")) * mult
}

/// nginx times in seconds: `3600s`, `1h`, `60`.
fn nginx_secs(v: &str) -> u64 {
    let (num, mult) = match v.chars().last() {
        Some('s') => (&v[..v.len() - 1], 1),
        Some('m') => (&v[..v.len() - 1], 60),
        Some('h') => (&v[..v.len() - 1], 3600),
        _ => (v, 1),
    };
    num.parse::<u64>().unwrap_or_else(|_| panic!("bad nginx time {v:?}")) * mult
}

/// The server's default `max_body_bytes` (`max_body_bytes: 256 * 1024,` in `Settings::default`).
fn default_max_body_bytes() -> usize {
    let config = read("http/src/config.rs");
    let line = config
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("max_body_bytes:"))
        .expect("max_body_bytes default in http/src/config.rs");
    let expr = line.trim_start_matches("max_body_bytes:").trim().trim_end_matches(',');
    expr.split('*').map(|f| f.trim().replace('_', "").parse::<usize>().expect("a product of integers")).product()
}

fn nginx_binary() -> PathBuf {
    for candidate in ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"] {
        if Path::new(candidate).exists() {
            return candidate.into();
        }
    }
    if let Ok(out) = Command::new("sh").args(["-c", "command -v nginx"]).output() {
        let found = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !found.is_empty() {
            return found.into();
        }
    }
    panic!("nginx is not installed: ./scripts/test.sh installs it (apt-get install nginx-light)");
}

/// Runs `nginx -t` on `agora_conf` as an `http {}` include, in `dir` only. Answers
/// (success, nginx's output).
fn nginx_test(dir: &Path, agora_conf: &str) -> (bool, String) {
    let conf_path = dir.join("agora.conf");
    std::fs::write(&conf_path, agora_conf).expect("write agora.conf");
    for sub in ["client_body", "proxy"] {
        std::fs::create_dir_all(dir.join(sub)).expect("temp dir");
    }
    let d = dir.display();
    let main = format!(
        "events {{}}\nhttp {{\n    client_body_temp_path {d}/client_body;\n    proxy_temp_path {d}/proxy;\n    include {};\n}}\n",
        conf_path.display()
    );
    let main_path = dir.join("nginx.conf");
    std::fs::write(&main_path, main).expect("write nginx.conf");
    let out = Command::new(nginx_binary())
        .arg("-t")
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&main_path)
        .arg("-g")
        .arg(format!("pid {d}/nginx.pid; error_log {d}/error.log;"))
        .output()
        .expect("run nginx -t");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn nginx_accepts_the_config() {
    let conf = read("deploy/nginx/agora.conf");
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");

    // The dev-cert script makes the pair nginx is pointed at.
    let out = Command::new("bash")
        .arg(repo().join("deploy/nginx/dev-cert.sh"))
        .env("AGORA_CERT_DIR", &certs)
        .output()
        .expect("run deploy/nginx/dev-cert.sh");
    assert!(out.status.success(), "dev-cert.sh failed: {}", String::from_utf8_lossy(&out.stderr));
    for file in ["agora.crt", "agora.key"] {
        assert!(certs.join(file).is_file(), "dev-cert.sh did not write {file}");
    }

    // The two substitutions: certificate paths, and upstream hosts that resolve here.
    let cert_dir = "/etc/nginx/certs/";
    assert_eq!(uncommented(&conf).matches(cert_dir).count(), 2, "ssl_certificate and its key in {cert_dir}");
    let mut tested = conf.replace(cert_dir, &format!("{}/", certs.display()));
    for server in upstream_servers(&uncommented(&conf)) {
        let (host, port) = server.rsplit_once(':').expect("upstream server host:port");
        tested = tested.replace(&format!("server {server} "), &format!("server 127.0.0.1:{port} "));
        assert!(!host.is_empty());
    }
    let (ok, output) = nginx_test(dir.path(), &tested);
    assert!(ok, "nginx -t refused deploy/nginx/agora.conf:\n{output}");
    assert!(!output.contains("[warn]") && !output.contains("[emerg]"), "nginx -t warned:\n{output}");

    // The harness can fail: a broken copy is refused.
    let broken = dir.path().join("broken");
    std::fs::create_dir_all(&broken).expect("dir");
    let (ok, output) = nginx_test(&broken, &tested.replacen("proxy_http_version 1.1;", "proxy_http_version 1.1", 1));
    assert!(!ok, "nginx -t accepted a broken config:\n{output}");
}

#[test]
fn nginx_config_proxies_websockets_and_keeps_secrets() {
    let conf = uncommented(&read("deploy/nginx/agora.conf"));
    let map = block(&conf, "map $http_upgrade $connection_upgrade");
    assert!(has(map, &["default", "upgrade"]), "the upgrade map answers `upgrade` for upgrade requests");

    let upstream = block(&conf, "upstream agora_nodes");
    assert!(has(upstream, &["least_conn"]) || has(upstream, &["hash"]), "WebSocket-aware balancing");
    assert!(upstream_servers(&conf).len() >= 2, "both nodes in the upstream");

    let servers = server_blocks(&conf);
    assert_eq!(servers.len(), 2, "one server on 80, one on 443");
    let plain = servers.iter().find(|s| has(s, &["listen", "80"])).expect("a server on port 80");
    let tls = servers.iter().find(|s| has(s, &["listen", "443", "ssl"])).expect("a TLS server on 443");
    assert!(has(plain, &["return", "301", "https://$host$request_uri"]), "80 redirects to HTTPS");
    assert!(plain.contains("/.well-known/acme-challenge/"), "80 serves the ACME challenge");
    assert!(!plain.contains("proxy_pass"), "nothing is proxied over plain HTTP");

    for words in [
        &["proxy_http_version", "1.1"][..],
        &["proxy_set_header", "Upgrade", "$http_upgrade"],
        &["proxy_set_header", "Connection", "$connection_upgrade"],
        &["proxy_set_header", "X-Forwarded-For", "$proxy_add_x_forwarded_for"],
        &["proxy_set_header", "X-Forwarded-Proto", "$scheme"],
        &["proxy_set_header", "Host", "$host"],
        &["ssl_certificate"],
        &["ssl_certificate_key"],
    ] {
        assert!(has(tls, words), "the TLS server lacks `{}`", words.join(" "));
    }
    for header in ["Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"] {
        let d = directives(tls);
        let line = d.iter().find(|d| d[0] == "add_header" && d[1] == header);
        let line = line.unwrap_or_else(|| panic!("the TLS server does not add {header}"));
        assert_eq!(line.last().map(String::as_str), Some("always"), "{header} also on error answers");
    }
    // A location's own proxy_set_header or add_header would silently drop the server's.
    let mut rest: &str = tls;
    while let Some(i) = rest.find("location ") {
        let header_end = rest[i..].find('{').expect("location block") + i;
        let body = block(&rest[i..], rest[i..header_end].trim());
        assert!(
            !body.contains("proxy_set_header") && !body.contains("add_header"),
            "a location redefines proxy_set_header/add_header: {body}"
        );
        rest = &rest[header_end + body.len()..];
    }

    let ws = block(tls, "location = /ws");
    assert!(ws.contains("proxy_pass http://agora_nodes"), "/ws goes to the nodes");
    let read_timeout = directives(ws)
        .into_iter()
        .find(|d| d[0] == "proxy_read_timeout")
        .map(|d| nginx_secs(&d[1]))
        .expect("/ws sets a long proxy_read_timeout");
    assert!(read_timeout >= 600, "/ws proxy_read_timeout {read_timeout}s is shorter than 10 minutes");

    let metrics = block(tls, "location ~* ^/metrics");
    assert!(has(metrics, &["deny", "all"]) && !metrics.contains("proxy_pass"), "/metrics is not served publicly");

    let body = directives(tls).into_iter().find(|d| d[0] == "client_max_body_size").expect("client_max_body_size");
    assert_eq!(nginx_size(&body[1]), default_max_body_bytes(), "client_max_body_size = the server's max_body_bytes");

    // Tokens travel in /ws?token=: no access log may write the query string.
    for d in directives(&conf).into_iter().filter(|d| d[0] == "log_format") {
        let format = d[2..].join(" ");
        for var in ["$request ", "$request\"", "$request_uri", "$args", "$query_string", "$arg_token"] {
            assert!(!format.contains(var), "log_format {} logs {var}: tokens would be logged", d[1]);
        }
    }
    for d in directives(&conf).into_iter().filter(|d| d[0] == "access_log" && d[1] != "off") {
        assert_eq!(d.get(2).map(String::as_str), Some("agora"), "access_log {} uses the token-free format", d[1]);
    }
}

// ---------------------------------------------------------------------------------------
// compose

fn compose() -> Yaml {
    serde_norway::from_str(&read("deploy/compose.yml")).expect("deploy/compose.yml is YAML")
}

fn services(c: &Yaml) -> &serde_norway::Mapping {
    c.get("services").and_then(Yaml::as_mapping).expect("compose services")
}

fn str_of(v: &Yaml) -> String {
    match v {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// A service's environment (map or `KEY=value` list form).
fn environment(service: &Yaml) -> BTreeMap<String, String> {
    match service.get("environment") {
        Some(Yaml::Mapping(m)) => m.iter().map(|(k, v)| (str_of(k), str_of(v))).collect(),
        Some(Yaml::Sequence(s)) => s
            .iter()
            .map(|e| {
                let e = str_of(e);
                let (k, v) = e.split_once('=').unwrap_or((&e, ""));
                (k.to_string(), v.to_string())
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// A service's `depends_on`: (service, condition).
fn depends_on(service: &Yaml) -> Vec<(String, String)> {
    match service.get("depends_on") {
        Some(Yaml::Sequence(s)) => s.iter().map(|d| (str_of(d), "service_started".into())).collect(),
        Some(Yaml::Mapping(m)) => m
            .iter()
            .map(|(k, v)| {
                let condition = v.get("condition").map(str_of).unwrap_or_else(|| "service_started".into());
                (str_of(k), condition)
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A service's volume mounts (short syntax `source:target[:mode]` or long syntax).
fn mounts(service: &Yaml) -> Vec<(String, String)> {
    let Some(Yaml::Sequence(volumes)) = service.get("volumes") else { return Vec::new() };
    volumes
        .iter()
        .map(|v| match v {
            Yaml::String(s) => {
                let mut parts = s.splitn(3, ':');
                let source = parts.next().unwrap_or_default().to_string();
                (source, parts.next().unwrap_or_default().to_string())
            }
            long => {
                (long.get("source").map(str_of).unwrap_or_default(), long.get("target").map(str_of).unwrap_or_default())
            }
        })
        .collect()
}

/// The `AGORA_*` settings the server knows (the `ENV_KEYS` list of http/src/config.rs).
fn known_settings() -> BTreeSet<String> {
    let config = read("http/src/config.rs");
    let start = config.find("const ENV_KEYS").expect("ENV_KEYS in http/src/config.rs");
    let end = start + config[start..].find("];").expect("end of ENV_KEYS");
    config[start..end].split('"').skip(1).step_by(2).map(|k| format!("AGORA_{k}")).collect()
}

/// The host and port of `host:port` or `scheme://host:port/...`.
fn host_port(addr: &str) -> (String, String) {
    let addr = addr.split_once("://").map_or(addr, |(_, rest)| rest);
    let addr = addr.split('/').next().unwrap_or_default();
    let (host, port) = addr.rsplit_once(':').unwrap_or_else(|| panic!("no port in {addr:?}"));
    (host.to_string(), port.to_string())
}

#[test]
fn compose_file_is_consistent() {
    let c = compose();
    let services = services(&c);
    let names: BTreeSet<String> = services.keys().map(str_of).collect();
    for required in ["agora1", "agora2", "nginx", "redis", "scylla", "scylla-init", "prometheus", "grafana"] {
        assert!(names.contains(required), "compose has no {required} service");
    }
    let volumes: BTreeSet<String> =
        c.get("volumes").and_then(Yaml::as_mapping).map(|m| m.keys().map(str_of).collect()).unwrap_or_default();
    let deploy = repo().join("deploy");

    for (name, service) in services {
        let name = str_of(name);
        for (dep, condition) in depends_on(service) {
            assert!(names.contains(&dep), "{name} depends on undefined service {dep}");
            assert!(
                ["service_started", "service_healthy", "service_completed_successfully"].contains(&condition.as_str()),
                "{name}: unknown depends_on condition {condition}"
            );
            if condition == "service_healthy" {
                assert!(services[dep.as_str()].get("healthcheck").is_some(), "{name} waits for {dep}'s health: none");
            }
        }
        for (source, target) in mounts(service) {
            assert!(target.starts_with('/'), "{name}: mount target {target:?} is not absolute");
            if source.starts_with('.') || source.starts_with('/') {
                let path = deploy.join(&source);
                assert!(path.exists(), "{name} mounts {source}, which is not in the repository ({})", path.display());
            } else {
                assert!(volumes.contains(&source), "{name} uses named volume {source}, not declared");
            }
        }
        if let Some(build) = service.get("build") {
            let context = deploy.join(build.get("context").map(str_of).unwrap_or_else(|| str_of(build)));
            let dockerfile = build.get("dockerfile").map(str_of).unwrap_or_else(|| "Dockerfile".into());
            assert!(context.join(&dockerfile).is_file(), "{name} builds {dockerfile} in {}", context.display());
        }
        assert!(service.get("image").is_some(), "{name} has no image");
    }

    // The nodes: the services with a node id.
    let nodes: Vec<String> =
        names.iter().filter(|n| environment(&services[n.as_str()]).contains_key("AGORA_NODE_ID")).cloned().collect();
    assert_eq!(nodes, ["agora1", "agora2"], "the Agora nodes");
    let envs: Vec<BTreeMap<String, String>> = nodes.iter().map(|n| environment(&services[n.as_str()])).collect();
    let known = known_settings();
    for (node, env) in nodes.iter().zip(&envs) {
        for key in env.keys() {
            assert!(known.contains(key), "{node} sets {key}, which is no Agora setting");
        }
        for secret in ["AGORA_JWT_SECRET", "AGORA_PAYMENT_WEBHOOK_SECRET"] {
            let v = env.get(secret).unwrap_or_else(|| panic!("{node} does not set {secret}"));
            assert!(v.starts_with(&format!("${{{secret}:?")), "{node}: {secret} must come from the environment: {v}");
        }
        let id = &env["AGORA_NODE_ID"];
        assert!(
            (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
            "{node}: bad node id {id:?}"
        );
        assert_eq!(env.get("AGORA_STORAGE").map(String::as_str), Some("scylla"), "{node} storage");
        for scylla in env["AGORA_SCYLLA_NODES"].split(',') {
            assert_eq!(host_port(scylla).0, "scylla", "{node} reaches Scylla through the scylla service");
        }
        assert_eq!(host_port(&env["AGORA_REDIS_URL"]).0, "redis", "{node} uses the redis service");
        assert_eq!(host_port(&env["AGORA_LISTEN"]).0, "0.0.0.0", "{node} listens on all interfaces");
        let deps: BTreeMap<String, String> = depends_on(&services[node.as_str()]).into_iter().collect();
        assert_eq!(deps.get("scylla-init").map(String::as_str), Some("service_completed_successfully"));
        assert_eq!(deps.get("redis").map(String::as_str), Some("service_healthy"));
        assert!(services[node.as_str()].get("healthcheck").is_some(), "{node} has a healthcheck");
    }
    let mut first = envs[0].clone();
    let mut second = envs[1].clone();
    assert_ne!(first.remove("AGORA_NODE_ID"), second.remove("AGORA_NODE_ID"), "distinct node ids");
    assert_eq!(first, second, "the nodes differ only in their node id");
    let node_addrs: BTreeSet<String> =
        nodes.iter().zip(&envs).map(|(n, e)| format!("{n}:{}", host_port(&e["AGORA_LISTEN"]).1)).collect();

    // nginx proxies to exactly those nodes, with the tested config mounted.
    let upstream: BTreeSet<String> =
        upstream_servers(&uncommented(&read("deploy/nginx/agora.conf"))).into_iter().collect();
    assert_eq!(upstream, node_addrs, "the nginx upstream lists the compose nodes");
    let nginx = &services["nginx"];
    let nginx_mounts = mounts(nginx);
    assert!(nginx_mounts.iter().any(|(s, t)| s == "./nginx/agora.conf" && t.starts_with("/etc/nginx/conf.d/")));
    assert!(nginx_mounts.iter().any(|(s, t)| s == "./nginx/certs" && t == "/etc/nginx/certs"));
    let ports: Vec<String> =
        nginx.get("ports").and_then(Yaml::as_sequence).expect("nginx ports").iter().map(str_of).collect();
    for port in ["80", "443"] {
        assert!(ports.iter().any(|p| p.ends_with(&format!(":{port}"))), "nginx publishes {port}");
    }
    for node in &nodes {
        assert!(services[node.as_str()].get("ports").is_none(), "{node} is reachable only through nginx");
    }

    // Prometheus scrapes exactly those nodes.
    let prometheus: Yaml = serde_norway::from_str(&read("deploy/prometheus/prometheus.yml")).expect("prometheus.yml");
    let targets: BTreeSet<String> = prometheus["scrape_configs"]
        .as_sequence()
        .expect("scrape_configs")
        .iter()
        .flat_map(|job| job["static_configs"].as_sequence().cloned().unwrap_or_default())
        .flat_map(|sc| sc["targets"].as_sequence().cloned().unwrap_or_default())
        .map(|t| str_of(&t))
        .collect();
    assert_eq!(targets, node_addrs, "Prometheus targets are the compose nodes");
    assert!(mounts(&services["prometheus"])
        .iter()
        .any(|(s, t)| s == "./prometheus/prometheus.yml" && t == "/etc/prometheus/prometheus.yml"));

    // Scylla's schema is the one the server embeds.
    assert!(mounts(&services["scylla-init"]).iter().any(|(s, _)| s == "./scylla/schema.cql"));

    // Grafana: provisioning mounted, the dashboards provider reads the folder the dashboard
    // is mounted in, the datasource is the prometheus service.
    let grafana = mounts(&services["grafana"]);
    assert!(grafana.iter().any(|(s, t)| s == "./grafana/provisioning" && t == "/etc/grafana/provisioning"));
    let dashboard_target =
        grafana.iter().find(|(s, _)| s == "./grafana/agora.json").expect("dashboard mounted").1.clone();
    let providers: Yaml =
        serde_norway::from_str(&read("deploy/grafana/provisioning/dashboards/agora.yml")).expect("dashboards yml");
    let folder = str_of(&providers["providers"][0]["options"]["path"]);
    assert_eq!(Path::new(&dashboard_target).parent(), Some(Path::new(&folder)), "provider path holds agora.json");
    let datasources: Yaml =
        serde_norway::from_str(&read("deploy/grafana/provisioning/datasources/prometheus.yml")).expect("datasources");
    let ds = &datasources["datasources"][0];
    assert_eq!(str_of(&ds["type"]), "prometheus");
    assert_eq!(host_port(&str_of(&ds["url"])).0, "prometheus", "the datasource is the prometheus service");
}

// ---------------------------------------------------------------------------------------
// Grafana

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `"agora_..."` metric name in the server's sources, and those recorded as histograms.
fn exported_metrics() -> (BTreeSet<String>, BTreeSet<String>) {
    let mut files = Vec::new();
    for dir in ["http/src", "actors/src", "storage/src", "engine/src"] {
        rust_files(&repo().join(dir), &mut files);
    }
    let (mut all, mut histograms) = (BTreeSet::new(), BTreeSet::new());
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read source");
        for (i, _) in text.match_indices("!(\"agora_") {
            let kind_start = text[..i].rfind(|c: char| !c.is_ascii_alphabetic()).map_or(0, |k| k + 1);
            let name: String = text[i + 3..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if &text[kind_start..i] == "histogram" {
                histograms.insert(name.clone());
            }
            all.insert(name);
        }
    }
    (all, histograms)
}

/// The `agora_*` names an expression uses.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in expr.match_indices("agora_") {
        if i > 0 && expr[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        out.push(expr[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect());
    }
    out
}

#[test]
fn dashboard_queries_exported_metrics() {
    let dash: Json = serde_json::from_str(&read("deploy/grafana/agora.json")).expect("agora.json is JSON");
    assert!(dash["uid"].as_str().is_some_and(|u| !u.is_empty() && u.len() <= 40), "dashboard uid");
    assert!(dash["title"].as_str().is_some());
    let vars = dash["templating"]["list"].as_array().expect("templating variables");
    assert!(
        vars.iter().any(|v| v["type"] == "datasource" && v["query"] == "prometheus" && v["name"] == "datasource"),
        "a Prometheus datasource variable"
    );
    let (exported, histograms) = exported_metrics();
    assert!(exported.contains("agora_ws_connections") && histograms.contains("agora_message_latency_seconds"));

    let mut panels: Vec<&Json> = Vec::new();
    for p in dash["panels"].as_array().expect("panels") {
        panels.push(p);
        panels.extend(p["panels"].as_array().into_iter().flatten());
    }
    let mut ids = BTreeSet::new();
    let mut used = BTreeSet::new();
    for p in panels.iter().filter(|p| p["type"] != "row") {
        let title = p["title"].as_str().expect("panel title");
        assert!(ids.insert(p["id"].as_u64().expect("panel id")), "duplicate panel id in {title}");
        assert_eq!(p["datasource"]["type"], "prometheus", "{title}: Prometheus datasource");
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}: datasource through the variable");
        let targets = p["targets"].as_array().filter(|t| !t.is_empty()).unwrap_or_else(|| panic!("{title}: no query"));
        for t in targets {
            let expr = t["expr"].as_str().unwrap_or_else(|| panic!("{title}: a target without expr"));
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{title}: {expr} names no agora_ metric");
            for name in names {
                let base = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(&name);
                assert!(exported.contains(base), "{title}: {name} is not exported by the server");
                if name.ends_with("_bucket") {
                    assert!(histograms.contains(base), "{title}: {base} is no histogram");
                    assert!(expr.contains("histogram_quantile(") && expr.contains("le"), "{title}: quantile by le");
                }
                used.insert(base.to_string());
            }
        }
    }
    for wanted in [
        "agora_ws_connections",
        "agora_online_users",
        "agora_ws_frames_in_total",
        "agora_message_latency_seconds",
        "agora_http_requests_total",
        "agora_http_request_duration_seconds",
        "agora_storage_ops_total",
        "agora_storage_op_duration_seconds",
        "agora_storage_cas_conflicts_total",
        "agora_bus_remote_lag_seconds",
        "agora_redis_up",
        "agora_redis_outages_total",
        "agora_bus_remote_events_total",
        "agora_bus_remote_dropped_total",
    ] {
        assert!(used.contains(wanted), "the dashboard has no panel on {wanted}");
    }
}

// ---------------------------------------------------------------------------------------
// Image

#[test]
fn dockerfile_builds_locked_and_runs_unprivileged() {
    let docker = uncommented(&read("Dockerfile"));
    let froms: Vec<&str> = docker.lines().filter(|l| l.trim_start().starts_with("FROM ")).collect();
    assert!(froms.len() >= 2 && froms[0].contains("rust:"), "multi-stage, built on the rust image: {froms:?}");
    assert!(docker.contains("cargo build --release --locked -p agora-http --bin agora"));
    let user = docker.lines().rev().find_map(|l| l.trim().strip_prefix("USER ")).expect("a USER");
    assert!(!user.starts_with("root") && !user.starts_with('0'), "runs as root: {user}");
    for line in ["EXPOSE 8080", "ENTRYPOINT [\"agora\"]", "CMD [\"serve\"]", "AGORA_LISTEN=0.0.0.0:8080", "/api/health"]
    {
        assert!(docker.contains(line), "Dockerfile lacks {line}");
    }
    // storage/ embeds deploy/scylla/schema.cql: the build context must keep it.
    let ignore = uncommented(&read(".dockerignore"));
    for pattern in ignore.lines().map(str::trim).filter(|l| !l.is_empty()) {
        assert!(
            !"deploy/scylla/schema.cql".starts_with(pattern.trim_end_matches('/')),
            ".dockerignore drops {pattern}"
        );
        assert!(pattern != "deploy" && pattern != "storage" && pattern != "*", ".dockerignore drops {pattern}");
    }
    assert!(ignore.lines().any(|l| l.trim() == "target"), ".dockerignore keeps target/ out");
}
