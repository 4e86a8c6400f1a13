//! A process-wide budget of memory for decoding media. One image is
//! bounded by its own limits, but sixteen at once are sixteen times that:
//! a 381 KB PNG of 7000 × 7000 16-bit pixels costs half a gigabyte to
//! decode, and sixteen of them took the process to 8.8 GB. Every decode
//! reserves its cost here first; while the budget is spent, decodes wait
//! their turn for a while, then are refused as overload (429), so memory
//! stays bounded however many requests arrive together.

use std::sync::{Condvar, LazyLock, Mutex};
use std::time::{Duration, Instant};

/// The budget when `wick serve --decode-memory-mb` sets none.
pub const DEFAULT_DECODE_BYTES: u64 = 1 << 30;
/// How long a decode waits for room before it is refused.
const WAIT: Duration = Duration::from_secs(10);

/// Bytes that decodes may hold at once.
pub struct MemoryBudget {
    state: Mutex<State>,
    freed: Condvar,
    /// How long a reservation waits for room.
    wait: Duration,
}

struct State {
    total: u64,
    used: u64,
}

/// Why a reservation was not made.
#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// More than the whole budget: it could never be decoded here.
    TooLarge { bytes: u64, total: u64 },
    /// The budget stayed spent by other decodes for the whole wait.
    Busy,
}

/// Held while a decode runs; the bytes return to the budget when dropped.
pub struct Reservation<'a> {
    budget: &'a MemoryBudget,
    bytes: u64,
}

/// The budget every media decode of this process reserves from.
pub static DECODING: LazyLock<MemoryBudget> =
    LazyLock::new(|| MemoryBudget::new(DEFAULT_DECODE_BYTES));

impl MemoryBudget {
    pub fn new(total: u64) -> Self {
        MemoryBudget::waiting(total, WAIT)
    }

    /// A budget whose reservations wait at most `wait` for room.
    pub fn waiting(total: u64, wait: Duration) -> Self {
        MemoryBudget {
            state: Mutex::new(State { total, used: 0 }),
            freed: Condvar::new(),
            wait,
        }
    }

    /// Changes the total (at start-up; reservations held keep their bytes).
    pub fn set_total(&self, total: u64) {
        self.lock().total = total.max(1);
        self.freed.notify_all();
    }

    pub fn total(&self) -> u64 {
        self.lock().total
    }

    /// Bytes reserved now.
    pub fn used(&self) -> u64 {
        self.lock().used
    }

    /// Reserves `bytes`, waiting while other decodes hold the budget.
    /// Blocks the thread: call it where decoding happens (off the async
    /// runtime).
    pub fn reserve(&self, bytes: u64) -> Result<Reservation<'_>, Refusal> {
        let until = Instant::now() + self.wait;
        let mut state = self.lock();
        if bytes > state.total {
            return Err(Refusal::TooLarge {
                bytes,
                total: state.total,
            });
        }
        while state.used + bytes > state.total {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Refusal::Busy);
            }
            state = self
                .freed
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        state.used += bytes;
        Ok(Reservation {
            budget: self,
            bytes,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut state = self.budget.lock();
        state.used = state.used.saturating_sub(self.bytes);
        drop(state);
        self.budget.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spent_budget_refuses_after_its_wait_and_too_much_at_once() {
        let budget = MemoryBudget::waiting(100, Duration::from_millis(20));
        let _first = budget.reserve(60).unwrap();
        assert_eq!(budget.used(), 60);
        assert_eq!(budget.reserve(50).err(), Some(Refusal::Busy));
        let too_much = Refusal::TooLarge {
            bytes: 101,
            total: 100,
        };
        assert_eq!(budget.reserve(101).err(), Some(too_much));
    }

    #[test]
    fn a_waiting_reservation_gets_the_room_given_back() {
        let budget = MemoryBudget::waiting(100, Duration::from_secs(5));
        let first = budget.reserve(60).unwrap();
        std::thread::scope(|scope| {
            let waiting = scope.spawn(|| budget.reserve(50).map(|held| held.bytes).ok());
            std::thread::sleep(Duration::from_millis(30));
            drop(first);
            assert_eq!(waiting.join().unwrap(), Some(50), "it got its room");
        });
        assert_eq!(budget.used(), 0);
    }
}
