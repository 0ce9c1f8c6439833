//! The WebSocket transport: the only module that knows actix-web-actors (see
//! docs/adr/0001-websocket-transport.md). One `WsConnection` actor per socket owns the
//! handshake result, frame size cap, heartbeat, inbound rate limit, decoding, writing of
//! pre-serialized frames from the bounded outbound queue, and close codes. It talks to
//! the user's session only through typed messages. Every way a connection ends (close
//! frame, protocol error, heartbeat timeout, revoked token, slow consumer, shutdown)
//! goes through `ctx.stop()`, whose `stopping()` sends the one `Disconnected`.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws::{self, CloseCode, CloseReason};
use agora_actors::connection::{ConnectionId, Outbound};
use agora_actors::protocol::{
    decode, ClientFrame, Encoding, ServerFrame, SharedFrame, CLOSE_POLICY, CLOSE_TOO_SLOW, CLOSE_UNAUTHORIZED,
    SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK,
};
use agora_actors::registry::{Connect, SessionRegistry};
use agora_actors::session::{Disconnected, FromClient, UserSession};
use agora_storage::Store;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;

/// Frames up to this many times `max_frame_bytes` get an `error` frame; larger ones close 1009.
const HARD_LIMIT_FACTOR: usize = 4;
/// How often a live connection re-checks that its login session has not been revoked.
const REVOCATION_CHECK: Duration = Duration::from_secs(60);

const PROTOCOLS: &[&str] = &[SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK];

pub(super) fn start(
    req: &HttpRequest,
    stream: web::Payload,
    state: &web::Data<AppState>,
    auth: Option<AuthUser>,
    encoding: Encoding,
) -> Result<HttpResponse, ApiError> {
    let s = &state.settings;
    let rate = f64::from(s.ws_frames_per_sec);
    let actor = WsConnection {
        auth,
        encoding,
        registry: state.hub.sessions.clone(),
        store: state.store.clone(),
        session: None,
        connection_id: 0,
        close_code: None,
        last_seen: Instant::now(),
        heartbeat: Duration::from_millis(s.ws_heartbeat_ms),
        timeout: Duration::from_millis(s.ws_timeout_ms),
        max_frame: s.max_frame_bytes,
        rate,
        tokens: rate * 2.0,
        refilled: Instant::now(),
        fragment: None,
    };
    ws::WsResponseBuilder::new(actor, req, stream)
        .protocols(PROTOCOLS)
        .frame_size(s.max_frame_bytes * HARD_LIMIT_FACTOR)
        .start()
        .map_err(|e| ApiError::BadRequest { code: "websocket_upgrade_required", message: e.to_string() })
}

struct WsConnection {
    /// `None`: the token was missing or bad; the socket is closed with 4001 at once.
    auth: Option<AuthUser>,
    encoding: Encoding,
    registry: Addr<SessionRegistry>,
    store: Store,
    session: Option<Addr<UserSession>>,
    connection_id: ConnectionId,
    close_code: Option<Arc<AtomicU16>>,
    last_seen: Instant,
    heartbeat: Duration,
    timeout: Duration,
    max_frame: usize,
    rate: f64,
    tokens: f64,
    refilled: Instant,
    /// A fragmented message being reassembled: (is text, bytes so far).
    fragment: Option<(bool, BytesMut)>,
}

impl WsConnection {
    fn close(&mut self, ctx: &mut ws::WebsocketContext<Self>, code: u16, reason: &str) {
        ctx.close(Some(CloseReason { code: CloseCode::Other(code), description: Some(reason.to_string()) }));
        ctx.stop();
    }

    fn send_frame(&self, ctx: &mut ws::WebsocketContext<Self>, frame: &SharedFrame) {
        let bytes = frame.bytes(self.encoding);
        match self.encoding {
            Encoding::Json => ctx.text(String::from_utf8_lossy(&bytes).into_owned()),
            Encoding::Msgpack => ctx.binary(Bytes::copy_from_slice(&bytes)),
        }
        metrics::counter!("agora_ws_frames_out_total", "type" => frame.frame.kind()).increment(1);
        if let Some(origin) = frame.origin {
            let stage = if frame.remote { "delivered_remote" } else { "delivered" };
            metrics::histogram!("agora_message_latency_seconds", "stage" => stage)
                .record(origin.elapsed().as_secs_f64());
        }
    }

