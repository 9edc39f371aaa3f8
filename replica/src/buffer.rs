//! The bounded buffer of events that consumers have not acknowledged yet.

use std::collections::VecDeque;

use protocol::{EgressPrefix, Event, Seq, Term};

/// Events of recent commands, oldest first, trimmed by consumer acknowledgements; events of
/// commands already acknowledged are not kept at all (a restarted engine catching up hears acks
/// for seqs it has yet to apply: re-publishing those on a promotion would only delay the first
/// new event). When full, the oldest are dropped and counted: a failover can then no longer
/// re-publish them, which [`EventBuffer::dropped`] makes visible.
#[derive(Debug)]
pub struct EventBuffer {
    events: VecDeque<(EgressPrefix, Event)>,
    events_max: usize,
    dropped: u64,
    /// Consumers have every event of the commands up to this one.
    acked: Seq,
}

impl EventBuffer {
    /// An empty buffer holding at most `events_max` events.
    #[must_use]
    pub fn new(events_max: usize) -> Self {
        assert!(events_max > 0, "an event buffer needs room");
        Self {
            events: VecDeque::with_capacity(events_max),
            events_max,
            dropped: 0,
            acked: Seq(0),
        }
    }

    /// Keeps an event, unless consumers acknowledged its command already.
    pub fn push(&mut self, prefix: EgressPrefix, event: Event) {
        if prefix.seq <= self.acked {
            return;
        }
        if self.events.len() == self.events_max {
            self.events.pop_front();
            self.dropped += 1;
        }
        self.events.push_back((prefix, event));
    }

    /// Forgets every event of commands up to `seq`: consumers have them.
    pub fn acknowledge(&mut self, seq: Seq) {
        self.acked = self.acked.max(seq);
        while self
            .events
            .front()
            .is_some_and(|(prefix, _)| prefix.seq <= seq)
        {
            self.events.pop_front();
        }
    }

    /// The buffered events, oldest first, re-stamped with `term`.
    pub fn restamped(&self, term: Term) -> impl Iterator<Item = (EgressPrefix, Event)> + '_ {
        self.events
            .iter()
            .map(move |&(prefix, event)| (EgressPrefix { term, ..prefix }, event))
    }

    /// Events buffered now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether nothing is buffered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Events dropped unacknowledged because the buffer was full.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}
