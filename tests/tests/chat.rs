//! The realtime core end to end: real server on port 0, real WebSocket clients
//! (tokio-tungstenite) in JSON and MessagePack, real HTTP client.

use std::time::Duration;

use agora_tests::{spawn_app, spawn_app_with, Encoding, WsClient};
use serde_json::{json, Value};

const QUIET: Duration = Duration::from_millis(400);

async fn send(ws: &mut WsClient, conversation: &str, cmid: &str, body: &str) -> Value {
    ws.send(json!({"type": "send", "conversation_id": conversation, "client_msg_id": cmid, "body": body})).await;
    loop {
        let f = ws.recv_timeout(Duration::from_secs(5)).await.expect("a reply");
        if f["type"] != "unread" && f["type"] != "presence" {
            return f;
        }
    }
}

/// Waits for the ack of `cmid`, skipping other frames.
async fn ack(ws: &mut WsClient, cmid: &str) -> Value {
    loop {
        let f = ws.expect("ack").await;
        if f["client_msg_id"] == cmid {
            return f;
        }
    }
}

#[actix_web::test]
async fn two_users_chat_in_order_with_gap_free_seq() {
    let app = spawn_app().await;
    let (a, b) = (app.user("a").await, app.user("b").await);
    let conv = app.conversation(&a, &[&b]).await;
    let mut wa = app.ws(&a.token, Encoding::Json).await;
    let mut wb = app.ws(&b.token, Encoding::Json).await;

    for i in 1..=20u64 {
        wa.send(json!({"type": "send", "conversation_id": conv, "client_msg_id": format!("m{i}"), "body": format!("hello {i}")}))
            .await;
    }
    for i in 1..=20u64 {
        let f = ack(&mut wa, &format!("m{i}")).await;
        assert_eq!(f["seq"], i, "acks come in order with gap-free seq: {f}");
        assert_eq!(f["conversation_id"], conv);
        assert!(f["message_id"].as_str().is_some_and(|s| s.len() == 36));
        assert!(f["sent_at"].as_str().is_some());
    }
    for i in 1..=20u64 {
        let m = wb.expect("message").await;
        assert_eq!(m["seq"], i, "delivered in order: {m}");
        assert_eq!(m["body"], format!("hello {i}"));
        assert_eq!(m["sender_id"], a.id);
        assert_eq!(m["conversation_id"], conv);
    }
    // Acked means durable: the history has every message.
    let h = app.get(&format!("/api/conversations/{conv}/messages?limit=100"), Some(&b.token)).await;
    h.expect(200, None);
    let seqs: Vec<u64> =
        h.json["results"].as_array().expect("results").iter().map(|m| m["seq"].as_u64().expect("seq")).collect();
    assert_eq!(seqs, (1..=20).rev().collect::<Vec<u64>>(), "history is newest first and complete");
}

#[actix_web::test]
async fn every_device_of_a_user_gets_every_frame() {
    let app = spawn_app().await;
    let (a, b) = (app.user("a").await, app.user("b").await);
    let conv = app.conversation(&a, &[&b]).await;
    let mut a1 = app.ws(&a.token, Encoding::Json).await;
    let mut a2 = app.ws(&a.token, Encoding::Msgpack).await;
    let mut b1 = app.ws(&b.token, Encoding::Json).await;

    let f = send(&mut b1, &conv, "x1", "to both of your devices").await;
    assert!(f["type"] == "ack" || f["type"] == "message", "{f}");
    for ws in [&mut a1, &mut a2] {
        let m = ws.expect("message").await;
        assert_eq!(m["body"], "to both of your devices");
        assert_eq!(m["seq"], 1);
    }
    // The sender's other device sees what the first one sent.
    a1.send(json!({"type": "send", "conversation_id": conv, "client_msg_id": "from-a1", "body": "sent on a1"})).await;
    ack(&mut a1, "from-a1").await;
    let m = a2.expect("message").await;
    assert_eq!(m["body"], "sent on a1");
    assert_eq!(m["client_msg_id"], "from-a1");
    let m = b1.expect("message").await;
    assert_eq!(m["seq"], 2);
}

