//! Caps on open SSE streams (status and seats streams together): per ticket, per client
//! IP and per replica. Every open stream holds a task's worth of memory, a socket and a
//! file descriptor for as long as the client keeps it open, so without a cap one client
//! could hold a replica's descriptors with a few thousand idle streams.
//!
//! [`StreamSlots::open`] takes a slot in all three counts at once or none; the returned
//! [`StreamSlot`] gives them back when dropped, which happens when the response body (the
//! event stream) is dropped: the client went away, the stream ended, or the server is
//! shutting down. Counts that reach zero are removed, so memory follows open streams.
//! A refusal is `429 rate_limited` with `Retry-After` ([`RETRY_AFTER`]): the fan page
//! falls back to polling meanwhile.

use protocol::ids::TicketId;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `Retry-After` of a refused stream: long enough that a client retrying in a loop does
/// not become the load, short enough that a fan whose other tab closed gets its stream.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Which cap refused a stream (the `scope` label of `anteroom_rate_limited_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// Streams of one ticket.
    Ticket,
    /// Streams of one client IP.
    Ip,
    /// Streams of this replica.
    Replica,
}

impl Full {
    /// `token` / `ip` / `replica` (the scopes of the other limits).
    pub fn label(self) -> &'static str {
        match self {
            Full::Ticket => "token",
            Full::Ip => "ip",
            Full::Replica => "replica",
        }
    }
}

/// The caps and the streams open now. `0` = no cap.
pub struct StreamSlots {
    per_ticket: u32,
    per_ip: u32,
    per_replica: u32,
    open: Arc<Mutex<Open>>,
}

#[derive(Default)]
struct Open {
    tickets: HashMap<TicketId, u32>,
    ips: HashMap<IpAddr, u32>,
    total: u32,
}

/// One open stream's place in the counts; given back on drop.
pub struct StreamSlot {
    ticket: TicketId,
    ip: Option<IpAddr>,
    open: Arc<Mutex<Open>>,
}

fn under(cap: u32, count: u32) -> bool {
    cap == 0 || count < cap
}

impl StreamSlots {
    /// Caps of `per_ticket`, `per_ip` and `per_replica` open streams; 0 = none.
    pub fn new(per_ticket: u32, per_ip: u32, per_replica: u32) -> Self {
        Self {
            per_ticket,
            per_ip,
            per_replica,
            open: Arc::default(),
        }
    }

    /// A slot for a stream of `ticket` from `ip` (`None`: no address known, only the
    /// ticket and replica caps apply).
    ///
    /// # Errors
    /// The first cap that is full (ticket, then IP, then replica).
    pub fn open(&self, ticket: TicketId, ip: Option<IpAddr>) -> Result<StreamSlot, Full> {
        let mut open = self.open.lock().expect("stream slots poisoned");
        if !under(
            self.per_ticket,
            open.tickets.get(&ticket).copied().unwrap_or(0),
        ) {
            return Err(Full::Ticket);
        }
        if let Some(ip) = ip {
            if !under(self.per_ip, open.ips.get(&ip).copied().unwrap_or(0)) {
                return Err(Full::Ip);
            }
        }
        if !under(self.per_replica, open.total) {
            return Err(Full::Replica);
        }
        *open.tickets.entry(ticket).or_default() += 1;
        if let Some(ip) = ip {
            *open.ips.entry(ip).or_default() += 1;
        }
        open.total += 1;
        Ok(StreamSlot {
            ticket,
            ip,
            open: self.open.clone(),
        })
    }

    /// Streams open now (all tickets).
    pub fn open_streams(&self) -> u32 {
        self.open.lock().expect("stream slots poisoned").total
    }
}

fn release<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u32>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            map.remove(key);
        }
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("stream slots poisoned");
        release(&mut open.tickets, &self.ticket);
        if let Some(ip) = &self.ip {
            release(&mut open.ips, ip);
        }
        open.total -= 1;
    }
}

/// `events`, holding `slot` until the stream is dropped.
pub fn holding<S: futures::Stream + Send + 'static>(
    events: S,
    slot: StreamSlot,
) -> impl futures::Stream<Item = S::Item> + Send + 'static {
    use futures::StreamExt;
    events.map(move |e| {
        let _held = &slot;
        e
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const A: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)));
    const B: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2)));

    #[test]
    fn each_cap_refuses_beyond_it_and_slots_come_back_on_drop() {
        let slots = StreamSlots::new(2, 3, 4);
        let (t1, t2, t3) = (TicketId::new(), TicketId::new(), TicketId::new());
        let a = slots.open(t1, A).unwrap();
        let b = slots.open(t1, A).unwrap();
        assert_eq!(slots.open(t1, B).err(), Some(Full::Ticket));
        let c = slots.open(t2, A).unwrap();
        assert_eq!(slots.open(t3, A).err(), Some(Full::Ip));
        let d = slots.open(t3, B).unwrap();
        assert_eq!(slots.open(TicketId::new(), None).err(), Some(Full::Replica));
        assert_eq!(slots.open_streams(), 4);
        drop(a);
        let e = slots.open(t1, B).unwrap();
        drop((b, c, d, e));
        assert_eq!(slots.open_streams(), 0);
        let open = slots.open.lock().unwrap();
        assert!(
            open.tickets.is_empty() && open.ips.is_empty(),
            "no empty entries left"
        );
    }

    #[test]
    fn zero_means_no_cap() {
        let slots = StreamSlots::new(0, 0, 0);
        let t = TicketId::new();
        let held: Vec<_> = (0..100).map(|_| slots.open(t, A).unwrap()).collect();
        assert_eq!(slots.open_streams(), 100);
        drop(held);
        assert_eq!(slots.open_streams(), 0);
    }

    #[tokio::test]
    async fn a_dropped_stream_gives_its_slot_back() {
        use futures::StreamExt;
        let slots = StreamSlots::new(1, 0, 0);
        let t = TicketId::new();
        let slot = slots.open(t, None).unwrap();
        let mut s = Box::pin(holding(futures::stream::iter([1, 2]), slot));
        assert_eq!(s.next().await, Some(1));
        assert_eq!(slots.open(t, None).err(), Some(Full::Ticket));
        drop(s);
        assert!(slots.open(t, None).is_ok());
    }
}
