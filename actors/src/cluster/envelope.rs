//! What travels between nodes on a Redis channel: one envelope per frame or event, built
//! once and published unchanged to every channel it goes to.
//!
//! Layout (all integers big-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 1 | magic `b'A'` |
//! | 1 | version, [`VERSION`] |
//! | 1 | [`Kind`] |
//! | 1 | length `n` of the node id |
//! | n | the sending node's id (UTF-8) |
//! | 8 | when it was sent, microseconds since the Unix epoch |
//! | rest | the payload: a frame's MessagePack encoding (the bytes MessagePack clients get), a domain event in MessagePack, or nothing |

pub const VERSION: u8 = 1;
const MAGIC: u8 = b'A';

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A server frame for the user the channel names.
    Frame = 1,
    /// The user's `unread` counts changed: recompute and push them.
    RefreshUnread = 2,
    /// A domain event for the subscribers that run on every node.
    Event = 3,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Frame),
            2 => Some(Kind::RefreshUnread),
            3 => Some(Kind::Event),
            _ => None,
        }
    }
}

/// An envelope read back; borrows the received bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Opened<'a> {
    pub kind: Kind,
    pub node: &'a str,
    pub sent_at_us: i64,
    pub payload: &'a [u8],
}

/// Builds an envelope. A node id longer than 255 bytes is cut (ids are short; the settings
/// refuse long ones).
pub fn seal(kind: Kind, node: &str, sent_at_us: i64, payload: &[u8]) -> Vec<u8> {
    let node = &node.as_bytes()[..node.len().min(255)];
    let mut out = Vec::with_capacity(4 + node.len() + 8 + payload.len());
    out.extend_from_slice(&[MAGIC, VERSION, kind as u8, node.len() as u8]);
    out.extend_from_slice(node);
    out.extend_from_slice(&sent_at_us.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Reads an envelope; `None` for anything that is not one of ours (another version, a
/// truncated message, a foreign publisher on the channel).
pub fn open(bytes: &[u8]) -> Option<Opened<'_>> {
    let (&[magic, version, kind, len], rest) = bytes.split_first_chunk::<4>()?;
    if magic != MAGIC || version != VERSION {
        return None;
    }
    let kind = Kind::from_u8(kind)?;
    let (node, rest) = rest.split_at_checked(usize::from(len))?;
    let node = std::str::from_utf8(node).ok()?;
    let (at, payload) = rest.split_first_chunk::<8>()?;
    Some(Opened { kind, node, sent_at_us: i64::from_be_bytes(*at), payload })
}

/// Now, in microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_reads_back_what_was_sealed() {
        for (kind, node, at, payload) in [
            (Kind::Frame, "node-a", 1_700_000_000_000_000, &b"\x82\xa4type"[..]),
            (Kind::RefreshUnread, "b", 0, &b""[..]),
            (Kind::Event, "", -5, &b"x"[..]),
        ] {
            let bytes = seal(kind, node, at, payload);
            assert_eq!(open(&bytes), Some(Opened { kind, node, sent_at_us: at, payload }));
        }
    }

    #[test]
    fn anything_else_is_refused() {
        let good = seal(Kind::Frame, "node-a", 42, b"payload");
        assert!(open(&good[..good.len() - 7]).is_some(), "an empty payload is still an envelope");
        for cut in 0..(4 + 6 + 8) {
            assert_eq!(open(&good[..cut]), None, "truncated to {cut} bytes");
        }
        let mut other_version = good.clone();
        other_version[1] = VERSION + 1;
        assert_eq!(open(&other_version), None);
        let mut other_kind = good.clone();
        other_kind[2] = 9;
        assert_eq!(open(&other_kind), None);
        let mut not_ours = good;
        not_ours[0] = b'{';
        assert_eq!(open(&not_ours), None);
        assert_eq!(open(&seal(Kind::Frame, "\u{e9}", 1, b"")).map(|o| o.node), Some("\u{e9}"));
    }
}
