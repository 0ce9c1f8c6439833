//! `agora-load ws`: holds many WebSocket connections to `GET /ws` and drives chat traffic
//! through some of them.
//!
//! Set-up: registers `--users` accounts, pairs them (user 2i with user 2i+1; with an odd
//! count the last user pairs with user 0) into direct conversations, then opens
//! `--connections` WebSockets, connection `c` authenticating as user `c % users`, so a user
//! has several devices. At most `--connect-concurrency` handshakes are in flight at once; a
//! connection counts as opened when its `hello` frame arrives.
//!
//! Run: once every connection is open (or has failed), the first `--senders` connections
//! send `send` frames into their user's conversation for `--duration`, together
//! `--rate` messages per second (0: as fast as the in-flight window allows). Every
//! connection keeps reading. The body starts with the send time (microseconds since the
//! run's epoch) and the client message id ends with it, so the ack latency (send to `ack`
//! on the sending connection) and the delivery latency (send to `message` on each
//! connection of the other member) need no shared state. After the run the connections
//! stay open for `--drain` to collect late acks and deliveries, then close with 1000.
//!
//! Several nodes (cluster mode: `--url A --url B` or `--url A,B`): registration and
//! conversations go through the first URL (the nodes share storage); every WebSocket goes
//! to the node [`node_of_connection`] assigns it. Connection `c` is device `d = c / users`
//! of user `u = c % users`; `u` is side `s = u % 2` of pair `k = u / 2`. With `N` nodes,
//! connection `c` goes to node `(k + s * ((k / N) % N) + d) % N`: both members of the
//! pairs in every first block of `N` (k / N % N == 0) sit on one node, the second members
//! of the other blocks are rotated by 1 .. N-1 nodes, and each further device of a user
//! moves one node on. So every node gets the same share of each kind of connection, and
//! 1/N of the deliveries are same-node (with 2 nodes and one device per user, half the
//! pairs have both ends on one node and half on different nodes; with two devices, each
//! message reaches one partner device on its sender's node and one on the other). A
//! delivery is classified by the sending connection (its index is in the body) and the
//! receiving one: same-node and cross-node delivery latency are reported apart.
//!
//! Limits worth knowing for large runs:
//! - every socket is a file descriptor, in this process and in the server: agora-load
//!   raises its own soft `RLIMIT_NOFILE` to the hard limit (and the hard one too when it
//!   may), but the server needs `ulimit -n` above the connection count as well;
//! - one source address reaches one server address and port through at most the size of
//!   `net.ipv4.ip_local_port_range` connections (28 232 by default): `--connect-addrs
//!   127.0.0.1,127.0.0.2,...` spreads connections over several source addresses (all of
//!   127.0.0.0/8 is local on Linux);
//! - the server sends the connections it closes into TIME_WAIT; reusing the same source
//!   address right after a large run can hit those and cost a SYN retransmit (1 s) per
//!   connection: a fresh `--connect-addrs` address avoids it;
//! - the server limits each connection to `AGORA_WS_FRAMES_PER_SEC` frames per second
//!   (default 50, burst 100, close 4008), so `--rate / --senders` must stay below it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use crate::api::{self, Account};
use crate::parse_duration;
use crate::stats::{Latencies, LatencyMs};

/// Read buffer per connection (tungstenite allocates it up front; its default is 128 KiB).
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Largest server frame accepted (the server's frames are small).
const MAX_INBOUND_FRAME: usize = 1 << 20;
/// Time allowed to send the close frame at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between the last connection opening and the server RSS reading, so the server
/// has settled (presence fan-out, allocator).
const SETTLE: Duration = Duration::from_secs(1);
/// How often connect progress is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);
/// The server's default inbound frame limit per connection (`AGORA_WS_FRAMES_PER_SEC`).
const DEFAULT_WS_FRAMES_PER_SEC: u32 = 50;
/// File descriptors kept for everything that is not a WebSocket.
const SPARE_FDS: u64 = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WireEncoding {
    /// Subprotocol `agora.v1.json`: text frames.
    Json,
    /// Subprotocol `agora.v1.msgpack`: binary frames, MessagePack maps.
    Msgpack,
}

impl WireEncoding {
    pub fn subprotocol(self) -> &'static str {
        match self {
            WireEncoding::Json => "agora.v1.json",
            WireEncoding::Msgpack => "agora.v1.msgpack",
        }
    }

    fn name(self) -> &'static str {
        match self {
            WireEncoding::Json => "json",
            WireEncoding::Msgpack => "msgpack",
        }
    }
}

#[derive(Args, Debug)]
pub struct WsArgs {
    /// Base URL of the server under test (plain http; the WebSocket is ws://<host>/ws).
    /// Repeat it (or give a comma-separated list; `--urls` is the same option) to spread the
    /// WebSockets over several cluster nodes; set-up requests go to the first.
    #[arg(long = "url", visible_alias = "urls", value_delimiter = ',', default_value = "http://127.0.0.1:8080")]
    pub urls: Vec<String>,
    /// WebSocket connections to open and hold for the whole run.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub connections: u32,
    /// How many of the connections send chat messages (the first K; 0 = an idle run).
    #[arg(long, default_value_t = 100)]
    pub senders: u32,
    /// Target messages per second over all senders; 0 = as fast as the in-flight window allows.
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    /// How long the senders send: 20s, 500ms, 2m. Connections are held that long.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Distinct accounts (default: min(100, connections)); connection c is user c % users.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub users: Option<u32>,
    #[arg(long, value_enum, default_value = "json")]
    pub encoding: WireEncoding,
    /// Message body size in bytes (ASCII; the server allows up to 4000 characters).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(32..=4000))]
    pub body_bytes: u32,
    /// Unacknowledged messages a sender may have in flight; a tick that finds the window
    /// full is skipped and counted as throttled.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_in_flight: u32,
    /// WebSocket handshakes (TCP connect, upgrade, wait for hello) in flight at once.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub connect_concurrency: u32,
    /// Time allowed for one connection to connect, upgrade and receive `hello`.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// Local source addresses to connect from, round-robin (e.g. 127.0.0.1,127.0.0.2):
    /// one source address reaches one server address and port through at most the size of
    /// net.ipv4.ip_local_port_range (about 28 000) connections.
    #[arg(long, value_delimiter = ',')]
    pub connect_addrs: Vec<IpAddr>,
    /// Time to keep reading after the senders stop (late acks and deliveries still count).
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub drain: Duration,
    /// Process id of the server, to report its resident memory per connection and its CPU
    /// time (Linux /proc). Repeat it (or give a list) for several nodes: the figures are sums.
    #[arg(long = "server-pid", value_delimiter = ',')]
    pub server_pids: Vec<u32>,
    /// Print one JSON object on stdout; the text summary then goes to stderr.
    #[arg(long)]
    pub json: bool,
}

/// One node's WebSocket endpoint.
struct NodeTarget {
    server: SocketAddr,
    /// `ws://host:port/ws?token=` without the token.
    ws_url_prefix: String,
}

/// What every connection task shares.
struct Plan {
    /// The nodes, in `--url` order; connection `c` uses `targets[node_of_connection(c, ..)]`.
    targets: Vec<NodeTarget>,
    /// Distinct accounts (connection `c` is user `c % users`).
    users: usize,
    encoding: WireEncoding,
    config: WebSocketConfig,
    local_addrs: Vec<IpAddr>,
    connect_timeout: Duration,
    /// Zero of every timestamp put in bodies and client message ids.
    epoch: Instant,
    body_bytes: usize,
    max_in_flight: u64,
}