#[actix_web::test]
async fn reconnect_and_sync_recovers_everything_missed() {
    let app = spawn_app().await;
    let (a, b) = (app.user("a").await, app.user("b").await);
    let conv = app.conversation(&a, &[&b]).await;
    let mut wa = app.ws(&a.token, Encoding::Json).await;
    let mut wb = app.ws(&b.token, Encoding::Json).await;
    wa.send(json!({"type": "send", "conversation_id": conv, "client_msg_id": "c1", "body": "one"})).await;
    ack(&mut wa, "c1").await;
    assert_eq!(wb.expect("message").await["seq"], 1);
    drop(wb);
    // Let the server notice the disconnect, so the next messages find b offline.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 2..=6 {
        wa.send(json!({"type": "send", "conversation_id": conv, "client_msg_id": format!("c{i}"), "body": format!("missed {i}")}))
            .await;
        ack(&mut wa, &format!("c{i}")).await;
    }
    // Offline delivery became one `message` notification (one per unread burst).
    let n = app.get("/api/notifications", Some(&b.token)).await;
    n.expect(200, None);
    let list = n.json["results"].as_array().expect("results").clone();
    assert_eq!(list.len(), 1, "one notification for the burst: {}", n.text);
    assert_eq!(list[0]["type"], "message");
    assert_eq!(list[0]["object_id"], conv);
    assert_eq!(list[0]["action_url"], format!("/conversations/{conv}"));

    let mut wb = app.ws(&b.token, Encoding::Json).await;
    wb.send(json!({"type": "sync", "conversations": {conv.clone(): 1}})).await;
    let mut got = Vec::new();
    let mut notifications = 0;
    loop {
        let f = wb.recv_timeout(Duration::from_secs(5)).await.expect("sync frames");
        match f["type"].as_str() {
            Some("message") => {
                got.push((f["seq"].as_u64().expect("seq"), f["body"].as_str().expect("body").to_string()))
            }
            Some("notification") => {
                assert_eq!(f["notification"]["type"], "message", "{f}");
                notifications += 1;
            }
            Some("synced") => break,
            _ => {}
        }
    }
    let expected: Vec<(u64, String)> = (2..=6).map(|i| (i, format!("missed {i}"))).collect();
    assert_eq!(got, expected, "every missed message, in order, then synced");
    assert_eq!(notifications, 1, "sync without notifications_after replays all notifications");

    // With notifications_after set to the newest one, nothing is replayed.
    let newest = list[0]["id"].as_str().expect("id").to_string();
    wb.send(json!({"type": "sync", "conversations": {conv.clone(): 6}, "notifications_after": newest})).await;
    loop {
        let f = wb.recv_timeout(Duration::from_secs(5)).await.expect("frames");
        assert_ne!(f["type"], "message", "nothing newer than seq 6: {f}");
        assert_ne!(f["type"], "notification", "nothing newer than the newest notification: {f}");
        if f["type"] == "synced" {
            break;
        }
    }
}

#[actix_web::test]
async fn a_retried_client_msg_id_returns_the_original_ack() {
    let app = spawn_app().await;
    let (a, b) = (app.user("a").await, app.user("b").await);
    let conv = app.conversation(&a, &[&b]).await;
    let mut wa = app.ws(&a.token, Encoding::Json).await;
    let mut wb = app.ws(&b.token, Encoding::Json).await;
    wa.send(json!({"type": "send", "conversation_id": conv, "client_msg_id": "same", "body": "once"})).await;
    let first = ack(&mut wa, "same").await;
    wa.send(json!({"type": "send", "conversation_id": conv, "client_msg_id": "same", "body": "once"})).await;
    let second = ack(&mut wa, "same").await;
    assert_eq!(first["message_id"], second["message_id"]);
    assert_eq!(first["seq"], second["seq"]);
    // Across a reconnect, and over REST, too.
    drop(wa);
    let mut wa = app.ws(&a.token, Encoding::Msgpack).await;
    wa.send(json!({"type": "send", "conversation_id": conv, "client_msg_id": "same", "body": "once"})).await;
    let third = ack(&mut wa, "same").await;
    assert_eq!(first["message_id"], third["message_id"]);
    let r = app
        .post(
            &format!("/api/conversations/{conv}/messages"),
            json!({"body": "once", "client_msg_id": "same"}),
            Some(&a.token),
        )
        .await;
    r.expect(200, None);
    assert_eq!(r.json["id"], first["message_id"]);
    assert_eq!(wb.expect("message").await["seq"], 1);
    wb.expect_none("message", QUIET).await;
    let h = app.get(&format!("/api/conversations/{conv}/messages"), Some(&a.token)).await;
    assert_eq!(h.json["results"].as_array().expect("results").len(), 1, "no duplicate: {}", h.text);
    // A new id is a new message with the next seq.
    wa.send(json!({"type": "send", "conversation_id": conv, "client_msg_id": "other", "body": "twice"})).await;
    assert_eq!(ack(&mut wa, "other").await["seq"], 2);
}

