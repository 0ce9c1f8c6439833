//! The `agora` binary as operators run it: `admin create`, `serve` with its ready log line,
//! and a clean exit 0 after SIGTERM.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn agora(data_dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_agora"));
    c.env("AGORA_DATA_DIR", data_dir).env("AGORA_LOG", "info").env_remove("AGORA_JWT_SECRET");
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

#[test]
fn help_lists_the_commands() {
    let out = Command::new(env!("CARGO_BIN_EXE_agora")).arg("--help").output().expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["serve", "admin"] {
        assert!(text.contains(cmd), "--help does not list {cmd}: {text}");
    }
}

#[test]
fn admin_create_makes_an_admin_and_refuses_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ok = agora(dir.path())
        .args(["admin", "create", "--email", "Root@Example.com", "--password", "a strong admin secret 1"])
        .output()
        .expect("runs");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("created admin"), "{}", String::from_utf8_lossy(&ok.stdout));

    let weak = agora(dir.path())
        .args(["admin", "create", "--email", "x@example.com", "--password", "weak"])
        .output()
        .expect("runs");
    assert!(!weak.status.success(), "a weak password was accepted");
    let dup = agora(dir.path())
        .args(["admin", "create", "--email", "root@example.com", "--password", "a strong admin secret 1"])
        .output()
        .expect("runs");
    assert!(!dup.status.success(), "a duplicate email was accepted");

    // The admin logs in through a real server.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    let port = free_port();
    let mut child = agora(dir.path())
        .arg("serve")
        .env("AGORA_LISTEN", format!("127.0.0.1:{port}"))
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let (status, body) = rt.block_on(async {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let res = client
                .post(format!("http://127.0.0.1:{port}/api/auth/login"))
                .json(&serde_json::json!({"email": "root@example.com", "password": "a strong admin secret 1"}))
                .send()
                .await;
            match res {
                Ok(r) => break (r.status().as_u16(), r.json::<serde_json::Value>().await.expect("json")),
                Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(e) => panic!("server never answered: {e}"),
            }
        }
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["role"], "admin");
    assert_eq!(body["user"]["email_verified"], true);
}

#[test]
fn serve_logs_ready_and_exits_zero_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut child = agora(dir.path())
        .arg("serve")
        .env("AGORA_LISTEN", format!("127.0.0.1:{port}"))
        .env("AGORA_SHUTDOWN_TIMEOUT_SECS", "5")
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let ready = loop {
        match lines.next() {
            Some(Ok(line)) => {
                let hit = line.contains("agora is ready to serve");
                seen.push(line);
                if hit {
                    break true;
                }
            }
            _ => break false,
        }
    };
    assert!(ready, "no ready line; log was:\n{}", seen.join("\n"));
    let log = seen.join("\n");
    assert!(log.contains("generated one and kept it in the data dir"), "the generated secret is announced:\n{log}");
    let secret = std::fs::read_to_string(dir.path().join("jwt_secret")).expect("secret kept in the data dir");
    assert!(!log.contains(secret.trim()), "the secret must never be logged");
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(exit.code(), Some(0), "exit status after SIGTERM");
}

#[test]
fn unknown_agora_environment_variables_warn_and_the_server_still_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut child = agora(dir.path())
        .arg("serve")
        .env("AGORA_LISTEN", format!("127.0.0.1:{port}"))
        .env("AGORA_LISTN", "127.0.0.1:1")
        .env("AGORA_DEPLOY_REVISION", "abc123")
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let ready = loop {
        match lines.next() {
            Some(Ok(line)) => {
                let hit = line.contains("agora is ready to serve");
                seen.push(line);
                if hit {
                    break true;
                }
            }
            _ => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let log = seen.join("\n");
    assert!(ready, "an unknown AGORA_* variable stopped the server:\n{log}");
    let warning = seen.iter().find(|l| l.contains("AGORA_LISTN")).unwrap_or_else(|| panic!("no warning:\n{log}"));
    assert!(warning.contains("WARN") && warning.contains("closest known: AGORA_LISTEN"), "{warning}");
    assert!(seen.iter().any(|l| l.contains("AGORA_DEPLOY_REVISION") && l.contains("WARN")), "{log}");
}

/// Runs the binary to failure; answers its stderr.
fn failing(c: &mut Command) -> String {
    let out = c.output().expect("runs");
    assert!(!out.status.success(), "succeeded: {}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(out.status.code(), Some(1), "exit code");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn assert_one_error_line(stderr: &str, needle: &str) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "not one line:\n{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(lines[0].contains(needle), "{needle:?} not in {stderr}");
    for noise in ["Error {", "Caused by", "backtrace", "Os {", "panicked"] {
        assert!(!stderr.contains(noise), "{noise:?} in {stderr}");
    }
}

#[test]
fn startup_errors_print_one_clear_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    // An unknown key in the TOML file stays an error, with its line.
    let file = dir.path().join("agora.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\nlisten_addr = \"x\"\n").expect("write");
    let err = failing(agora(dir.path()).arg("--config").arg(&file).arg("serve"));
    assert_one_error_line(&err, "listen_addr");
    assert!(err.contains("line 2"), "{err}");
    // A bad value in the environment.
    let err = failing(agora(dir.path()).arg("serve").env("AGORA_LISTEN", "nowhere"));
    assert_one_error_line(&err, "listen");
    // The port is taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let err = failing(agora(dir.path()).arg("serve").env("AGORA_LISTEN", &addr).env("AGORA_LOG", "off"));
    assert_one_error_line(&err, &format!("cannot listen on {addr}"));
    // A refused admin password says why.
    let err = failing(agora(dir.path()).args(["admin", "create", "--email", "a@example.com", "--password", "weak"]));
    assert_one_error_line(&err, "--password: must be at least 10 characters");
}
