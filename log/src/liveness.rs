//! Whether each peer is alive, as seen from this node: every node pings every member once
//! a second, and a phi-accrual detector over the last 100 answers turns the silence since
//! the last one into a suspicion level (phi: how many tens of improbability the silence
//! is, given the intervals seen so far). Raft keeps its own, faster timers; this is what
//! `rucket cluster status` shows, and what placement's down-out timer will build on.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::NodeId;

/// How often a node pings each member.
pub const PING_EVERY: Duration = Duration::from_secs(1);
/// Answers kept per peer.
const WINDOW: usize = 100;
/// A peer whose silence reaches this phi is suspected.
pub const SUSPECT_PHI: f64 = 8.0;
/// A peer silent this long (or never heard from) is down.
pub const DOWN_AFTER: Duration = Duration::from_secs(5);
/// The least spread assumed between answers: with a steady ping the measured spread is
/// near zero, and a busy machine's scheduling jitter would otherwise read as a failure.
const MIN_SPREAD: Duration = Duration::from_millis(250);

/// A peer's state as `rucket cluster status` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerState {
    Up,
    /// Answers are late beyond what the intervals so far make likely (phi ≥ 8).
    Suspect,
    /// No answer for [`DOWN_AFTER`], or none yet.
    Down,
}

impl PeerState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Suspect => "suspect",
            Self::Down => "down",
        }
    }
}

/// The answers of one peer.
#[derive(Debug, Default)]
struct Arrivals {
    intervals: VecDeque<f64>,
    last: Option<Instant>,
}

impl Arrivals {
    fn record(&mut self, at: Instant) {
        if let Some(last) = self.last {
            let interval = at.saturating_duration_since(last);
            if interval >= DOWN_AFTER {
                // Back from down: the outage is not an interval between answers (it would
                // widen the spread so much that the next failure is never suspected).
                self.intervals.clear();
            } else {
                if self.intervals.len() == WINDOW {
                    self.intervals.pop_front();
                }
                self.intervals.push_back(interval.as_secs_f64());
            }
        }
        self.last = Some(at);
    }

    /// The suspicion level of the silence since the last answer, under a normal
    /// distribution of the intervals seen (the first ping's interval assumed until there
    /// are some), with the logistic approximation of its tail.
    fn phi(&self, now: Instant) -> f64 {
        let Some(last) = self.last else { return f64::INFINITY };
        let n = self.intervals.len() as f64;
        let (mean, spread) = if self.intervals.is_empty() {
            (PING_EVERY.as_secs_f64(), MIN_SPREAD.as_secs_f64())
        } else {
            let mean = self.intervals.iter().sum::<f64>() / n;
            let variance = self.intervals.iter().map(|i| (i - mean).powi(2)).sum::<f64>() / n;
            (mean, variance.sqrt().max(MIN_SPREAD.as_secs_f64()))
        };
        let silence = now.saturating_duration_since(last).as_secs_f64();
        let y = (silence - mean) / spread;
        let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
        // P(an answer comes later than this) = e / (1 + e) past the mean.
        let later = if silence > mean { e / (1.0 + e) } else { 1.0 - 1.0 / (1.0 + e) };
        -later.max(f64::MIN_POSITIVE).log10()
    }

    fn state(&self, now: Instant) -> PeerState {
        match self.last {
            None => PeerState::Down,
            Some(last) if now.saturating_duration_since(last) >= DOWN_AFTER => PeerState::Down,
            Some(_) if self.phi(now) >= SUSPECT_PHI => PeerState::Suspect,
            Some(_) => PeerState::Up,
        }
    }
}

/// What this node has heard from each peer.
#[derive(Debug, Default)]
pub struct Liveness {
    peers: Mutex<BTreeMap<NodeId, Arrivals>>,
}

impl Liveness {
    /// A peer answered a ping at `at`.
    pub fn record(&self, peer: NodeId, at: Instant) {
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).entry(peer).or_default().record(at);
    }

    /// The peer's state and phi at `now`.
    pub fn state(&self, peer: NodeId, now: Instant) -> (PeerState, f64) {
        let peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        match peers.get(&peer) {
            Some(arrivals) => (arrivals.state(now), arrivals.phi(now)),
            None => (PeerState::Down, f64::INFINITY),
        }
    }

    /// Forgets peers that are no longer members.
    pub fn retain(&self, members: impl Fn(NodeId) -> bool) {
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).retain(|id, _| members(*id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(start: Instant, seconds: f64) -> Instant {
        start + Duration::from_secs_f64(seconds)
    }

    #[test]
    fn a_steady_peer_is_up_then_suspected_then_down_as_its_silence_grows() {
        let liveness = Liveness::default();
        let start = Instant::now();
        assert_eq!(liveness.state(7, start).0, PeerState::Down, "never heard from");
        for i in 0..20 {
            liveness.record(7, after(start, i as f64));
        }
        let last = 19.0;
        let (state, phi) = liveness.state(7, after(start, last + 1.1));
        assert_eq!(state, PeerState::Up, "a ping a little late: phi {phi}");
        let (state, phi) = liveness.state(7, after(start, last + 3.0));
        assert_eq!(state, PeerState::Suspect, "three seconds of silence: phi {phi}");
        assert!(phi >= SUSPECT_PHI);
        assert_eq!(liveness.state(7, after(start, last + 5.0)).0, PeerState::Down);
        // It answers again: up at once, and the outage does not make the next failure any
        // less suspicious.
        liveness.record(7, after(start, last + 30.0));
        assert_eq!(liveness.state(7, after(start, last + 30.5)).0, PeerState::Up);
        for i in 1..5 {
            liveness.record(7, after(start, last + 30.0 + i as f64));
        }
        assert_eq!(liveness.state(7, after(start, last + 34.0 + 3.0)).0, PeerState::Suspect);
    }

    #[test]
    fn phi_grows_with_silence_and_with_steadiness() {
        let start = Instant::now();
        let mut steady = Arrivals::default();
        let mut jittery = Arrivals::default();
        let mut t = 0.0;
        for i in 0..100 {
            steady.record(after(start, i as f64));
            t += if i % 2 == 0 { 0.4 } else { 1.6 };
            jittery.record(after(start, t));
        }
        let at = |a: &Arrivals, silence: f64| a.phi(a.last.unwrap() + Duration::from_secs_f64(silence));
        assert!(at(&steady, 1.0) < at(&steady, 2.0) && at(&steady, 2.0) < at(&steady, 4.0));
        assert!(at(&jittery, 2.5) < at(&steady, 2.5), "a peer that has been irregular is suspected later");
        assert!(at(&steady, 0.5) < 1.0, "an answer not yet due is no suspicion");
    }

    #[test]
    fn peers_that_left_are_forgotten() {
        let liveness = Liveness::default();
        liveness.record(2, Instant::now());
        liveness.record(3, Instant::now());
        liveness.retain(|id| id != 3);
        assert_eq!(liveness.state(3, Instant::now()).0, PeerState::Down);
        assert_eq!(liveness.state(2, Instant::now()).0, PeerState::Up);
    }
}