#[actix_web::test]
async fn receipts_typing_and_presence_reach_the_right_people_only() {
    let app = spawn_app().await;
    let (a, b, c) = (app.user("a").await, app.user("b").await, app.user("c").await);
    let conv = app.conversation(&a, &[&b]).await;
    let mut wb = app.ws(&b.token, Encoding::Json).await;
    let mut wc = app.ws(&c.token, Encoding::Json).await;

    // a comes online: b (shares a conversation) hears it, c does not.
    let mut wa = app.ws(&a.token, Encoding::Json).await;
    let p = wb.expect("presence").await;
    assert_eq!(p, json!({"type": "presence", "user_id": a.id, "online": true}));
    // a learns that b is online.
    let p = wa.expect("presence").await;
    assert_eq!(p["user_id"], b.id);
    assert_eq!(p["online"], true);

    wb.send(json!({"type": "send", "conversation_id": conv, "client_msg_id": "r1", "body": "read me"})).await;
    ack(&mut wb, "r1").await;
    wa.expect("message").await;
    wa.send(json!({"type": "read", "conversation_id": conv, "seq": 1})).await;
    let r = wb.expect("read").await;
    assert_eq!(r, json!({"type": "read", "conversation_id": conv, "user_id": a.id, "seq": 1}));

    wa.send(json!({"type": "typing", "conversation_id": conv, "active": true})).await;
    let t = wb.expect("typing").await;
    assert_eq!(t, json!({"type": "typing", "conversation_id": conv, "user_id": a.id, "active": true}));
    wa.expect_none("typing", QUIET).await;

    // Typing is rate limited: a burst of 10 lets at most a few through.
    for _ in 0..10 {
        wa.send(json!({"type": "typing", "conversation_id": conv, "active": true})).await;
    }
    let mut typing = 0;
    while let Some(f) = wb.recv_timeout(QUIET).await {
        if f["type"] == "typing" {
            typing += 1;
        }
    }
    assert!((1..=4).contains(&typing), "rate limited typing, got {typing}");
    let e = wa.expect("error").await;
    assert_eq!(e["code"], "rate_limited");
    assert_eq!(e["ref"], conv);
    // Stopping always goes through.
    wa.send(json!({"type": "typing", "conversation_id": conv, "active": false})).await;
    assert_eq!(wb.expect("typing").await["active"], false);

    // a leaves: b hears it.
    drop(wa);
    let p = wb.expect("presence").await;
    assert_eq!(p, json!({"type": "presence", "user_id": a.id, "online": false}));

    // c saw none of it.
    while let Some(f) = wc.recv_timeout(QUIET).await {
        assert!(f["type"] == "unread", "an outsider got {f}");
    }
}

#[actix_web::test]
async fn outsiders_get_nothing_and_blocked_users_cannot_send() {
    let app = spawn_app().await;
    let (a, b, c) = (app.user("a").await, app.user("b").await, app.user("c").await);
    let conv = app.conversation(&a, &[&b]).await;
    let mut wa = app.ws(&a.token, Encoding::Json).await;
    let mut wc = app.ws(&c.token, Encoding::Json).await;

    // c is not a member: every path is a 404 / not_found, never a hint.
    let e = send(&mut wc, &conv, "x", "let me in").await;
    assert_eq!(e["type"], "error");
    assert_eq!(e["code"], "not_found");
    assert_eq!(e["ref"], "x");
    for path in [format!("/api/conversations/{conv}"), format!("/api/conversations/{conv}/messages")] {
        app.get(&path, Some(&c.token)).await.expect(404, Some("not_found"));
    }
    app.post(&format!("/api/conversations/{conv}/messages"), json!({"body": "hi"}), Some(&c.token))
        .await
        .expect(404, Some("not_found"));
    app.post(&format!("/api/conversations/{conv}/read"), json!({"seq": 1}), Some(&c.token))
        .await
        .expect(404, Some("not_found"));
    wc.send(json!({"type": "read", "conversation_id": conv, "seq": 1})).await;
    assert_eq!(wc.expect("error").await["code"], "not_found");
    wc.send(json!({"type": "typing", "conversation_id": conv, "active": true})).await;
    assert_eq!(wc.expect("error").await["code"], "not_found");
    wa.send(json!({"type": "send", "conversation_id": conv, "client_msg_id": "m", "body": "secret"})).await;
    let acked = ack(&mut wa, "m").await;
    let mid = acked["message_id"].as_str().expect("id").to_string();
    wc.send(json!({"type": "edit", "message_id": mid, "body": "mine now"})).await;
    assert_eq!(wc.expect("error").await["code"], "not_found");
    app.patch(&format!("/api/messages/{mid}"), json!({"body": "x"}), Some(&c.token))
        .await
        .expect(404, Some("not_found"));
    app.delete(&format!("/api/messages/{mid}"), Some(&c.token)).await.expect(404, Some("not_found"));
    wc.send(json!({"type": "sync", "conversations": {conv.clone(): 0}})).await;
    let e = wc.expect("error").await;
    assert_eq!(e["code"], "not_found");
    wc.expect("synced").await;
    while let Some(f) = wc.recv_timeout(QUIET).await {
        assert_ne!(f["type"], "message", "an outsider got a message: {f}");
    }

    // b blocks a: a cannot send (WS or REST) nor start a conversation with b.
    app.put(&format!("/api/blocks/{}", a.id), json!({}), Some(&b.token)).await.expect(200, None);
    let e = send(&mut wa, &conv, "blocked-1", "are you there?").await;
    assert_eq!(e["type"], "error", "{e}");
    assert_eq!(e["code"], "blocked");
    app.post(&format!("/api/conversations/{conv}/messages"), json!({"body": "hello?"}), Some(&a.token))
        .await
        .expect(403, Some("blocked"));
    app.post("/api/conversations", json!({"participant_ids": [b.id]}), Some(&a.token))
        .await
        .expect(403, Some("blocked"));
    // b still can; unblocking restores a.
    app.post(&format!("/api/conversations/{conv}/messages"), json!({"body": "bye"}), Some(&b.token))
        .await
        .expect(201, None);
    app.delete(&format!("/api/blocks/{}", a.id), Some(&b.token)).await.expect(204, None);
    let f = send(&mut wa, &conv, "after-unblock", "hi again").await;
    let f = if f["type"] == "message" { ack(&mut wa, "after-unblock").await } else { f };
    assert_eq!(f["type"], "ack", "{f}");
}