    fn send_error(&self, ctx: &mut ws::WebsocketContext<Self>, code: &str, message: String) {
        self.send_frame(ctx, &SharedFrame::new(ServerFrame::error(code, message, None)));
    }

    /// Token bucket: `rate` frames per second, burst of twice that.
    fn allow(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.refilled).as_secs_f64() * self.rate).min(self.rate * 2.0);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// One complete application frame.
    fn inbound(&mut self, ctx: &mut ws::WebsocketContext<Self>, is_text: bool, bytes: &[u8]) {
        let received = Instant::now();
        if !self.allow() {
            metrics::counter!("agora_ws_policy_closes_total").increment(1);
            return self.close(ctx, CLOSE_POLICY, "too many frames; slow down");
        }
        if bytes.len() > self.max_frame {
            metrics::counter!("agora_ws_frames_in_total", "type" => "too_large").increment(1);
            return self.send_error(
                ctx,
                "frame_too_large",
                format!("frames are limited to {} bytes; this one has {}", self.max_frame, bytes.len()),
            );
        }
        let expected_text = self.encoding == Encoding::Json;
        if is_text != expected_text {
            metrics::counter!("agora_ws_frames_in_total", "type" => "wrong_kind").increment(1);
            let want = if expected_text { "text frames (agora.v1.json)" } else { "binary frames (agora.v1.msgpack)" };
            return self.send_error(ctx, "invalid_frame", format!("this connection speaks {want}"));
        }
        let frame = match decode(bytes, self.encoding) {
            Ok(f) => f,
            Err(e) => {
                metrics::counter!("agora_ws_frames_in_total", "type" => "invalid").increment(1);
                return self.send_error(ctx, e.code, e.message);
            }
        };
        metrics::counter!("agora_ws_frames_in_total", "type" => frame.kind()).increment(1);
        if let ClientFrame::Ping {} = frame {
            return self.send_frame(ctx, &SharedFrame::new(ServerFrame::Pong {}));
        }
        if let Some(session) = &self.session {
            session.do_send(FromClient { connection_id: self.connection_id, frame, received });
        }
    }
}

