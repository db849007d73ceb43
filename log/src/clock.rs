//! The node's hybrid logical clock. The proposer's side stamps every command before it
//! is proposed; apply and fold never read a clock, they use the stamp the command carries.

use std::time::Duration;

use rucket_schemas::Hlc;

pub struct Clock {
    hlc: uhlc::HLC,
    node: u64,
    /// The newest stamp already in the log: new stamps never go below it, even when the
    /// wall clock stepped back across a restart.
    floor: std::sync::atomic::AtomicU64,
}

/// Remote stamps further ahead than this are refused for new commands.
pub const MAX_DRIFT: Duration = Duration::from_millis(500);

impl Clock {
    pub fn new(node: u64) -> Self {
        let id = uhlc::ID::try_from(node.max(1)).expect("a non-zero u64 is a valid HLC id");
        Self {
            hlc: uhlc::HLCBuilder::new().with_id(id).with_max_delta(MAX_DRIFT).build(),
            node,
            floor: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn now(&self) -> Hlc {
        let time = self.hlc.new_timestamp().get_time().as_u64();
        let floor = self.floor.load(std::sync::atomic::Ordering::Relaxed);
        // uhlc keeps the low 4 bits as a logical counter: stepping past the floor by 16
        // moves to the next instant it could have issued.
        Hlc::new(time.max(floor.saturating_add(16)), self.node)
    }

    /// Never issue a stamp at or below `stamp` (the newest in the log), whatever the wall
    /// clock says.
    pub fn set_floor(&self, stamp: Hlc) {
        self.floor.fetch_max(stamp.time, std::sync::atomic::Ordering::Relaxed);
    }

    /// Moves the clock past a stamp already in the log (after a restart), so new stamps
    /// never go backwards. Refuses stamps too far in the future.
    pub fn observe(&self, stamp: Hlc) -> Result<(), String> {
        let id = *self.hlc.get_id();
        let ts = uhlc::Timestamp::new(uhlc::NTP64(stamp.time), id);
        self.hlc.update_with_timestamp(&ts).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_monotonic_and_pass_observed_ones() {
        let clock = Clock::new(1);
        let a = clock.now();
        let b = clock.now();
        assert!(b > a);
        let past = Hlc::new(a.time.saturating_sub(1 << 32), 1);
        clock.observe(past).unwrap();
        assert!(clock.now() > b);
        let far = Hlc::new(a.time + (3600u64 << 32), 1);
        assert!(clock.observe(far).is_err(), "an hour ahead is refused");
        // After a restart with a clock that stepped back, the floor keeps stamps rising.
        clock.set_floor(far);
        assert!(clock.now() > far);
    }
}