impl Plan {
    fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn node_of(&self, conn: usize) -> usize {
        node_of_connection(conn, self.users, self.targets.len())
    }
}

/// One connection's identity and, for senders, what it sends.
struct ConnSpec {
    index: usize,
    /// Index into `Plan::targets`.
    node: usize,
    token: Arc<str>,
    user_id: Arc<str>,
    send: Option<SendSpec>,
}

struct SendSpec {
    conversation_id: Arc<str>,
    /// Time between two sends; `None` = as fast as the window allows.
    period: Option<Duration>,
    /// Offset of the first send from the start, so senders do not fire together.
    offset: Duration,
}

/// When the measured run happens, sent to every connection once all are open.
#[derive(Debug, Clone, Copy)]
struct Timeline {
    start: Instant,
    send_until: Instant,
    close_at: Instant,
}

/// Server frame types, in the order of the report (anything else counts as `other`).
const KINDS: [&str; 13] = [
    "hello",
    "message",
    "message_edited",
    "message_deleted",
    "read",
    "typing",
    "presence",
    "notification",
    "unread",
    "ack",
    "error",
    "pong",
    "synced",
];

/// What one connection saw. Tasks fill their own and the results are merged.
#[derive(Debug, Default)]
struct ConnReport {
    /// Why the connection never opened (connect, upgrade or no `hello`).
    failure: Option<String>,
    /// Still open when the run ended.
    held: bool,
    /// How it ended early: the server's close code, `eof`, `reset`, ...
    lost: Option<String>,
    heartbeat_ms: Option<u64>,
    sent: u64,
    acked: u64,
    /// `error` frames that refer to one of this connection's sends.
    send_errors: u64,
    /// Ticks skipped because the in-flight window was full.
    throttled: u64,
    /// `message` frames from another user (the conversation partner).
    deliveries: u64,
    /// `message` frames from this connection's own user (its own echo and other devices).
    own_deliveries: u64,
    ack_latency: Latencies,
    deliver_latency: Latencies,
    /// Deliveries whose sending connection is on this connection's node, and the others.
    deliver_same_node: Latencies,
    deliver_cross_node: Latencies,
    frames: [u64; KINDS.len() + 1],
    error_codes: BTreeMap<String, u64>,
    undecodable: u64,
}

/// The fields of any server frame that the load generator looks at.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    client_msg_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    sender_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    body: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    code: Option<Cow<'a, str>>,
    #[serde(rename = "ref", borrow, default)]
    reference: Option<Cow<'a, str>>,
    #[serde(default)]
    heartbeat_ms: Option<u64>,
}

#[derive(Serialize)]
struct SendFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    conversation_id: &'a str,
    client_msg_id: &'a str,
    body: &'a str,
}

fn encode(encoding: WireEncoding, frame: &SendFrame<'_>) -> Result<Message> {
    Ok(match encoding {
        WireEncoding::Json => Message::text(serde_json::to_string(frame).context("encoding a frame as JSON")?),
        WireEncoding::Msgpack => {
            Message::binary(rmp_serde::to_vec_named(frame).context("encoding a frame as MessagePack")?)
        }
    })
}

fn decode(encoding: WireEncoding, bytes: &[u8]) -> Option<Incoming<'_>> {
    match encoding {
        WireEncoding::Json => serde_json::from_slice(bytes).ok(),
        WireEncoding::Msgpack => rmp_serde::from_slice(bytes).ok(),
    }
}

/// `<connection>-<n>-<send time us>`: unique per run, and the ack carries the send time back.
fn client_msg_id(conn: usize, n: u64, sent_us: u64) -> String {
    format!("{conn}-{n}-{sent_us}")
}

fn sent_us_of_client_msg_id(id: &str) -> Option<u64> {
    id.rsplit('-').next()?.parse().ok()
}

/// `<send time us> <connection> xxxx...` padded to `len` bytes.
fn message_body(sent_us: u64, conn: usize, len: usize) -> String {
    let mut body = format!("{sent_us} {conn} ");
    if body.len() < len {
        body.extend(std::iter::repeat_n('x', len - body.len()));
    }
    body
}

fn sent_us_of_body(body: &str) -> Option<u64> {
    body.split(' ').next()?.parse().ok()
}

/// The sending connection's index, the second word of a [`message_body`].
fn sender_conn_of_body(body: &str) -> Option<usize> {
    body.split(' ').nth(1)?.parse().ok()
}

/// The node (index into the `--url` list) connection `conn` (user `conn % users`, device
/// `conn / users`) connects to, out of `nodes`; see the module documentation for the rule.
/// With one node everything is on node 0.
pub fn node_of_connection(conn: usize, users: usize, nodes: usize) -> usize {
    if nodes <= 1 || users == 0 {
        return 0;
    }
    let (user, device) = (conn % users, conn / users);
    let (pair, side) = (user / 2, user % 2);
    let rotation = (pair / nodes) % nodes;
    (pair + side * rotation + device) % nodes
}

/// Whether a delivery stayed on one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locality {
    SameNode,
    CrossNode,
}

/// How a message from connection `sender` to connection `receiver` travels.
pub fn locality(sender: usize, receiver: usize, users: usize, nodes: usize) -> Locality {
    if node_of_connection(sender, users, nodes) == node_of_connection(receiver, users, nodes) {
        Locality::SameNode
    } else {
        Locality::CrossNode
    }
}

/// Checks the `--url` list: at least one, each a plain-http URL, no node twice (two URLs of
/// one server would count its own deliveries as cross-node). Answers them without a
/// trailing slash.
pub fn node_urls(raw: &[String]) -> Result<Vec<String>> {
    let mut urls = Vec::with_capacity(raw.len());
    for r in raw.iter().map(|r| r.trim()).filter(|r| !r.is_empty()) {
        let base = api::base_url(r)?;
        if urls.contains(&base) {
            bail!("--url {base} is given twice: every node must be listed once");
        }
        urls.push(base);
    }
    if urls.is_empty() {
        bail!("--url: no server URL given");
    }
    Ok(urls)
}

/// The partner of user `i` among `users`: 2k and 2k+1 pair up; with an odd count the last
/// user pairs with user 0.
pub fn partner(i: usize, users: usize) -> usize {
    let p = i ^ 1;
    if p < users {
        p
    } else {
        0
    }
}

/// The distinct pairs (smaller index first) that need a direct conversation.
pub fn conversation_pairs(users: usize) -> Vec<(usize, usize)> {
    let mut pairs: Vec<(usize, usize)> = (0..users)
        .map(|i| {
            let p = partner(i, users);
            (i.min(p), i.max(p))
        })
        .filter(|(a, b)| a != b)
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

/// Resident set size of a process in KiB, from `/proc/<pid>/status` (`self` for this one).
pub fn rss_kb(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse().ok())
}

/// Linux reports process CPU time in clock ticks of 1/100 s (USER_HZ, fixed at 100 on
/// every mainstream architecture).
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// User plus system CPU time of a process, in clock ticks, from `/proc/<pid>/stat`.
pub fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces: count fields after its closing paren.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Raises this process's open-file limit to fit `connections` sockets: the soft limit up to
/// the hard one, and the hard one too when allowed (root). Returns the soft limit in force.
fn raise_nofile(connections: u64) -> u64 {
    let want = connections + SPARE_FDS;
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap_or((1024, 1024));
    if soft >= want {
        return soft;
    }
    if hard < want {
        let ceiling = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(1 << 20);
        let target = want.min(ceiling).max(hard);
        if rlimit::setrlimit(rlimit::Resource::NOFILE, target, target).is_ok() {
            return target;
        }
    }
    rlimit::increase_nofile_limit(want).unwrap_or(soft)
}