impl Actor for WsConnection {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let Some(auth) = self.auth else {
            metrics::counter!("agora_ws_rejected_total", "reason" => "unauthorized").increment(1);
            return self.close(ctx, CLOSE_UNAUTHORIZED, "unauthorized: a valid access token is required");
        };
        let connect = self.registry.send(Connect { user: auth.id, encoding: self.encoding });
        // Nothing else runs on this connection until it is registered and `hello` is out.
        ctx.wait(connect.into_actor(self).map(move |res, act, ctx| match res {
            Ok(Ok(connected)) => {
                act.session = Some(connected.session);
                act.connection_id = connected.connection_id;
                act.close_code = Some(connected.close_code);
                let hello = ServerFrame::Hello {
                    user_id: auth.id.to_string(),
                    connection_id: connected.connection_id,
                    heartbeat_ms: u64::try_from(act.heartbeat.as_millis()).unwrap_or(u64::MAX),
                    server_time: agora_actors::protocol::rfc3339(time::OffsetDateTime::now_utc()),
                };
                act.send_frame(ctx, &SharedFrame::new(hello));
                let outbound = futures_util::stream::unfold(connected.outbound, |mut rx| async move {
                    rx.recv().await.map(|item| (item, rx))
                });
                ctx.add_stream(outbound);
                tracing::debug!(user = %auth.id, connection_id = act.connection_id, "websocket connected");
            }
            Ok(Err(agora_actors::ActorError::TooManyConnections)) => {
                metrics::counter!("agora_ws_rejected_total", "reason" => "too_many_connections").increment(1);
                act.close(ctx, CLOSE_POLICY, "too many connections");
            }
            _ => {
                tracing::error!(user = %auth.id, "session registry unavailable");
                act.close(ctx, 1011, "server error");
            }
        }));
        ctx.run_interval(self.heartbeat, |act, ctx| {
            if act.last_seen.elapsed() > act.timeout {
                tracing::debug!(connection_id = act.connection_id, "heartbeat timeout");
                metrics::counter!("agora_ws_heartbeat_timeouts_total").increment(1);
                act.close(ctx, CLOSE_POLICY, "heartbeat timeout");
            } else {
                ctx.ping(b"");
            }
        });
        let session_id = auth.session;
        ctx.run_interval(REVOCATION_CHECK, move |act, ctx| {
            let store = act.store.clone();
            ctx.spawn(async move { store.sessions().is_active(session_id).await }.into_actor(act).map(
                |active, act, ctx| {
                    if matches!(active, Ok(false)) {
                        act.close(ctx, CLOSE_UNAUTHORIZED, "the login session was revoked");
                    }
                },
            ));
        });
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        if let Some(session) = self.session.take() {
            session.do_send(Disconnected { connection_id: self.connection_id });
        }
        Running::Stop
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for WsConnection {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.last_seen = Instant::now();
        let msg = match msg {
            Ok(m) => m,
            Err(ws::ProtocolError::Overflow) => {
                return self.close(ctx, 1009, "frame too large");
            }
            Err(e) => {
                tracing::debug!(connection_id = self.connection_id, error = %e, "websocket protocol error");
                return self.close(ctx, 1002, "protocol error");
            }
        };
        match msg {
            ws::Message::Ping(p) => ctx.pong(&p),
            ws::Message::Pong(_) | ws::Message::Nop => {}
            ws::Message::Text(t) => self.inbound(ctx, true, t.as_bytes()),
            ws::Message::Binary(b) => self.inbound(ctx, false, &b),
            ws::Message::Continuation(item) => {
                let (chunk, first, last) = match item {
                    actix_http::ws::Item::FirstText(b) => (b, Some(true), false),
                    actix_http::ws::Item::FirstBinary(b) => (b, Some(false), false),
                    actix_http::ws::Item::Continue(b) => (b, None, false),
                    actix_http::ws::Item::Last(b) => (b, None, true),
                };
                if let Some(is_text) = first {
                    self.fragment = Some((is_text, BytesMut::new()));
                }
                let Some((_, buf)) = self.fragment.as_mut() else {
                    return self.close(ctx, 1002, "continuation without a first fragment");
                };
                buf.extend_from_slice(&chunk);
                if buf.len() > self.max_frame * HARD_LIMIT_FACTOR {
                    self.fragment = None;
                    return self.close(ctx, 1009, "message too large");
                }
                if last {
                    if let Some((is_text, buf)) = self.fragment.take() {
                        self.inbound(ctx, is_text, &buf);
                    }
                }
            }
            ws::Message::Close(reason) => {
                ctx.close(reason);
                ctx.stop();
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl StreamHandler<Outbound> for WsConnection {
    fn handle(&mut self, item: Outbound, ctx: &mut Self::Context) {
        match item {
            Outbound::Frame(frame) => self.send_frame(ctx, &frame),
            Outbound::Close(code, reason) => self.close(ctx, code, reason),
        }
    }

    /// The session dropped its sender: the queue overflowed (4009) or the server is closing.
    fn finished(&mut self, ctx: &mut Self::Context) {
        let code = self.close_code.as_ref().map_or(0, |c| c.load(Ordering::Relaxed));
        if code == CLOSE_TOO_SLOW {
            self.close(ctx, CLOSE_TOO_SLOW, "too slow: outbound queue overflowed; reconnect and sync");
        } else {
            self.close(ctx, agora_actors::protocol::CLOSE_GOING_AWAY, "server closing the connection");
        }
    }
}