#[actix_web::test]
async fn malformed_frames_get_error_frames_and_the_socket_stays_open() {
    use tokio_tungstenite::tungstenite::Message;
    let app = spawn_app().await;
    let (a, b) = (app.user("a").await, app.user("b").await);
    let conv = app.conversation(&a, &[&b]).await;
    let mut ws = app.ws(&a.token, Encoding::Json).await;
    let cases: Vec<(Message, &str)> = vec![
        (Message::Text("not json".into()), "invalid_frame"),
        (Message::Text("[1,2,3]".into()), "invalid_frame"),
        (Message::Text("{}".into()), "invalid_frame"),
        (Message::Text(r#"{"type": 42}"#.into()), "invalid_frame"),
        (Message::Text(r#"{"type": "teleport"}"#.into()), "unknown_type"),
        (Message::Text(r#"{"type": "send", "body": "no conversation"}"#.into()), "invalid_frame"),
        (Message::Text(r#"{"type": "read", "conversation_id": "x", "seq": "five"}"#.into()), "invalid_frame"),
        (Message::Text(r#"{"type": "read", "conversation_id": "x", "seq": -1}"#.into()), "invalid_frame"),
        (Message::Binary(vec![0x81, 0xa4].into()), "invalid_frame"),
        (
            Message::Text(
                format!(r#"{{"type": "send", "conversation_id": "{conv}", "client_msg_id": "e1", "body": ""}}"#).into(),
            ),
            "invalid",
        ),
        (
            Message::Text(
                format!(
                    r#"{{"type": "send", "conversation_id": "{conv}", "client_msg_id": "has space", "body": "x"}}"#
                )
                .into(),
            ),
            "invalid",
        ),
        (
            Message::Text(
                format!(
                    r#"{{"type": "send", "conversation_id": "{conv}", "client_msg_id": "e2", "body": "{}"}}"#,
                    "x".repeat(4001)
                )
                .into(),
            ),
            "invalid",
        ),
        (
            Message::Text(
                r#"{"type": "send", "conversation_id": "not-a-uuid", "client_msg_id": "e3", "body": "x"}"#.into(),
            ),
            "not_found",
        ),
        (Message::Text(r#"{"type": "edit", "message_id": "nope", "body": "x"}"#.into()), "not_found"),
        (
            Message::Text(r#"{"type": "delete", "message_id": "0190f6b2-7c1a-7d3e-8a4b-1234567890ab"}"#.into()),
            "not_found",
        ),
        (Message::Text(r#"{"type": "sync", "conversations": [], "notifications_after": 5}"#.into()), "invalid_frame"),
        (Message::Text(r#"{"type": "sync", "notifications_after": "nope"}"#.into()), "invalid"),
        (Message::Text(format!(r#"{{"type": "ping", "pad": "{}"}}"#, "x".repeat(70 * 1024)).into()), "frame_too_large"),
    ];
    for (msg, code) in cases {
        let shown = format!("{msg:?}").chars().take(120).collect::<String>();
        ws.send_raw(msg).await;
        let f = ws.expect("error").await;
        assert_eq!(f["code"], code, "for {shown}: {f}");
        assert!(f["message"].as_str().is_some_and(|m| !m.is_empty()), "{f}");
    }
    // Still open and working.
    ws.send(json!({"type": "ping"})).await;
    ws.expect("pong").await;
    let f = send(&mut ws, &conv, "ok", "still here").await;
    let f = if f["type"] == "message" { ack(&mut ws, "ok").await } else { f };
    assert_eq!(f["type"], "ack", "{f}");
}

#[actix_web::test]
async fn flooding_a_socket_closes_it_with_4008() {
    let app = spawn_app_with(|s| s.ws_frames_per_sec = 5).await;
    let a = app.user("a").await;
    let mut ws = app.ws(&a.token, Encoding::Json).await;
    for _ in 0..40 {
        ws.send(json!({"type": "ping"})).await;
    }
    assert_eq!(ws.closed(Duration::from_secs(5)).await, Some(4008), "close: {:?}", ws.close);
}

#[actix_web::test]
async fn bad_or_missing_tokens_close_with_4001_and_bearer_headers_work() {
    let app = spawn_app().await;
    let a = app.user("a").await;
    for path in ["/ws", "/ws?token=garbage"] {
        let (mut ws, first) = app.ws_raw(path, None, Encoding::Json).await;
        assert!(first.is_none(), "no frames before the close: {first:?}");
        assert_eq!(ws.closed(Duration::from_secs(2)).await.or(ws.close.as_ref().map(|c| c.0)), Some(4001));
    }
    let (_ws, first) = app.ws_raw("/ws", Some(&a.token), Encoding::Msgpack).await;
    let hello = first.expect("hello");
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["user_id"], a.id);
    assert!(hello["heartbeat_ms"].as_u64().is_some_and(|h| h > 0));
    assert!(hello["connection_id"].as_u64().is_some());
    // A logged-out session's token is refused.
    let login = app.login(&a.email, agora_tests::PASSWORD).await;
    let access = login.json["access"].as_str().expect("access").to_string();
    let refresh = login.json["refresh"].as_str().expect("refresh").to_string();
    app.post("/api/auth/logout", json!({"refresh": refresh}), Some(&access)).await.expect(204, None);
    let (mut ws, first) = app.ws_raw(&format!("/ws?token={access}"), None, Encoding::Json).await;
    assert!(first.is_none());
    assert_eq!(ws.close.as_ref().map(|c| c.0).or(ws.closed(Duration::from_secs(2)).await), Some(4001));
}

#[actix_web::test]
async fn msgpack_and_json_clients_talk_to_each_other() {
    let app = spawn_app().await;
    let (a, b) = (app.user("a").await, app.user("b").await);
    let conv = app.conversation(&a, &[&b]).await;
    let mut mp = app.ws(&a.token, Encoding::Msgpack).await;
    let mut js = app.ws(&b.token, Encoding::Json).await;
    mp.send(json!({"type": "send", "conversation_id": conv, "client_msg_id": "mp1", "body": "from msgpack ✓"})).await;
    let a1 = ack(&mut mp, "mp1").await;
    assert_eq!(a1["seq"], 1);
    let m = js.expect("message").await;
    assert_eq!(m["body"], "from msgpack ✓");
    assert_eq!(m["sender_id"], a.id);
    js.send(json!({"type": "send", "conversation_id": conv, "client_msg_id": "js1", "body": "from json"})).await;
    ack(&mut js, "js1").await;
    let m = mp.expect("message").await;
    assert_eq!(m["body"], "from json");
    assert_eq!(m["seq"], 2);
}

#[actix_web::test]
async fn a_slow_consumer_is_cut_off_while_others_keep_receiving() {
    let app = spawn_app_with(|s| {
        s.ws_outbound_queue = 16;
        s.ws_frames_per_sec = 100_000;
    })
    .await;
    let (a, slow, fast) = (app.user("a").await, app.user("slow").await, app.user("fast").await);
    let r = app
        .post("/api/conversations", json!({"participant_ids": [slow.id, fast.id], "title": "load"}), Some(&a.token))
        .await;
    r.expect(201, None);
    let conv = r.json["id"].as_str().expect("id").to_string();
    let mut wslow = app.ws(&slow.token, Encoding::Json).await;
    let mut wfast = app.ws(&fast.token, Encoding::Json).await;
    // Big frames (about 12 KB each) fill the slow reader's socket buffers, then its queue.
    // The sender uses REST, so it is not a reader itself.
    let body = "€".repeat(4000);
    let total = 1500u64;
    let path = format!("/api/conversations/{conv}/messages");
    let sender = async {
        for _ in 1..=total {
            app.post(&path, json!({"body": body}), Some(&a.token)).await.expect(201, None);
        }
    };
    let reader = async {
        let mut last = 0;
        while last < total {
            let m = wfast.expect("message").await;
            let seq = m["seq"].as_u64().expect("seq");
            assert_eq!(seq, last + 1, "the fast reader sees every message in order");
            last = seq;
        }
        last
    };
    let (_, fast_got) = tokio::join!(sender, reader);
    assert_eq!(fast_got, total);
    // The slow reader now drains what was buffered and finds the 4009 close.
    let mut seen = 0u64;
    let code = loop {
        match wslow.recv_timeout(Duration::from_secs(10)).await {
            Some(f) if f["type"] == "message" => seen = f["seq"].as_u64().expect("seq"),
            Some(_) => {}
            None => break wslow.close.as_ref().map(|c| c.0),
        }
    };
    assert_eq!(code, Some(4009), "slow consumer closed with 4009 after {seen} messages");
    assert!(seen < total, "it was cut off before the end ({seen})");
    // It resumes with sync and loses nothing.
    let mut wslow = app.ws(&slow.token, Encoding::Json).await;
    wslow.send(json!({"type": "sync", "conversations": {conv.clone(): seen}})).await;
    let mut next = seen + 1;
    loop {
        let f = wslow.recv_timeout(Duration::from_secs(10)).await.expect("sync frames");
        if f["type"] == "message" {
            assert_eq!(f["seq"], next);
            next += 1;
        } else if f["type"] == "synced" {
            break;
        }
    }
    assert_eq!(next, total + 1, "sync replayed the rest");
}

#[actix_web::test]
async fn rest_messaging_lists_pages_reads_edits_and_deletes() {
    let app = spawn_app().await;
    let (a, b, c) = (app.user("a").await, app.user("b").await, app.user("c").await);
    // Direct conversations are unique per pair.
    let r1 = app.post("/api/conversations", json!({"participant_ids": [b.id]}), Some(&a.token)).await;
    r1.expect(201, None);
    assert_eq!(r1.json["kind"], "direct");
    let r2 = app.post("/api/conversations", json!({"participant_ids": [a.id]}), Some(&b.token)).await;
    r2.expect(200, None);
    assert_eq!(r1.json["id"], r2.json["id"]);
    let ab = r1.json["id"].as_str().expect("id").to_string();
    let ac = app.conversation(&a, &[&c]).await;
    // Validation.
    app.post("/api/conversations", json!({}), Some(&a.token)).await.expect(400, Some("validation_failed"));
    app.post("/api/conversations", json!({"participant_ids": [a.id]}), Some(&a.token))
        .await
        .expect(400, Some("validation_failed"));
    app.post("/api/conversations", json!({"participant_ids": ["nope"]}), Some(&a.token))
        .await
        .expect(400, Some("validation_failed"));
    let ghost = "0190f6b2-7c1a-7d3e-8a4b-1234567890ab";
    app.post("/api/conversations", json!({"participant_ids": [ghost]}), Some(&a.token))
        .await
        .expect(400, Some("validation_failed"));
    app.get("/api/conversations", None).await.expect(401, Some("unauthorized"));

    let mut wb = app.ws(&b.token, Encoding::Json).await;
    for i in 1..=25 {
        let r = app
            .post(&format!("/api/conversations/{ab}/messages"), json!({"body": format!("m{i}")}), Some(&a.token))
            .await;
        r.expect(201, None);
        assert_eq!(r.json["seq"], i);
    }
    // REST sends are delivered live.
    assert_eq!(wb.expect("message").await["body"], "m1");
    app.post(&format!("/api/conversations/{ac}/messages"), json!({"body": "to c"}), Some(&a.token))
        .await
        .expect(201, None);
    app.post(&format!("/api/conversations/{ab}/messages"), json!({}), Some(&a.token))
        .await
        .expect(400, Some("validation_failed"));

    // Newest activity first, with last message and unread count.
    let list = app.get("/api/conversations", Some(&b.token)).await;
    list.expect(200, None);
    let results = list.json["results"].as_array().expect("results");
    assert_eq!(results.len(), 1, "b sees only its own conversations");
    assert_eq!(results[0]["unread_count"], 25);
    assert_eq!(results[0]["last_message"]["body"], "m25");
    let list = app.get("/api/conversations?limit=1", Some(&a.token)).await;
    assert_eq!(list.json["results"][0]["id"], ac, "the most recent activity comes first");
    let cursor = list.json["next_cursor"].as_str().expect("a next page").to_string();
    let page2 = app.get(&format!("/api/conversations?limit=1&cursor={cursor}"), Some(&a.token)).await;
    assert_eq!(page2.json["results"][0]["id"], ab);
    assert!(page2.json["next_cursor"].is_null());
    app.get("/api/conversations?limit=0", Some(&a.token)).await.expect(400, Some("validation_failed"));
    app.get("/api/conversations?limit=101", Some(&a.token)).await.expect(400, Some("validation_failed"));
    app.get("/api/conversations?cursor=%%%", Some(&a.token)).await.expect(400, Some("invalid_cursor"));

    // History pages newest first by before_seq.
    let p1 = app.get(&format!("/api/conversations/{ab}/messages?limit=10"), Some(&b.token)).await;
    let seqs = |r: &agora_tests::Reply| -> Vec<u64> {
        r.json["results"].as_array().expect("results").iter().map(|m| m["seq"].as_u64().expect("seq")).collect()
    };
    assert_eq!(seqs(&p1), (16..=25).rev().collect::<Vec<_>>());
    let next = p1.json["next_cursor"].as_str().expect("cursor").to_string();
    let p2 = app.get(&format!("/api/conversations/{ab}/messages?limit=10&cursor={next}"), Some(&b.token)).await;
    assert_eq!(seqs(&p2), (6..=15).rev().collect::<Vec<_>>());
    let p3 = app.get(&format!("/api/conversations/{ab}/messages?before_seq=6&limit=10"), Some(&b.token)).await;
    assert_eq!(seqs(&p3), (1..=5).rev().collect::<Vec<_>>());
    assert!(p3.json["next_cursor"].is_null());

    // Mark read: unread drops, a receipt goes out, the cursor never moves back.
    let mut wa = app.ws(&a.token, Encoding::Json).await;
    let r = app.post(&format!("/api/conversations/{ab}/read"), json!({"seq": 20}), Some(&b.token)).await;
    r.expect(200, None);
    assert_eq!(r.json["seq"], 20);
    assert_eq!(wa.expect("read").await["seq"], 20);
    let r = app.post(&format!("/api/conversations/{ab}/read"), json!({"seq": 3}), Some(&b.token)).await;
    assert_eq!(r.json["seq"], 20);
    let r = app.post(&format!("/api/conversations/{ab}/read"), json!({"seq": 999}), Some(&b.token)).await;
    assert_eq!(r.json["seq"], 25, "never past the last message");
    app.post(&format!("/api/conversations/{ab}/read"), json!({}), Some(&b.token))
        .await
        .expect(400, Some("validation_failed"));
    let got = app.get(&format!("/api/conversations/{ab}"), Some(&b.token)).await;
    assert_eq!(got.json["unread_count"], 0);
    // The detail carries every member's cursor, so a client can show receipts after a reload.
    let seen = app.get(&format!("/api/conversations/{ab}"), Some(&a.token)).await;
    assert_eq!(seen.json["read_seqs"][&b.id], 25, "{}", seen.text);
    assert_eq!(seen.json["read_seqs"].as_object().map(|m| m.len()), Some(2), "{}", seen.text);
    assert!(app.get("/api/conversations", Some(&a.token)).await.json["results"][0].get("read_seqs").is_none());

    // Edit and delete: sender only.
    let mid = p3.json["results"][0]["id"].as_str().expect("id").to_string();
    app.patch(&format!("/api/messages/{mid}"), json!({"body": "nope"}), Some(&b.token))
        .await
        .expect(403, Some("forbidden"));
    app.delete(&format!("/api/messages/{mid}"), Some(&b.token)).await.expect(403, Some("forbidden"));
    let e = app.patch(&format!("/api/messages/{mid}"), json!({"body": "m5 (edited)"}), Some(&a.token)).await;
    e.expect(200, None);
    assert_eq!(e.json["body"], "m5 (edited)");
    assert!(e.json["edited_at"].is_string());
    let live = wb.expect("message_edited").await;
    assert_eq!(live["message_id"], mid);
    assert_eq!(live["body"], "m5 (edited)");
    app.patch(&format!("/api/messages/{mid}"), json!({"body": ""}), Some(&a.token))
        .await
        .expect(400, Some("validation_failed"));
    app.delete(&format!("/api/messages/{mid}"), Some(&a.token)).await.expect(204, None);
    let live = wb.expect("message_deleted").await;
    assert_eq!(live["seq"], 5);
    app.delete(&format!("/api/messages/{mid}"), Some(&a.token)).await.expect(409, Some("conflict"));
    let h = app.get(&format!("/api/conversations/{ab}/messages?before_seq=6&limit=1"), Some(&b.token)).await;
    assert_eq!(h.json["results"][0]["deleted"], true);
    assert_eq!(h.json["results"][0]["body"], "");
    // Edits over WebSocket too (sender only).
    let last = p1.json["results"][0]["id"].as_str().expect("id").to_string();
    wb.send(json!({"type": "edit", "message_id": last, "body": "hijack"})).await;
    assert_eq!(wb.expect("error").await["code"], "forbidden");
    wa.send(json!({"type": "edit", "message_id": last, "body": "m25 (edited)"})).await;
    assert_eq!(wb.expect("message_edited").await["body"], "m25 (edited)");
    let got = app.get(&format!("/api/conversations/{ab}"), Some(&b.token)).await;
    assert_eq!(got.json["last_message"]["body"], "m25 (edited)", "the head sees the edit");
}

#[actix_web::test]
async fn blocks_are_listed_read_and_validated() {
    let app = spawn_app().await;
    let (a, b) = (app.user("a").await, app.user("b").await);
    app.get(&format!("/api/blocks/{}", b.id), Some(&a.token)).await.expect(404, Some("not_found"));
    let r = app.put(&format!("/api/blocks/{}", b.id), json!({}), Some(&a.token)).await;
    r.expect(200, None);
    assert_eq!(r.json["user_id"], b.id);
    app.put(&format!("/api/blocks/{}", b.id), json!({}), Some(&a.token)).await.expect(200, None);
    app.get(&format!("/api/blocks/{}", b.id), Some(&a.token)).await.expect(200, None);
    let list = app.get("/api/blocks", Some(&a.token)).await;
    assert_eq!(list.json["results"].as_array().expect("results").len(), 1);
    assert_eq!(app.get("/api/blocks", Some(&b.token)).await.json["results"].as_array().expect("results").len(), 0);
    app.put(&format!("/api/blocks/{}", a.id), json!({}), Some(&a.token)).await.expect(400, Some("validation_failed"));
    app.put("/api/blocks/0190f6b2-7c1a-7d3e-8a4b-1234567890ab", json!({}), Some(&a.token))
        .await
        .expect(404, Some("not_found"));
    app.delete(&format!("/api/blocks/{}", b.id), Some(&a.token)).await.expect(204, None);
    app.delete(&format!("/api/blocks/{}", b.id), Some(&a.token)).await.expect(404, Some("not_found"));
}

#[actix_web::test]
async fn realtime_metrics_are_exported() {
    let app = spawn_app().await;
    let (a, b) = (app.user("a").await, app.user("b").await);
    let conv = app.conversation(&a, &[&b]).await;
    let mut wa = app.ws(&a.token, Encoding::Json).await;
    let mut wb = app.ws(&b.token, Encoding::Msgpack).await;
    wa.send(json!({"type": "send", "conversation_id": conv, "client_msg_id": "m1", "body": "measured"})).await;
    ack(&mut wa, "m1").await;
    wb.expect("message").await;
    let text = app.get("/metrics", None).await.text;
    for needle in [
        "agora_ws_connections",
        "agora_online_users",
        "agora_conversation_actors",
        "agora_ws_frames_in_total{type=\"send\"}",
        "agora_ws_frames_out_total{type=\"message\"}",
        "agora_message_latency_seconds_bucket{stage=\"durable\"",
        "agora_message_latency_seconds_bucket{stage=\"delivered\"",
    ] {
        assert!(text.contains(needle), "/metrics lacks {needle}");
    }
    assert!(!text.contains(&conv), "no entity ids in metric labels");
}

#[actix_web::test]
async fn a_silent_connection_is_closed_after_the_heartbeat_timeout() {
    // Generous margins: on a loaded 2-core runner a reading client can stall for a few
    // hundred milliseconds, which must not count as a missed heartbeat.
    let app = spawn_app_with(|s| {
        s.ws_heartbeat_ms = 200;
        s.ws_timeout_ms = 1_500;
    })
    .await;
    let a = app.user("a").await;
    let mut quiet = app.ws_silent(&a.token).await;
    let hello = quiet.hello().await;
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["heartbeat_ms"], 200, "the interval is announced");
    // A client that answers pings (it keeps reading) stays connected past the timeout.
    let mut lively = app.ws(&a.token, Encoding::Json).await;
    // The quiet one never writes, so it never answers the server's pings; the lively one
    // keeps reading (which answers them), for twice the timeout.
    lively.expect_none("message", Duration::from_millis(3_000)).await;
    lively.send(json!({"type": "ping"})).await;
    lively.expect("pong").await;
    assert_eq!(quiet.closed(Duration::from_secs(5)).await, Some(4008), "closed for missing heartbeats");
    lively.send(json!({"type": "ping"})).await;
    lively.expect("pong").await;
}

/// An acknowledged message is durable, so it can be edited or deleted at once, over the
/// socket and over REST, without waiting for its derived rows.
#[actix_web::test]
async fn an_acked_message_can_be_edited_and_deleted_at_once() {
    let app = spawn_app().await;
    let (a, b) = (app.user("a").await, app.user("b").await);
    let conversation = app.conversation(&a, &[&b]).await;
    let mut ws = app.ws(&a.token, Encoding::Json).await;
    for i in 0..20 {
        ws.send(json!({"type": "send", "conversation_id": conversation, "client_msg_id": format!("c{i}"), "body": format!("m{i}")}))
            .await;
        let ack = ws.expect("ack").await;
        let id = ack["message_id"].as_str().expect("message id").to_string();
        ws.send(json!({"type": "edit", "message_id": id, "body": format!("m{i} (edited)")})).await;
        let edited = ws.expect("message_edited").await;
        assert_eq!(edited["message_id"], id.as_str(), "{edited}");
    }
    for i in 0..20 {
        let sent = app
            .post(
                &format!("/api/conversations/{conversation}/messages"),
                json!({"body": format!("r{i}")}),
                Some(&a.token),
            )
            .await;
        sent.expect(201, None);
        let id = sent.json["id"].as_str().expect("message id").to_string();
        if i % 2 == 0 {
            let edited = app.patch(&format!("/api/messages/{id}"), json!({"body": "edited"}), Some(&a.token)).await;
            edited.expect(200, None);
            assert_eq!(edited.json["body"], "edited");
        } else {
            app.delete(&format!("/api/messages/{id}"), Some(&a.token)).await.expect(204, None);
        }
    }
}