fn local_port_range() -> Option<u64> {
    let raw = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = raw.split_whitespace().map(|n| n.parse::<u64>());
    match (it.next(), it.next()) {
        (Some(Ok(lo)), Some(Ok(hi))) if hi >= lo => Some(hi - lo + 1),
        _ => None,
    }
}

pub async fn run(args: WsArgs) -> Result<()> {
    let urls = node_urls(&args.urls)?;
    let base = urls[0].clone();
    let nodes = urls.len();
    let n = args.connections as usize;
    let senders = args.senders as usize;
    let users = args.users.map_or(n.min(100), |u| u as usize);
    if senders > n {
        bail!("--senders {senders} is more than --connections {n}");
    }
    if users > n {
        bail!("--users {users} is more than --connections {n}: every user needs at least one connection");
    }
    if users < 2 && senders > 0 {
        bail!("senders need a conversation partner: use --users 2 or more");
    }

    let nofile = raise_nofile(n as u64);
    if nofile < n as u64 + SPARE_FDS {
        eprintln!(
            "warning: this process may open only {nofile} files, too few for {n} connections; \
             raise the limit (ulimit -n {}) or run with fewer connections",
            n as u64 + SPARE_FDS
        );
    }
    let sources = args.connect_addrs.len().max(1) as u64;
    let per_node = (0..nodes).map(|k| (0..n).filter(|&c| node_of_connection(c, users, nodes) == k).count());
    let busiest = per_node.max().unwrap_or(n) as u64;
    if let Some(ports) = local_port_range() {
        if busiest > ports * sources {
            eprintln!(
                "warning: {busiest} connections from {sources} source address(es) to one server port: each source \
                 address has about {ports} local ports (net.ipv4.ip_local_port_range). Pass more \
                 --connect-addrs (127.0.0.1,127.0.0.2,...) or connections will fail with EADDRNOTAVAIL"
            );
        }
    }

    if senders > 0 && args.rate > 0 {
        let per_sender = f64::from(args.rate) / senders as f64;
        if per_sender > f64::from(DEFAULT_WS_FRAMES_PER_SEC) {
            eprintln!(
                "warning: {per_sender:.0} msg/s per sender is over the server's default per-connection limit of \
                 {DEFAULT_WS_FRAMES_PER_SEC} frames/s (AGORA_WS_FRAMES_PER_SEC): senders will be closed with 4008 \
                 unless the server raises it"
            );
        }
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .context("building the HTTP client")?;
    for url in &urls {
        api::check_health(&client, url).await?;
    }

    eprintln!("registering {users} accounts at {base} ...");
    let t = Instant::now();
    let accounts = api::register_accounts(&client, &base, users).await?;
    eprintln!("registered {users} accounts in {:.1}s", t.elapsed().as_secs_f64());
    let pairs = conversation_pairs(users);
    let t = Instant::now();
    let conversation_ids = api::direct_conversations(&client, &base, &accounts, &pairs).await?;
    eprintln!("created {} conversations in {:.1}s", pairs.len(), t.elapsed().as_secs_f64());
    let conversation_of: BTreeMap<(usize, usize), Arc<str>> =
        pairs.iter().copied().zip(conversation_ids.into_iter().map(Arc::from)).collect();

    let mut targets = Vec::with_capacity(nodes);
    for raw in &urls {
        let target = node_target(raw).await?;
        if args.connect_addrs.iter().any(|a| a.is_ipv4() != target.server.is_ipv4()) {
            bail!("--connect-addrs must be of the same IP family as the server address {}", target.server);
        }
        targets.push(target);
    }
    let plan = Arc::new(Plan {
        targets,
        users,
        encoding: args.encoding,
        config: WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER_BYTES)
            .write_buffer_size(0)
            .max_message_size(Some(MAX_INBOUND_FRAME))
            .max_frame_size(Some(MAX_INBOUND_FRAME)),
        local_addrs: args.connect_addrs.clone(),
        connect_timeout: args.connect_timeout,
        epoch: Instant::now(),
        body_bytes: args.body_bytes as usize,
        max_in_flight: u64::from(args.max_in_flight),
    });

    let tokens: Vec<(Arc<str>, Arc<str>)> =
        accounts.iter().map(|a: &Account| (Arc::from(a.access.as_str()), Arc::from(a.user_id.as_str()))).collect();
    let period = (args.rate > 0 && senders > 0).then(|| Duration::from_secs_f64(senders as f64 / f64::from(args.rate)));
    let specs: Vec<ConnSpec> = (0..n)
        .map(|c| {
            let user = c % users;
            let send = (c < senders).then(|| {
                let p = partner(user, users);
                let conversation_id =
                    conversation_of.get(&(user.min(p), user.max(p))).cloned().unwrap_or_else(|| Arc::from(""));
                SendSpec {
                    conversation_id,
                    period,
                    offset: period.map_or(Duration::ZERO, |p| p.mul_f64(c as f64 / senders as f64)),
                }
            });
            ConnSpec {
                index: c,
                node: node_of_connection(c, users, nodes),
                token: Arc::clone(&tokens[user].0),
                user_id: Arc::clone(&tokens[user].1),
                send,
            }
        })
        .collect();
    // Connections per user, to know how many deliveries each message should make.
    let mut conns_of_user = vec![0u64; users];
    for c in 0..n {
        conns_of_user[c % users] += 1;
    }

    let server_pids: Vec<String> = args.server_pids.iter().map(u32::to_string).collect();
    let server_rss = || sum_over(&server_pids, |p| rss_kb(p, "VmRSS:"));
    let server_rss_before = server_rss();
    if !server_pids.is_empty() && server_rss_before.is_none() {
        eprintln!("warning: cannot read /proc/<server-pid>/status: no server memory figures");
    }

    eprintln!(
        "opening {n} WebSockets ({}, {} at a time{}{}) ...",
        args.encoding.subprotocol(),
        args.connect_concurrency,
        if nodes > 1 { format!(", over {nodes} nodes") } else { String::new() },
        if args.connect_addrs.is_empty() {
            String::new()
        } else {
            format!(", from {} source addresses", args.connect_addrs.len())
        }
    );
    let connect_started = Instant::now();
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<bool>();
    let (go_tx, go_rx) = watch::channel::<Option<Timeline>>(None);
    let gate = Arc::new(Semaphore::new(args.connect_concurrency as usize));
    let spawner = {
        let plan = Arc::clone(&plan);
        tokio::spawn(async move {
            let mut handles = Vec::with_capacity(specs.len());
            for spec in specs {
                let permit = Arc::clone(&gate).acquire_owned().await.context("connect gate closed")?;
                handles.push(tokio::spawn(connection(
                    Arc::clone(&plan),
                    spec,
                    permit,
                    ready_tx.clone(),
                    go_rx.clone(),
                )));
            }
            anyhow::Ok(handles)
        })
    };
    let (mut opened, mut failed) = (0usize, 0usize);
    let mut progress = tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
    while opened + failed < n {
        tokio::select! {
            r = ready_rx.recv() => match r {
                Some(true) => opened += 1,
                Some(false) => failed += 1,
                None => break,
            },
            _ = progress.tick() => eprintln!(
                "  {opened} open, {failed} failed after {:.1}s",
                connect_started.elapsed().as_secs_f64()
            ),
        }
    }
    let connect_secs = connect_started.elapsed().as_secs_f64();
    let handles = spawner.await.context("the connection spawner panicked")??;
    eprintln!("{opened} of {n} connections open ({failed} failed) in {connect_secs:.1}s");

    tokio::time::sleep(SETTLE).await;
    let server_rss_open = server_rss();
    let client_rss_open = rss_kb("self", "VmRSS:");

    let start = Instant::now() + Duration::from_millis(100);
    let timeline = Timeline { start, send_until: start + args.duration, close_at: start + args.duration + args.drain };
    if senders == 0 {
        eprintln!("holding {opened} idle connections for {:.1}s ...", (args.duration + args.drain).as_secs_f64());
    } else {
        eprintln!(
            "running: {senders} senders, target {} for {:.1}s, then {:.1}s drain ...",
            if args.rate == 0 { "as fast as possible".to_string() } else { format!("{} msg/s", args.rate) },
            args.duration.as_secs_f64(),
            args.drain.as_secs_f64()
        );
    }
    go_tx.send(Some(timeline)).ok();
    let sample_run = async {
        // CPU time of both processes over the send phase, and the server's RSS half-way.
        let ticks = || (sum_over(&server_pids, cpu_ticks), cpu_ticks("self"));
        tokio::time::sleep_until(start.into()).await;
        let before = ticks();
        tokio::time::sleep_until((start + args.duration / 2).into()).await;
        let rss = server_rss();
        tokio::time::sleep_until(timeline.send_until.into()).await;
        let after = ticks();
        let percent = |a: Option<u64>, b: Option<u64>| {
            Some(b?.saturating_sub(a?) as f64 / CLOCK_TICKS_PER_SEC / args.duration.as_secs_f64() * 100.0)
        };
        (rss, percent(before.0, after.0), percent(before.1, after.1))
    };
    let joined = async {
        let mut all = Vec::with_capacity(handles.len());
        for h in handles {
            all.push(h.await);
        }
        all
    };
    let ((server_rss_mid, server_cpu, client_cpu), results) = tokio::join!(sample_run, joined);
    let server_rss_end = server_rss();

    let mut total = Totals::default();
    let mut node_reports: Vec<NodeReport> =
        urls.iter().map(|u| NodeReport { url: u.clone(), connections: 0, opened: 0, held: 0, deliveries: 0 }).collect();
    for (c, r) in results.into_iter().enumerate() {
        let r = r.context("a connection task panicked")?;
        let node = &mut node_reports[node_of_connection(c, users, nodes)];
        node.connections += 1;
        node.opened += u64::from(r.failure.is_none());
        node.held += u64::from(r.held);
        node.deliveries += r.deliveries;
        let expected_per_ack = conns_of_user[partner(c % users, users)];
        total.add(r, expected_per_ack);
    }
    let secs = args.duration.as_secs_f64();
    let per_sec = |x: u64| x as f64 / secs;
    let per_conn_kb = match (server_rss_before, server_rss_open) {
        (Some(b), Some(a)) if opened > 0 => Some((a as f64 - b as f64) / opened as f64),
        _ => None,
    };
    let report = Report {
        tool: "agora-load",
        subcommand: "ws",
        url: &base,
        nodes: node_reports,
        encoding: args.encoding,
        connections: n,
        users,
        senders,
        rate_target: args.rate,
        duration_secs: secs,
        drain_secs: args.drain.as_secs_f64(),
        body_bytes: args.body_bytes,
        connect_concurrency: args.connect_concurrency,
        source_addresses: args.connect_addrs.len().max(1),
        opened,
        failed,
        failures: total.failures.clone(),
        connect_secs,
        connects_per_sec: if connect_secs > 0.0 { opened as f64 / connect_secs } else { 0.0 },
        held: total.held,
        lost: total.lost.clone(),
        heartbeat_ms: total.heartbeat_ms,
        sent: total.sent,
        acked: total.acked,
        unacked: total.sent.saturating_sub(total.acked + total.send_errors),
        send_errors: total.send_errors,
        throttled: total.throttled,
        deliveries: total.deliveries,
        expected_deliveries: total.expected_deliveries,
        own_device_deliveries: total.own_deliveries,
        sent_per_sec: per_sec(total.sent),
        acked_per_sec: per_sec(total.acked),
        delivered_per_sec: per_sec(total.deliveries),
        ack_latency_ms: std::mem::take(&mut total.ack_latency).summary().in_ms(),
        deliver_latency_ms: std::mem::take(&mut total.deliver_latency).summary().in_ms(),
        deliveries_same_node: total.deliver_same_node.len() as u64,
        deliveries_cross_node: total.deliver_cross_node.len() as u64,
        deliver_same_node_latency_ms: summary_ms(std::mem::take(&mut total.deliver_same_node)),
        deliver_cross_node_latency_ms: summary_ms(std::mem::take(&mut total.deliver_cross_node)),
        error_frames: total.error_codes.clone(),
        frames_received: total.frames_by_kind(),
        undecodable_frames: total.undecodable,
        server_rss_kb: (!server_pids.is_empty()).then_some(ServerRss {
            before: server_rss_before,
            all_open: server_rss_open,
            mid_run: server_rss_mid,
            end: server_rss_end,
        }),
        server_rss_per_connection_kb: per_conn_kb,
        server_cpu_percent: server_cpu,
        client_cpu_percent: client_cpu,
        client_rss_kb: client_rss_open,
        client_rss_peak_kb: rss_kb("self", "VmHWM:"),
        nofile_limit: nofile,
    };

    let text = text_summary(&report);
    if args.json {
        eprint!("{text}");
        println!("{}", serde_json::to_string(&report).context("serializing the report")?);
    } else {
        print!("{text}");
    }
    hints(&report);
    if opened == 0 {
        bail!("no connection opened");
    }
    if senders > 0 && total.acked == 0 {
        bail!("no message was acknowledged");
    }
    Ok(())
}

