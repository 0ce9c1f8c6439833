//! Presence across nodes, kept in Redis (docs/cluster.md "Presence"):
//!
//! - `agora:node:<node>`: the node is alive; set with a TTL by its heartbeat.
//! - `agora:nodes`: the nodes that have ever registered and not been reaped.
//! - `agora:online:<user>`: a hash of the nodes holding a session of the user.
//! - `agora:node-users:<node>`: the users a node holds, for reaping a dead node.
//!
//! A user is online when some node in its hash is alive. A node that dies stops
//! refreshing its key; within the TTL plus one heartbeat another node notices, claims the
//! reaping (`agora:reap:<node>`, set-if-absent), removes the dead node from its users and
//! announces those left with no live node offline. The scripts run atomically, and each
//! node sends its joins and leaves in order, so a quick reconnect never reads as offline.

pub const NODES: &str = "agora:nodes";

pub fn node_key(node: &str) -> String {
    format!("agora:node:{node}")
}

pub fn online_key(user: impl std::fmt::Display) -> String {
    format!("agora:online:{user}")
}

pub fn node_users_key(node: &str) -> String {
    format!("agora:node-users:{node}")
}

pub fn reap_key(node: &str) -> String {
    format!("agora:reap:{node}")
}

/// Whether the user of `KEYS[1]` has a live node other than `ARGV[1]` (the shared part of
/// the scripts below).
const ELSEWHERE: &str = r"
local function elsewhere(key, me)
  for _, n in ipairs(redis.call('HKEYS', key)) do
    if n ~= me and redis.call('EXISTS', 'agora:node:' .. n) == 1 then return 1 end
  end
  return 0
end
";

/// KEYS: online hash, node-users set; ARGV: node, user. Registers the user on the node;
/// answers 1 when another live node already holds the user.
pub fn join() -> &'static redis::Script {
    static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
        redis::Script::new(&format!(
            "{ELSEWHERE}
redis.call('HSET', KEYS[1], ARGV[1], 1)
redis.call('SADD', KEYS[2], ARGV[2])
return elsewhere(KEYS[1], ARGV[1])"
        ))
    });
    &SCRIPT
}

/// KEYS: online hash, node-users set; ARGV: node, user. Removes the user from the node;
/// answers 1 when another live node still holds the user.
pub fn leave() -> &'static redis::Script {
    static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
        redis::Script::new(&format!(
            "{ELSEWHERE}
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
return elsewhere(KEYS[1], ARGV[1])"
        ))
    });
    &SCRIPT
}

/// KEYS: online hashes; ARGV: the node to leave out (this one, or a dead one). Answers 1
/// or 0 per key: whether another live node holds that user.
pub fn online_elsewhere() -> &'static redis::Script {
    static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
        redis::Script::new(&format!(
            "{ELSEWHERE}
local out = {{}}
for i, key in ipairs(KEYS) do out[i] = elsewhere(key, ARGV[1]) end
return out"
        ))
    });
    &SCRIPT
}
