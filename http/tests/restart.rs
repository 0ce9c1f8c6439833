//! Durability and shutdown of the realtime core as operators run it: a real `agora serve`
//! process is killed with SIGKILL after acking messages and restarted on the same data dir;
//! every acked message is still there with its seq. SIGTERM closes WebSockets with 1001.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn serve(data_dir: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_agora"))
        .arg("serve")
        .env("AGORA_DATA_DIR", data_dir)
        .env("AGORA_LISTEN", format!("127.0.0.1:{port}"))
        .env("AGORA_LOG", "warn")
        .env("AGORA_RATE_LIMITS", "off")
        .env("AGORA_SHUTDOWN_TIMEOUT_SECS", "5")
        .env_remove("AGORA_JWT_SECRET")
        .stderr(Stdio::null())
        .spawn()
        .expect("agora serve")
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/api/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn register(client: &reqwest::Client, base: &str, tag: &str) -> (String, String) {
    let body = json!({"email": format!("{tag}-{}@example.com", uuid_like()), "password": "correct horse battery 9"});
    let r: Value = client
        .post(format!("{base}/api/auth/register"))
        .json(&body)
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("json");
    (r["user"]["id"].as_str().expect("id").to_string(), r["access"].as_str().expect("access").to_string())
}

fn uuid_like() -> String {
    format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos())
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(ws: &mut Ws) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.ok()?? {
            Ok(Message::Text(t)) => return Some(serde_json::from_str(&t).expect("json frame")),
            Ok(Message::Close(c)) => return Some(json!({"type": "__close", "code": c.map(|c| u16::from(c.code))})),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

#[test]
fn acked_messages_survive_a_kill_and_restart() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut child = serve(dir.path(), port);
    let (acks, b_token, conv) = rt.block_on(async {
        wait_ready(&client, &base).await;
        let (_, a_token) = register(&client, &base, "a").await;
        let (b_id, b_token) = register(&client, &base, "b").await;
        let conv: Value = client
            .post(format!("{base}/api/conversations"))
            .bearer_auth(&a_token)
            .json(&json!({"participant_ids": [b_id]}))
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json");
        let conv = conv["id"].as_str().expect("conversation id").to_string();
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws?token={a_token}")).await.expect("ws");
        assert_eq!(next_json(&mut ws).await.expect("hello")["type"], "hello");
        for i in 1..=50 {
            let frame = json!({"type": "send", "conversation_id": conv, "client_msg_id": format!("k{i}"), "body": format!("durable {i}")});
            ws.send(Message::Text(frame.to_string().into())).await.expect("send");
        }
        let mut acks = Vec::new();
        while acks.len() < 50 {
            let f = next_json(&mut ws).await.expect("frames until every ack");
            if f["type"] == "ack" {
                acks.push((f["seq"].as_u64().expect("seq"), f["message_id"].as_str().expect("id").to_string()));
            }
        }
        (acks, b_token, conv)
    });
    // No graceful anything: the process dies right after the last ack.
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    let mut child = serve(dir.path(), port);
    let history = rt.block_on(async {
        wait_ready(&client, &base).await;
        let r: Value = client
            .get(format!("{base}/api/conversations/{conv}/messages?limit=100"))
            .bearer_auth(&b_token)
            .send()
            .await
            .expect("history")
            .json()
            .await
            .expect("json");
        r
    });
    let _ = child.kill();
    let _ = child.wait();
    let mut stored: Vec<(u64, String)> = history["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|m| (m["seq"].as_u64().expect("seq"), m["id"].as_str().expect("id").to_string()))
        .collect();
    stored.sort();
    let mut acked = acks.clone();
    acked.sort();
    assert_eq!(acked.iter().map(|a| a.0).collect::<Vec<_>>(), (1..=50).collect::<Vec<u64>>(), "acks carry seq 1..50");
    assert_eq!(stored, acked, "every acked message is stored with its seq after SIGKILL and restart");
}

#[test]
fn sigterm_closes_websockets_with_1001_and_exits_zero() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut child = serve(dir.path(), port);
    let code = rt.block_on(async {
        wait_ready(&client, &base).await;
        let (_, token) = register(&client, &base, "t").await;
        let (mut ws, _) =
            tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws?token={token}")).await.expect("ws");
        assert_eq!(next_json(&mut ws).await.expect("hello")["type"], "hello");
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
        assert!(status.success());
        loop {
            match next_json(&mut ws).await {
                Some(f) if f["type"] == "__close" => break f["code"].as_u64(),
                Some(_) => continue,
                None => break None,
            }
        }
    });
    assert_eq!(code, Some(1001), "websockets are closed with 1001 on shutdown");
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(exit.code(), Some(0));
}
