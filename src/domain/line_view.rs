//! The line as an event stream sees it without asking the room: where its front is and which
//! tokens left from inside it, so each stream works out its own fan's position.

use super::sale::DrawnPlaces;
use std::sync::Arc;

/// A picture of the line the room publishes whenever its front moves or a waiting token leaves.
/// Every token from `front` up that is not a gap waits, in issue order.
#[derive(Debug, Clone, PartialEq)]
pub struct LineView {
    /// The first waiting token's sequence number; the next to be issued when nobody waits.
    pub front: u64,
    /// Tokens at or after `front` that ended while waiting, ascending.
    pub gaps: Arc<[u64]>,
    /// The seconds between admissions the room observes, for estimated waits.
    pub seconds_per_admission: f64,
    /// False when more tokens left from inside the line than a view carries (a churn of
    /// throwaway fans joining and leaving): then only the room can place a token.
    pub complete: bool,
    /// In a sale's room after its draw: where the draw placed the pre-queued tokens.
    pub drawn: Option<DrawnPlaces>,
}

/// The most gaps a view carries: each view is a copy of them, made up to five times a second.
pub const GAPS_IN_A_VIEW_MAX: usize = 65_536;

/// Where a token stands in a view of the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceInLine {
    Waiting {
        position: u64,
        estimated_wait_seconds: u64,
    },
    /// No longer in the line: admitted, or ended while waiting. Only the room can say which.
    Out,
    /// The view is incomplete: only the room can say.
    Unknown,
}

impl LineView {
    /// The view of an empty line whose next token is numbered `front`.
    pub fn empty(front: u64, seconds_per_admission: f64) -> Self {
        Self {
            front,
            gaps: Arc::from([]),
            seconds_per_admission,
            complete: true,
            drawn: None,
        }
    }

    /// Where the token numbered `seq`, issued before this view was taken, stands.
    pub fn place(&self, seq: u64) -> PlaceInLine {
        let seq = self.drawn.as_ref().map_or(seq, |drawn| drawn.place_of(seq));
        if !self.complete {
            return PlaceInLine::Unknown;
        }
        if seq < self.front || self.gaps.binary_search(&seq).is_ok() {
            return PlaceInLine::Out;
        }
        let gaps_ahead = self.gaps.partition_point(|gap| *gap < seq) as u64;
        let position = seq - self.front - gaps_ahead + 1;
        PlaceInLine::Waiting {
            position,
            estimated_wait_seconds: (position as f64 * self.seconds_per_admission).ceil() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_counts_the_waiting_tokens_ahead_and_skips_the_gaps() {
        let view = LineView {
            front: 10,
            gaps: Arc::from([11, 13]),
            seconds_per_admission: 2.0,
            complete: true,
            drawn: None,
        };
        let waiting = |position, wait| PlaceInLine::Waiting {
            position,
            estimated_wait_seconds: wait,
        };
        assert_eq!(view.place(10), waiting(1, 2));
        assert_eq!(view.place(12), waiting(2, 4));
        assert_eq!(view.place(14), waiting(3, 6));
        assert_eq!(view.place(9), PlaceInLine::Out, "admitted or ended before the front");
        assert_eq!(view.place(13), PlaceInLine::Out, "ended while waiting");
        let incomplete = LineView {
            complete: false,
            ..view
        };
        assert_eq!(incomplete.place(10), PlaceInLine::Unknown);
    }
}
