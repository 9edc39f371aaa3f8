//! Application messages sent, kept for resend requests: bounded, oldest dropped first (a
//! resend request for a dropped one is answered with a gap fill).

use std::collections::VecDeque;
use std::sync::Arc;

/// Messages `range` walks from the back before it falls back to a binary search.
const SCAN_FROM_BACK_MAX: usize = 16;

/// An application message as sent: its sequence number, and its whole bytes (the resend
/// rebuilds the header with PossDupFlag and OrigSendingTime from them). Shared, not copied,
/// with a compaction writing them out on the store's helper thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sent {
    pub(crate) seq: u64,
    pub(crate) bytes: Arc<[u8]>,
}

#[derive(Debug)]
pub(crate) struct SentStore {
    kept: VecDeque<Sent>,
    kept_max: usize,
}

impl SentStore {
    pub(crate) fn new(kept_max: usize) -> Self {
        Self {
            kept: VecDeque::with_capacity(kept_max.min(1024)),
            kept_max,
        }
    }

    pub(crate) fn push(&mut self, seq: u64, bytes: Arc<[u8]>) {
        debug_assert!(self.kept.back().is_none_or(|last| last.seq < seq));
        if self.kept.len() == self.kept_max {
            self.kept.pop_front();
        }
        self.kept.push_back(Sent { seq, bytes });
    }

    /// The messages kept with `begin <= seq <= end`, in order.
    pub(crate) fn range(&self, begin: u64, end: u64) -> impl Iterator<Item = &Sent> {
        // The store asks after every duty cycle for what is new since it last looked: usually
        // nothing or the last few, found from the back without a search.
        let newest = self.kept.iter().rev().take(SCAN_FROM_BACK_MAX);
        let start = match newest.take_while(|s| s.seq >= begin).count() {
            n if n < SCAN_FROM_BACK_MAX => self.kept.len() - n,
            _ => self.kept.partition_point(|s| s.seq < begin),
        };
        self.kept.range(start..).take_while(move |s| s.seq <= end)
    }

    /// The newest message kept, if any.
    pub(crate) fn last_seq(&self) -> Option<u64> {
        self.kept.back().map(|s| s.seq)
    }

    /// Forgets messages numbered `next_out` and above (the numbers were reset).
    pub(crate) fn forget_from(&mut self, next_out: u64) {
        while self.kept.back().is_some_and(|s| s.seq >= next_out) {
            self.kept.pop_back();
        }
    }

    pub(crate) fn clear(&mut self) {
        self.kept.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The scan from the back and the binary search agree with a plain filter.
        #[test]
        fn range_is_the_kept_messages_between_the_bounds(
            gaps in proptest::collection::vec(1u64..4, 0..80),
            kept_max in 1usize..60,
            begin in 0u64..250,
            len in 0u64..250,
        ) {
            let mut store = SentStore::new(kept_max);
            let mut seq = 0;
            for gap in gaps {
                seq += gap;
                store.push(seq, Arc::from([]));
            }
            let end = begin.saturating_add(len);
            let got: Vec<u64> = store.range(begin, end).map(|s| s.seq).collect();
            let want: Vec<u64> = store
                .kept
                .iter()
                .map(|s| s.seq)
                .filter(|&s| (begin..=end).contains(&s))
                .collect();
            prop_assert_eq!(got, want);
        }
    }
}
