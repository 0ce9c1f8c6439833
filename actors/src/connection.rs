//! What the actors know of one WebSocket connection: its id, encoding and the bounded
//! outbound queue. The transport (agora-http) owns the socket and drains the queue; the
//! actors never see the transport type.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::protocol::{Encoding, SharedFrame, CLOSE_TOO_SLOW};

pub type ConnectionId = u64;

/// How often a replay waiting for queue room looks again.
const REPLAY_POLL: std::time::Duration = std::time::Duration::from_millis(1);

/// One item of a connection's outbound queue.
#[derive(Debug, Clone)]
pub enum Outbound {
    Frame(Arc<SharedFrame>),
    /// Close the socket with this code and reason.
    Close(u16, &'static str),
}

/// The send half of a connection, held by its user's session.
#[derive(Debug, Clone)]
pub struct ConnectionHandle {
    pub id: ConnectionId,
    pub encoding: Encoding,
    tx: mpsc::Sender<Outbound>,
    /// Set before the session drops its sender, so the transport knows why its queue ended.
    close_code: Arc<AtomicU16>,
}

impl ConnectionHandle {
    /// Builds the handle and the queue's receive half (for the transport).
    pub fn new(
        id: ConnectionId,
        encoding: Encoding,
        capacity: usize,
    ) -> (Self, mpsc::Receiver<Outbound>, Arc<AtomicU16>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let close_code = Arc::new(AtomicU16::new(0));
        (ConnectionHandle { id, encoding, tx, close_code: Arc::clone(&close_code) }, rx, close_code)
    }

    /// Queues a frame without waiting. `false` means the queue is full or gone: the
    /// connection is too slow and must be dropped (it resumes with `sync`).
    pub fn push(&self, frame: &Arc<SharedFrame>) -> bool {
        match self.tx.try_send(Outbound::Frame(Arc::clone(frame))) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close_code.store(CLOSE_TOO_SLOW, Ordering::Relaxed);
                metrics::counter!("agora_ws_slow_consumer_closes_total").increment(1);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Queues a frame, waiting for room: for replies to the connection's own requests
    /// (a `sync` replay), where waiting is the right backpressure. It waits until more than
    /// a quarter of the queue is free, so that a replay filling the queue never leaves live
    /// frames (a notification, a new message) without room: those would cut the connection
    /// off as too slow while it is only catching up.
    pub async fn push_wait(&self, frame: Arc<SharedFrame>) -> bool {
        let headroom = self.tx.max_capacity() / 4;
        while self.tx.capacity() <= headroom {
            if self.tx.is_closed() {
                return false;
            }
            tokio::time::sleep(REPLAY_POLL).await;
        }
        self.tx.send(Outbound::Frame(frame)).await.is_ok()
    }

    /// Asks the transport to close the socket (best effort: a full queue is closed anyway).
    pub fn close(&self, code: u16, reason: &'static str) {
        self.close_code.store(code, Ordering::Relaxed);
        let _ = self.tx.try_send(Outbound::Close(code, reason));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ServerFrame;

    fn frame() -> Arc<SharedFrame> {
        SharedFrame::new(ServerFrame::Synced {})
    }

    /// A replay leaves a quarter of the queue to live frames: it waits while the queue is
    /// that full, live pushes still find room, and it goes on once the reader drains.
    #[tokio::test]
    async fn a_replay_keeps_room_for_live_frames() {
        let (h, mut rx, _) = ConnectionHandle::new(1, Encoding::Json, 8);
        for _ in 0..6 {
            assert!(h.push_wait(frame()).await, "room while more than a quarter is free");
        }
        let waiting = {
            let h = h.clone();
            tokio::spawn(async move { h.push_wait(frame()).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        assert!(!waiting.is_finished(), "the replay waits with two of eight slots free");
        assert!(h.push(&frame()) && h.push(&frame()), "live frames still fit");
        assert!(!h.push(&frame()), "a full queue is a slow consumer");
        for _ in 0..3 {
            rx.recv().await.expect("a frame");
        }
        assert!(waiting.await.expect("join"), "the replay goes on once the reader drained");
        drop(rx);
        assert!(!h.push_wait(frame()).await, "a closed queue ends the replay");
    }
}