#[derive(Default)]
struct Totals {
    failures: BTreeMap<String, u64>,
    lost: BTreeMap<String, u64>,
    held: u64,
    heartbeat_ms: Option<u64>,
    sent: u64,
    acked: u64,
    send_errors: u64,
    throttled: u64,
    deliveries: u64,
    expected_deliveries: u64,
    own_deliveries: u64,
    ack_latency: Latencies,
    deliver_latency: Latencies,
    deliver_same_node: Latencies,
    deliver_cross_node: Latencies,
    frames: [u64; KINDS.len() + 1],
    error_codes: BTreeMap<String, u64>,
    undecodable: u64,
}

impl Totals {
    fn add(&mut self, r: ConnReport, partner_connections: u64) {
        if let Some(f) = r.failure {
            *self.failures.entry(f).or_insert(0) += 1;
        }
        if let Some(l) = r.lost {
            *self.lost.entry(l).or_insert(0) += 1;
        }
        self.held += u64::from(r.held);
        self.heartbeat_ms = self.heartbeat_ms.or(r.heartbeat_ms);
        self.sent += r.sent;
        self.acked += r.acked;
        self.send_errors += r.send_errors;
        self.throttled += r.throttled;
        self.deliveries += r.deliveries;
        self.expected_deliveries += r.acked * partner_connections;
        self.own_deliveries += r.own_deliveries;
        self.ack_latency.merge(r.ack_latency);
        self.deliver_latency.merge(r.deliver_latency);
        self.deliver_same_node.merge(r.deliver_same_node);
        self.deliver_cross_node.merge(r.deliver_cross_node);
        for (t, n) in self.frames.iter_mut().zip(r.frames) {
            *t += n;
        }
        for (code, n) in r.error_codes {
            *self.error_codes.entry(code).or_insert(0) += n;
        }
        self.undecodable += r.undecodable;
    }

