//! The hybrid logical clock stamp carried by every command and event.
//!
//! The stamp is data only: the clock that issues it lives in the gateway. `time` is an
//! NTP64 value as uhlc produces it (seconds since the Unix epoch in the high 32 bits,
//! the binary fraction in the low 32), and `node` breaks ties between stamps issued by
//! different nodes in the same instant.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    bincode::Encode,
    bincode::Decode,
)]
pub struct Hlc {
    pub time: u64,
    pub node: u64,
}

impl Hlc {
    pub fn new(time: u64, node: u64) -> Self {
        Self { time, node }
    }

    /// Nanoseconds since the Unix epoch, as far as the physical part of the stamp says.
    pub fn unix_nanos(self) -> u128 {
        let secs = u128::from(self.time >> 32);
        let frac = u128::from(self.time & 0xffff_ffff);
        secs * 1_000_000_000 + ((frac * 1_000_000_000) >> 32)
    }

    /// Milliseconds since the Unix epoch (physical part).
    pub fn unix_millis(self) -> i64 {
        i64::try_from(self.unix_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }

    /// The physical part as a UTC date-time.
    pub fn to_datetime(self) -> time::OffsetDateTime {
        let nanos = i128::try_from(self.unix_nanos()).unwrap_or(i128::MAX);
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    }

    /// RFC 3339 with millisecond precision, as S3 records render times.
    pub fn to_rfc3339(self) -> String {
        let dt = self.to_datetime();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.millisecond()
        )
    }

    /// A fixed-width hex rendering whose string order equals the stamp order; serves as
    /// the S3 notification `sequencer`.
    pub fn sequencer(self) -> String {
        format!("{:016X}{:016X}", self.time, self.node)
    }

    /// Builds a stamp from a Unix time in nanoseconds (used by tests and importers).
    pub fn from_unix_nanos(nanos: u128, node: u64) -> Self {
        let secs = (nanos / 1_000_000_000) as u64;
        let rem = nanos % 1_000_000_000;
        // Round up so that `unix_nanos` (which rounds down) gives back the same value.
        let frac = ((rem << 32).div_ceil(1_000_000_000)) as u64;
        Self { time: (secs << 32) | frac, node }
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{:x}", self.to_rfc3339(), self.node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rfc3339() {
        let stamp = Hlc::from_unix_nanos(1_700_000_000_123_000_000, 7);
        assert_eq!(stamp.to_rfc3339(), "2023-11-14T22:13:20.123Z");
        assert_eq!(stamp.unix_millis(), 1_700_000_000_123);
    }

    #[test]
    fn sequencer_orders_like_the_stamp() {
        let a = Hlc::new(10, 2);
        let b = Hlc::new(11, 1);
        assert!(a < b);
        assert!(a.sequencer() < b.sequencer());
        assert_eq!(a.sequencer().len(), 32);
    }
}
