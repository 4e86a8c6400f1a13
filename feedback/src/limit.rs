//! How much one client address may do per window: events (flags, sign-in
//! failures, token guesses) and bytes (a flag's images and audio). A fixed
//! window per address: simple, and enough to stop guessing and flooding.
//! The address is the one the connection came from, which a client cannot
//! choose; a request without one (in-process calls) is never limited.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses remembered at most; past it, those whose window ended go.
const MAX_ADDRESSES: usize = 10_000;

pub struct PerAddress {
    events: u32,
    bytes: u64,
    window: Duration,
    seen: Mutex<HashMap<IpAddr, Used>>,
}

struct Used {
    since: Instant,
    events: u32,
    bytes: u64,
}

impl PerAddress {
    /// At most `events` events and `bytes` bytes per address per `window`.
    pub fn new(events: u32, bytes: u64, window: Duration) -> Self {
        PerAddress {
            events,
            bytes,
            window,
            seen: Mutex::default(),
        }
    }

    /// At most `events` per `window`, bytes unlimited.
    pub fn events(events: u32, window: Duration) -> Self {
        PerAddress::new(events, u64::MAX, window)
    }

    /// Whether `client` is under its event limit now (without counting).
    pub fn allows(&self, client: Option<IpAddr>) -> bool {
        self.with(client, |used, limit| used.events < limit.events)
    }

    /// Counts one event of `client`.
    pub fn count(&self, client: Option<IpAddr>) {
        self.with(client, |used, _| {
            used.events = used.events.saturating_add(1);
            true
        });
    }

    /// Counts one event and says whether it was within the limit.
    pub fn take(&self, client: Option<IpAddr>) -> bool {
        self.with(client, |used, limit| {
            let allowed = used.events < limit.events;
            if allowed {
                used.events += 1;
            }
            allowed
        })
    }

    /// Counts `bytes` of `client` if they fit its window's allowance, and
    /// says whether they did.
    pub fn take_bytes(&self, client: Option<IpAddr>, bytes: u64) -> bool {
        self.with(client, |used, limit| {
            let fits = used.bytes.saturating_add(bytes) <= limit.bytes;
            if fits {
                used.bytes += bytes;
            }
            fits
        })
    }

    /// Runs `f` on the client's use in its current window.
    fn with(&self, client: Option<IpAddr>, f: impl FnOnce(&mut Used, &Self) -> bool) -> bool {
        let Some(client) = client else { return true };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > MAX_ADDRESSES {
            let window = self.window;
            seen.retain(|_, used| used.since.elapsed() <= window);
        }
        let used = seen.entry(client).or_insert_with(|| Used {
            since: Instant::now(),
            events: 0,
            bytes: 0,
        });
        if used.since.elapsed() > self.window {
            *used = Used {
                since: Instant::now(),
                events: 0,
                bytes: 0,
            };
        }
        f(used, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_has_its_own_events_and_bytes() {
        let limit = PerAddress::new(2, 100, Duration::from_secs(60));
        let (a, b) = (
            Some(IpAddr::from([10, 0, 0, 1])),
            Some(IpAddr::from([10, 0, 0, 2])),
        );
        assert!(limit.take(a) && limit.take(a));
        assert!(!limit.take(a) && !limit.allows(a));
        assert!(limit.allows(b) && limit.take(b));
        assert!(limit.take_bytes(b, 60) && !limit.take_bytes(b, 41) && limit.take_bytes(b, 40));
        assert!(limit.take(None), "in-process calls are not limited");
    }

    #[test]
    fn a_new_window_starts_afresh() {
        let limit = PerAddress::events(1, Duration::from_millis(20));
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        assert!(limit.take(a) && !limit.take(a));
        std::thread::sleep(Duration::from_millis(30));
        assert!(limit.take(a));
    }
}