    fn frames_by_kind(&self) -> BTreeMap<String, u64> {
        KINDS
            .iter()
            .copied()
            .chain(["other"])
            .zip(self.frames)
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (k.to_string(), n))
            .collect()
    }
}

/// One node's share of the connections.
#[derive(Serialize)]
struct NodeReport {
    url: String,
    /// Connections assigned to it.
    connections: u64,
    opened: u64,
    held: u64,
    /// `message` frames from the other member received on its connections.
    deliveries: u64,
}

#[derive(Serialize)]
struct ServerRss {
    before: Option<u64>,
    all_open: Option<u64>,
    mid_run: Option<u64>,
    end: Option<u64>,
}

#[derive(Serialize)]
struct Report<'a> {
    tool: &'static str,
    subcommand: &'static str,
    /// The first node's URL (set-up requests went there).
    url: &'a str,
    /// Every node in `--url` order, with its connections.
    nodes: Vec<NodeReport>,
    encoding: WireEncoding,
    connections: usize,
    users: usize,
    senders: usize,
    rate_target: u32,
    duration_secs: f64,
    drain_secs: f64,
    body_bytes: u32,
    connect_concurrency: u32,
    source_addresses: usize,
    /// Connections that got their `hello`.
    opened: usize,
    failed: usize,
    /// Why connections failed to open, by reason.
    failures: BTreeMap<String, u64>,
    connect_secs: f64,
    connects_per_sec: f64,
    /// Opened and still open when the run ended.
    held: u64,
    /// Opened connections that ended before the run did, by how (`close 4009`, `eof`, ...).
    lost: BTreeMap<String, u64>,
    heartbeat_ms: Option<u64>,
    sent: u64,
    acked: u64,
    unacked: u64,
    send_errors: u64,
    throttled: u64,
    /// `message` frames that reached a connection of the other member.
    deliveries: u64,
    /// Acked messages times the number of connections of the sender's partner.
    expected_deliveries: u64,
    own_device_deliveries: u64,
    sent_per_sec: f64,
    acked_per_sec: f64,
    delivered_per_sec: f64,
    ack_latency_ms: LatencyMs,
    deliver_latency_ms: LatencyMs,
    /// Deliveries (with a latency) whose sending and receiving connections are on one
    /// node, and on different nodes; their latencies (`null` without samples).
    deliveries_same_node: u64,
    deliveries_cross_node: u64,
    deliver_same_node_latency_ms: Option<LatencyMs>,
    deliver_cross_node_latency_ms: Option<LatencyMs>,
    error_frames: BTreeMap<String, u64>,
    frames_received: BTreeMap<String, u64>,
    undecodable_frames: u64,
    server_rss_kb: Option<ServerRss>,
    server_rss_per_connection_kb: Option<f64>,
    /// CPU time over the send phase, in percent of one core (summed over `--server-pid`s).
    server_cpu_percent: Option<f64>,
    client_cpu_percent: Option<f64>,
    client_rss_kb: Option<u64>,
    client_rss_peak_kb: Option<u64>,
    nofile_limit: u64,
}

fn summary_ms(l: Latencies) -> Option<LatencyMs> {
    (!l.is_empty()).then(|| l.summary().in_ms())
}

/// The sum of `f` over the processes, `None` when there are none or one cannot be read.
fn sum_over(pids: &[String], f: impl Fn(&str) -> Option<u64>) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|p| f(p)).sum()
}

/// Resolves a node's address and its WebSocket URL (`ws://host:port/ws?token=`).
async fn node_target(base: &str) -> Result<NodeTarget> {
    let url = reqwest::Url::parse(base).with_context(|| format!("parsing --url {base}"))?;
    let host = url.host_str().with_context(|| format!("--url {base} has no host"))?.to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let server = tokio::net::lookup_host((host.as_str(), port))
        .await
        .with_context(|| format!("resolving {host}"))?
        .next()
        .with_context(|| format!("{host} resolves to no address"))?;
    let host_port = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    };
    Ok(NodeTarget { server, ws_url_prefix: format!("ws://{host_port}/ws?token=") })
}

fn counts(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        "none".to_string()
    } else {
        map.iter().map(|(k, n)| format!("{k}={n}")).collect::<Vec<_>>().join(" ")
    }
}

fn mb(kb: Option<u64>) -> String {
    kb.map_or("?".to_string(), |kb| format!("{:.1} MiB", kb as f64 / 1024.0))
}

fn latency_line(l: &LatencyMs) -> String {
    format!("p50 {:.2}ms  p90 {:.2}ms  p99 {:.2}ms  max {:.2}ms  (mean {:.2}ms)", l.p50, l.p90, l.p99, l.max, l.mean)
}

fn text_summary(r: &Report<'_>) -> String {
    let mut s = format!(
        "agora-load ws  url={}  encoding={}  connections={}  users={}  senders={}  rate={}  duration={:.1}s  body={}B\n",
        r.url,
        r.encoding.name(),
        r.connections,
        r.users,
        r.senders,
        match (r.senders, r.rate_target) {
            (0, _) => "idle".to_string(),
            (_, 0) => "max".to_string(),
            (_, rate) => format!("{rate}/s"),
        },
        r.duration_secs,
        r.body_bytes,
    );
    if r.nodes.len() > 1 {
        let nodes: Vec<String> =
            r.nodes.iter().map(|n| format!("{} ({} conns, {} open)", n.url, n.connections, n.opened)).collect();
        s += &format!("  nodes      {}\n", nodes.join(", "));
    }
    s += &format!(
        "  connect    opened {} of {} in {:.2}s ({:.0}/s), failed {}: {}\n",
        r.opened,
        r.connections,
        r.connect_secs,
        r.connects_per_sec,
        r.failed,
        counts(&r.failures)
    );
    s += &format!(
        "  held       {} open at the end; lost during the run: {}; heartbeat {}\n",
        r.held,
        counts(&r.lost),
        r.heartbeat_ms.map_or("?".to_string(), |h| format!("{h}ms"))
    );
    if r.senders > 0 {
        s += &format!(
            "  messages   sent {} ({:.1}/s)  acked {} ({:.1}/s)  unacked {}  send errors {}  throttled {}\n",
            r.sent, r.sent_per_sec, r.acked, r.acked_per_sec, r.unacked, r.send_errors, r.throttled
        );
        s += &format!(
            "  delivered  {} to the other member ({:.1}/s; expected {}), {} to the sender's own devices\n",
            r.deliveries, r.delivered_per_sec, r.expected_deliveries, r.own_device_deliveries
        );
        s += &format!("  ack        {}\n", latency_line(&r.ack_latency_ms));
        s += &format!("  deliver    {}\n", latency_line(&r.deliver_latency_ms));
        let class = |l: &Option<LatencyMs>| l.as_ref().map_or("no deliveries".to_string(), latency_line);
        s += &format!(
            "    same node  {}  ({} deliveries)\n",
            class(&r.deliver_same_node_latency_ms),
            r.deliveries_same_node
        );
        s += &format!(
            "    cross node {}  ({} deliveries)\n",
            class(&r.deliver_cross_node_latency_ms),
            r.deliveries_cross_node
        );
    }
    s += &format!(
        "  errors     error frames: {}; undecodable frames: {}\n",
        counts(&r.error_frames),
        r.undecodable_frames
    );
    s += &format!("  frames     {}\n", counts(&r.frames_received));
    if let Some(rss) = &r.server_rss_kb {
        s += &format!(
            "  server     RSS {} before, {} with all open ({} per connection), {} mid-run, {} at the end\n",
            mb(rss.before),
            mb(rss.all_open),
            r.server_rss_per_connection_kb.map_or("?".to_string(), |kb| format!("{kb:.1} KiB")),
            mb(rss.mid_run),
            mb(rss.end),
        );
    }
    s += &format!(
        "  agora-load RSS {} with all open (peak {}), open-file limit {}\n",
        mb(r.client_rss_kb),
        mb(r.client_rss_peak_kb),
        r.nofile_limit
    );
    let pct = |p: Option<f64>| p.map_or("?".to_string(), |p| format!("{p:.0}%"));
    s += &format!(
        "  cpu        server {}  agora-load {}  (of one core, over the send phase)\n",
        pct(r.server_cpu_percent),
        pct(r.client_cpu_percent)
    );
    s
}

