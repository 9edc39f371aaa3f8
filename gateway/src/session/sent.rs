//! Application messages sent, kept for resend requests: bounded, oldest dropped first (a
//! resend request for a dropped one is answered with a gap fill).

use std::collections::VecDeque;

/// An application message as sent: its sequence number, and its whole bytes (the resend
/// rebuilds the header with PossDupFlag and OrigSendingTime from them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sent {
    pub(crate) seq: u64,
    pub(crate) bytes: Vec<u8>,
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

    pub(crate) fn push(&mut self, seq: u64, bytes: Vec<u8>) {
        debug_assert!(self.kept.back().is_none_or(|last| last.seq < seq));
        if self.kept.len() == self.kept_max {
            self.kept.pop_front();
        }
        self.kept.push_back(Sent { seq, bytes });
    }

    /// The messages kept with `begin <= seq <= end`, in order.
    pub(crate) fn range(&self, begin: u64, end: u64) -> impl Iterator<Item = &Sent> {
        let start = self.kept.partition_point(|s| s.seq < begin);
        self.kept.range(start..).take_while(move |s| s.seq <= end)
    }

    pub(crate) fn clear(&mut self) {
        self.kept.clear();
    }
}