fn hints(r: &Report<'_>) {
    let any = |needle: &str| r.failures.keys().any(|k| k.contains(needle));
    if any("429") {
        api::rate_limit_hint();
    }
    if any("os error 24") {
        eprintln!("hint: out of file descriptors (EMFILE): raise `ulimit -n` for agora-load and for the server");
    }
    if any("os error 99") || any("os error 98") {
        eprintln!(
            "hint: out of local ports for one source address: pass --connect-addrs 127.0.0.1,127.0.0.2,... \
             (any 127.x.y.z works on loopback) or widen net.ipv4.ip_local_port_range"
        );
    }
    if r.lost.keys().any(|k| k == "close 4008") {
        eprintln!(
            "hint: 4008 = a connection sent more frames per second than the server allows \
             (AGORA_WS_FRAMES_PER_SEC, default 50, burst 100; AGORA_RATE_LIMITS=off does not lift it): \
             use more --senders for the same --rate, or raise that setting on the server"
        );
    }
    if r.lost.keys().any(|k| k == "close 4009") {
        eprintln!("hint: 4009 = the server's outbound queue for a connection overflowed (slow consumer)");
    }
}

/// One connection, from connect to close.
async fn connection(
    plan: Arc<Plan>,
    spec: ConnSpec,
    permit: OwnedSemaphorePermit,
    ready: mpsc::UnboundedSender<bool>,
    go: watch::Receiver<Option<Timeline>>,
) -> ConnReport {
    let mut report = ConnReport::default();
    let opened = match tokio::time::timeout(plan.connect_timeout, open(&plan, &spec, &mut report)).await {
        Ok(Ok(ws)) => Some(ws),
        Ok(Err(reason)) => {
            report.failure = Some(reason);
            None
        }
        Err(_) => {
            report.failure = Some("timed out waiting for the upgrade or hello".to_string());
            None
        }
    };
    drop(permit);
    ready.send(opened.is_some()).ok();
    drop(ready);
    if let Some(ws) = opened {
        hold(&plan, &spec, ws, go, &mut report).await;
    }
    report
}

type Ws = WebSocketStream<TcpStream>;

/// Connects, upgrades and waits for `hello`; the error is a short reason for the report.
async fn open(plan: &Plan, spec: &ConnSpec, report: &mut ConnReport) -> Result<Ws, String> {
    let target = &plan.targets[spec.node];
    let socket = if target.server.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }
        .map_err(|e| format!("socket: {e}"))?;
    if !plan.local_addrs.is_empty() {
        let ip = plan.local_addrs[spec.index % plan.local_addrs.len()];
        socket.bind(SocketAddr::new(ip, 0)).map_err(|e| format!("bind: {e}"))?;
    }
    let stream = socket.connect(target.server).await.map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
    let mut request =
        format!("{}{}", target.ws_url_prefix, spec.token).into_client_request().map_err(|e| format!("request: {e}"))?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(plan.encoding.subprotocol()));
    let (mut ws, _response) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(plan.config)).await.map_err(|e| match e {
            tungstenite::Error::Http(resp) => format!("upgrade answered {}", resp.status()),
            tungstenite::Error::Protocol(p) => format!("upgrade: {p}"),
            other => format!("upgrade: {other}"),
        })?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                if on_frame(plan, spec, report, t.as_bytes()) == Some(true) {
                    return Ok(ws);
                }
            }
            Some(Ok(Message::Binary(b))) => {
                if on_frame(plan, spec, report, &b) == Some(true) {
                    return Ok(ws);
                }
            }
            Some(Ok(Message::Close(frame))) => {
                return Err(format!("closed before hello: {}", close_label(frame.as_ref())));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("before hello: {}", error_label(&e))),
            None => return Err("eof before hello".to_string()),
        }
    }
}

fn close_label(frame: Option<&tungstenite::protocol::CloseFrame>) -> String {
    frame.map_or("close (no code)".to_string(), |f| format!("close {}", u16::from(f.code)))
}

fn error_label(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => "closed".to_string(),
        tungstenite::Error::Protocol(tungstenite::error::ProtocolError::ResetWithoutClosingHandshake) => {
            "reset without close".to_string()
        }
        tungstenite::Error::Io(io) => format!("io: {io}"),
        other => other.to_string(),
    }
}

/// Counts one server frame and takes its measurements. Returns `Some(true)` for `hello`,
/// `None` when it could not be decoded.
fn on_frame(plan: &Plan, spec: &ConnSpec, report: &mut ConnReport, bytes: &[u8]) -> Option<bool> {
    let Some(frame) = decode(plan.encoding, bytes) else {
        report.undecodable += 1;
        return None;
    };
    let slot = KINDS.iter().position(|k| *k == frame.kind).unwrap_or(KINDS.len());
    report.frames[slot] += 1;
    match &*frame.kind {
        "hello" => {
            report.heartbeat_ms = frame.heartbeat_ms;
            return Some(true);
        }
        "ack" => {
            report.acked += 1;
            if let Some(sent) = frame.client_msg_id.as_deref().and_then(sent_us_of_client_msg_id) {
                report.ack_latency.record_us(plan.now_us().saturating_sub(sent));
            }
        }
        "message" => {
            if frame.sender_id.as_deref() == Some(&*spec.user_id) {
                report.own_deliveries += 1;
            } else {
                report.deliveries += 1;
                let body = frame.body.as_deref().unwrap_or("");
                if let Some(sent) = sent_us_of_body(body) {
                    let us = plan.now_us().saturating_sub(sent);
                    report.deliver_latency.record_us(us);
                    if let Some(sender) = sender_conn_of_body(body) {
                        if plan.node_of(sender) == spec.node {
                            report.deliver_same_node.record_us(us);
                        } else {
                            report.deliver_cross_node.record_us(us);
                        }
                    }
                }
            }
        }
        "error" => {
            let code = frame.code.as_deref().unwrap_or("?");
            *report.error_codes.entry(code.to_string()).or_insert(0) += 1;
            let mine = format!("{}-", spec.index);
            if frame.reference.as_deref().is_some_and(|r| r.starts_with(&mine)) {
                report.send_errors += 1;
            }
        }
        _ => {}
    }
    Some(false)
}

/// Handles what the stream yielded; false when the connection is gone.
fn on_read(
    plan: &Plan,
    spec: &ConnSpec,
    report: &mut ConnReport,
    item: Option<Result<Message, tungstenite::Error>>,
) -> bool {
    match item {
        Some(Ok(Message::Text(t))) => {
            on_frame(plan, spec, report, t.as_bytes());
            true
        }
        Some(Ok(Message::Binary(b))) => {
            on_frame(plan, spec, report, &b);
            true
        }
        // Pings are answered by tungstenite itself while reading.
        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => true,
        Some(Ok(Message::Close(frame))) => {
            report.lost = Some(close_label(frame.as_ref()));
            false
        }
        Some(Err(e)) => {
            report.lost = Some(error_label(&e));
            false
        }
        None => {
            report.lost = Some("eof".to_string());
            false
        }
    }
}

async fn next_tick(ticker: &mut Option<Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Reads until the run starts, then sends (senders) and reads until the end of the drain.
async fn hold(
    plan: &Plan,
    spec: &ConnSpec,
    mut ws: Ws,
    mut go: watch::Receiver<Option<Timeline>>,
    report: &mut ConnReport,
) {
    let timeline = loop {
        if let Some(t) = *go.borrow_and_update() {
            break t;
        }
        tokio::select! {
            item = ws.next() => if !on_read(plan, spec, report, item) { return },
            changed = go.changed() => if changed.is_err() { return },
        }
    };
    let mut ticker = spec.send.as_ref().and_then(|s| s.period.map(|p| (s.offset, p))).map(|(offset, p)| {
        let mut t = tokio::time::interval_at((timeline.start + offset).into(), p);
        t.set_missed_tick_behavior(MissedTickBehavior::Skip);
        t
    });
    let flat_out = spec.send.as_ref().is_some_and(|s| s.period.is_none());
    let close_at = tokio::time::sleep_until(timeline.close_at.into());
    tokio::pin!(close_at);
    let mut n: u64 = 0;
    loop {
        let now = Instant::now();
        let before_start = now < timeline.start;
        let sending = spec.send.is_some() && !before_start && now < timeline.send_until;
        let in_flight = report.sent.saturating_sub(report.acked + report.send_errors);
        let window_open = in_flight < plan.max_in_flight;
        let send_now = tokio::select! {
            biased;
            item = ws.next() => {
                if !on_read(plan, spec, report, item) {
                    return;
                }
                false
            }
            () = &mut close_at => break,
            () = next_tick(&mut ticker), if spec.send.is_some() && now < timeline.send_until => {
                if !window_open {
                    report.throttled += 1;
                }
                window_open
            }
            () = std::future::ready(()), if flat_out && sending && window_open => true,
            () = tokio::time::sleep_until(timeline.start.into()), if flat_out && before_start => false,
        };
        if send_now {
            if let Some(s) = &spec.send {
                n += 1;
                let sent_us = plan.now_us();
                let id = client_msg_id(spec.index, n, sent_us);
                let body = message_body(sent_us, spec.index, plan.body_bytes);
                let frame =
                    SendFrame { kind: "send", conversation_id: &s.conversation_id, client_msg_id: &id, body: &body };
                let Ok(msg) = encode(plan.encoding, &frame) else {
                    report.lost = Some("encode error".to_string());
                    return;
                };
                if let Err(e) = ws.send(msg).await {
                    report.lost = Some(format!("send: {}", error_label(&e)));
                    return;
                }
                report.sent += 1;
            }
        }
    }
    report.held = true;
    let normal = CloseFrame { code: CloseCode::Normal, reason: "run over".into() };
    tokio::time::timeout(CLOSE_TIMEOUT, ws.close(Some(normal))).await.ok();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_pair_up_and_an_odd_one_joins_user_zero() {
        assert_eq!(conversation_pairs(4), vec![(0, 1), (2, 3)]);
        assert_eq!(conversation_pairs(5), vec![(0, 1), (0, 4), (2, 3)]);
        assert_eq!(partner(4, 5), 0);
        assert_eq!(partner(0, 5), 1);
        assert_eq!(conversation_pairs(2), vec![(0, 1)]);
        assert!(conversation_pairs(1).is_empty());
    }

    #[test]
    fn send_times_travel_in_ids_and_bodies() {
        let id = client_msg_id(17, 3, 123_456);
        assert_eq!(id, "17-3-123456");
        assert!(id.len() <= 64);
        assert_eq!(sent_us_of_client_msg_id(&id), Some(123_456));
        let body = message_body(987_654, 17, 64);
        assert_eq!(body.len(), 64);
        assert!(body.starts_with("987654 17 x"));
        assert_eq!(sent_us_of_body(&body), Some(987_654));
        assert_eq!(sent_us_of_body("hello there"), None);
    }

    #[test]
    fn frames_encode_with_the_protocol_field_names() {
        let frame = SendFrame { kind: "send", conversation_id: "c1", client_msg_id: "m1", body: "hi" };
        let Message::Text(json) = encode(WireEncoding::Json, &frame).expect("json") else {
            panic!("JSON goes in text frames");
        };
        assert_eq!(json.as_str(), r#"{"type":"send","conversation_id":"c1","client_msg_id":"m1","body":"hi"}"#);
        let Message::Binary(mp) = encode(WireEncoding::Msgpack, &frame).expect("msgpack") else {
            panic!("MessagePack goes in binary frames");
        };
        let back: serde_json::Value = rmp_serde::from_slice(&mp).expect("a msgpack map");
        assert_eq!(back["type"], "send");
        assert_eq!(back["client_msg_id"], "m1");
    }

    #[test]
    fn server_frames_decode_in_both_encodings() {
        let ack = serde_json::json!({
            "type": "ack", "conversation_id": "c", "client_msg_id": "1-1-50", "message_id": "m", "seq": 1,
            "sent_at": "2026-11-23T00:00:00Z"
        });
        let bytes = serde_json::to_vec(&ack).expect("json");
        let f = decode(WireEncoding::Json, &bytes).expect("decodes");
        assert_eq!(f.kind, "ack");
        assert_eq!(f.client_msg_id.as_deref(), Some("1-1-50"));
        let mp = rmp_serde::to_vec_named(&ack).expect("msgpack");
        let f = decode(WireEncoding::Msgpack, &mp).expect("decodes");
        assert_eq!(f.kind, "ack");
        let err = serde_json::json!({"type": "error", "code": "rate_limited", "message": "slow down", "ref": "4-2-9"});
        let bytes = serde_json::to_vec(&err).expect("json");
        let f = decode(WireEncoding::Json, &bytes).expect("decodes");
        assert_eq!(f.reference.as_deref(), Some("4-2-9"));
        assert!(decode(WireEncoding::Json, b"[1]").is_none());
    }

    /// Same-node and cross-node (sender connection, receiving connection) deliveries when
    /// each of the first `senders` connections sends once to every connection of its partner.
    fn delivery_mix(connections: usize, users: usize, senders: usize, nodes: usize) -> (usize, usize) {
        let (mut same, mut cross) = (0, 0);
        for sender in 0..senders {
            let p = partner(sender % users, users);
            for receiver in (0..connections).filter(|c| c % users == p) {
                match locality(sender, receiver, users, nodes) {
                    Locality::SameNode => same += 1,
                    Locality::CrossNode => cross += 1,
                }
            }
        }
        (same, cross)
    }

    fn per_node(connections: usize, users: usize, nodes: usize) -> Vec<usize> {
        let mut count = vec![0; nodes];
        for c in 0..connections {
            count[node_of_connection(c, users, nodes)] += 1;
        }
        count
    }

    #[test]
    fn one_node_takes_every_connection() {
        for c in 0..50 {
            assert_eq!(node_of_connection(c, 10, 1), 0);
            assert_eq!(node_of_connection(c, 10, 0), 0);
        }
        assert_eq!(delivery_mix(20, 10, 10, 1), (20, 0));
    }

    #[test]
    fn two_nodes_one_device_each_split_the_pairs_in_half() {
        // Users 0..8, pairs (0,1) (2,3) (4,5) (6,7): pairs 0 and 1 stay on one node, 2 and 3
        // cross, then it repeats.
        let nodes: Vec<usize> = (0..8).map(|c| node_of_connection(c, 8, 2)).collect();
        assert_eq!(nodes, vec![0, 0, 1, 1, 0, 1, 1, 0]);
        let pair_same = |k: usize| locality(2 * k, 2 * k + 1, 8, 2) == Locality::SameNode;
        assert_eq!((0..4).map(pair_same).collect::<Vec<_>>(), vec![true, true, false, false]);
        assert_eq!(per_node(8, 8, 2), vec![4, 4]);
        assert_eq!(delivery_mix(100, 100, 100, 2), (52, 48), "25 pair blocks of 4 with a half block left");
        assert_eq!(delivery_mix(400, 400, 400, 2), (200, 200));
    }

    #[test]
    fn two_devices_put_one_partner_device_on_each_node() {
        // 1 000 connections of 500 users, the first 100 sending (the documented run).
        for sender in 0..100 {
            let p = partner(sender, 500);
            let kinds = [locality(sender, p, 500, 2), locality(sender, p + 500, 500, 2)];
            assert!(kinds.contains(&Locality::SameNode) && kinds.contains(&Locality::CrossNode), "sender {sender}");
        }
        assert_eq!(delivery_mix(1000, 500, 100, 2), (100, 100));
        assert_eq!(per_node(1000, 500, 2), vec![500, 500]);
        // The default users (100) with 10 devices each.
        assert_eq!(delivery_mix(1000, 100, 100, 2), (500, 500));
        assert_eq!(per_node(1000, 100, 2), vec![500, 500]);
    }

    #[test]
    fn more_nodes_keep_the_load_even_and_one_in_n_deliveries_local() {
        for nodes in 2..=5 {
            let users = 2 * nodes * nodes * 3;
            let (same, cross) = delivery_mix(users, users, users, nodes);
            assert_eq!(same * nodes, same + cross, "{nodes} nodes: {same} same, {cross} cross");
            let counts = per_node(users, users, nodes);
            assert!(counts.iter().all(|&k| k == users / nodes), "{nodes} nodes: {counts:?}");
            let counts = per_node(4 * users, users, nodes);
            assert!(counts.iter().all(|&k| k == 4 * users / nodes), "{nodes} nodes, 4 devices: {counts:?}");
            assert!(cross > 0 && same > 0);
        }
        // An odd user count and a connection count that is no multiple still mix both kinds.
        let (same, cross) = delivery_mix(37, 7, 7, 3);
        assert!(same > 0 && cross > 0, "{same} same, {cross} cross");
    }

    #[test]
    fn the_sending_connection_travels_in_the_body() {
        let body = message_body(987_654, 17, 64);
        assert_eq!(sender_conn_of_body(&body), Some(17));
        assert_eq!(sender_conn_of_body("987654"), None);
        assert_eq!(sender_conn_of_body("hello there"), None);
    }

    #[test]
    fn urls_repeat_or_come_as_a_list() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            ws: WsArgs,
        }
        let parse = |argv: &[&str]| {
            let mut all = vec!["ws"];
            all.extend_from_slice(argv);
            <Cli as clap::Parser>::try_parse_from(all).expect("valid arguments").ws
        };
        assert_eq!(parse(&[]).urls, vec!["http://127.0.0.1:8080"]);
        assert_eq!(parse(&["--url", "http://a:1"]).urls, vec!["http://a:1"]);
        let two = vec!["http://a:1", "http://b:2"];
        assert_eq!(parse(&["--url", "http://a:1", "--url", "http://b:2"]).urls, two);
        assert_eq!(parse(&["--url", "http://a:1,http://b:2"]).urls, two);
        assert_eq!(parse(&["--urls", "http://a:1,http://b:2"]).urls, two);
        assert_eq!(parse(&["--server-pid", "10", "--server-pid", "11"]).server_pids, vec![10, 11]);
        assert_eq!(node_urls(&["http://a:1/".into(), "http://b:2".into()]).expect("valid"), two);
        assert!(node_urls(&["http://a:1".into(), "http://a:1/".into()]).is_err(), "one node twice");
        assert!(node_urls(&[]).is_err());
        assert!(node_urls(&["https://a:1".into()]).is_err());
    }

    fn test_plan(nodes: usize, users: usize) -> Plan {
        let target = |port: u16| NodeTarget {
            server: SocketAddr::from(([127, 0, 0, 1], port)),
            ws_url_prefix: format!("ws://127.0.0.1:{port}/ws?token="),
        };
        Plan {
            targets: (0..nodes).map(|k| target(18_000 + k as u16)).collect(),
            users,
            encoding: WireEncoding::Json,
            config: WebSocketConfig::default(),
            local_addrs: Vec::new(),
            connect_timeout: Duration::from_secs(1),
            epoch: Instant::now(),
            body_bytes: 64,
            max_in_flight: 1,
        }
    }

    #[test]
    fn deliveries_are_timed_by_where_they_came_from() {
        // 8 users on 2 nodes: connection 0 (user 0) is on node 0 with user 1's connection 1;
        // user 4's connection 4 is on node 0 and user 5's connection 5 on node 1.
        let spec = |plan: &Plan, index: usize, user: &str| ConnSpec {
            index,
            node: plan.node_of(index),
            token: Arc::from("t"),
            user_id: Arc::from(user),
            send: None,
        };
        let frame = |sender: &str, conn: usize| {
            serde_json::to_vec(&serde_json::json!({
                "type": "message", "conversation_id": "c", "sender_id": sender, "body": message_body(0, conn, 64)
            }))
            .expect("json")
        };
        let plan = test_plan(2, 8);
        let mut report = ConnReport::default();
        on_frame(&plan, &spec(&plan, 1, "u1"), &mut report, &frame("u0", 0));
        assert_eq!((report.deliver_same_node.len(), report.deliver_cross_node.len()), (1, 0));
        let mut report = ConnReport::default();
        on_frame(&plan, &spec(&plan, 5, "u5"), &mut report, &frame("u4", 4));
        on_frame(&plan, &spec(&plan, 5, "u5"), &mut report, &frame("u5", 13));
        assert_eq!((report.deliver_same_node.len(), report.deliver_cross_node.len()), (0, 1));
        assert_eq!((report.deliveries, report.own_deliveries, report.deliver_latency.len()), (1, 1, 1));
        // One node: everything is same-node.
        let plan = test_plan(1, 8);
        let mut report = ConnReport::default();
        on_frame(&plan, &spec(&plan, 5, "u5"), &mut report, &frame("u4", 4));
        assert_eq!((report.deliver_same_node.len(), report.deliver_cross_node.len()), (1, 0));
    }

    #[test]
    fn cpu_time_reads_this_process() {
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(cpu_ticks("self").is_some());
        }
        assert_eq!(cpu_ticks("nonexistent-pid"), None);
    }

    #[test]
    fn rss_reads_this_process() {
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(rss_kb("self", "VmRSS:").is_some_and(|kb| kb > 0));
        }
        assert_eq!(rss_kb("nonexistent-pid", "VmRSS:"), None);
    }
}
