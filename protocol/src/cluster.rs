//! Cluster framing and control: how sequenced commands and engine events travel between
//! processes, and what replicas tell the sequencer. Template ids 200..=249.
//!
//! - The sequenced stream carries [`Sequenced`] frames: a [`SequencedPrefix`] message (sequence
//!   number, timestamp) immediately followed by the command message.
//! - The egress stream carries [`EgressPrefix`] messages each followed by one event message.
//! - Replicas send [`ReplicaStatus`] heartbeats to the sequencer on the control stream.
//! - Consumers send [`EgressAck`]s to the replicas, so a promoted backup knows what to re-publish.
//! - A consumer restarted from its own store sends an [`EgressReplay`]; the primary answers on
//!   the egress stream with an [`EgressReplayStart`] and the buffered events after the point.
//! - The auditor, replaying the journal, sends [`ReferenceHash`]es to the replicas (on the same
//!   stream as the acks): a replica whose checkpoint disagrees stops serving.

use crate::command::Command;
use crate::error::{DecodeError, EncodeError};
use crate::event::Event;
use crate::sequenced::Sequenced;
use crate::types::{NodeId, ReplicaRole, Seq, StateDigest, Term, TimestampNs};
use crate::wire::{message_enum, wire_message};

wire_message!(
    /// Front of a sequenced frame: a command message follows.
    SequencedPrefix / SequencedPrefixWire, template = 200, size = 16, reserved = 0, {
        seq: Seq,
        timestamp: TimestampNs,
    }
);

wire_message!(
    /// Front of an egress frame: one event message follows.
    EgressPrefix / EgressPrefixWire, template = 201, size = 24, reserved = 0, {
        /// The term of the primary that published the event; consumers ignore older terms.
        term: Term,
        /// The command that caused the event.
        seq: Seq,
        /// The event's position among the command's events, from 0.
        index: u32,
        /// How many events the command caused.
        count: u32,
    }
);

wire_message!(
    /// A replica's heartbeat: where it is, in which role and term, and its latest state hash
    /// checkpoint (the hash after applying `hash_seq`). A replica in role `Diverged` reports the
    /// checkpoint that disagreed with the reference instead, so `hash_seq` says where it diverged.
    ReplicaStatus / ReplicaStatusWire, template = 202, size = 56, reserved = 3, {
        term: Term,
        applied_seq: Seq,
        hash_seq: Seq,
        state_hash: StateDigest,
        /// The replica's last events acknowledged by every consumer (see the cluster docs).
        acked_seq: Seq,
        node: NodeId,
        role: ReplicaRole,
    }
);

wire_message!(
    /// A consumer of the egress stream (a gateway) has every event of the commands up to `seq`.
    /// Replicas forget buffered events once every consumer has acknowledged them.
    EgressAck / EgressAckWire, template = 203, size = 16, reserved = 4, {
        seq: Seq,
        consumer: u32,
    }
);

wire_message!(
    /// The state hash after `seq` as the auditor computed it, replaying the journal (the truth).
    /// A replica whose checkpoint at `seq` differs has diverged and stops serving.
    ReferenceHash / ReferenceHashWire, template = 204, size = 24, reserved = 0, {
        seq: Seq,
        state_hash: StateDigest,
    }
);

wire_message!(
    /// A consumer (a gateway restarted from its store) asks the primary to publish again every
    /// buffered event of the commands after `after`: it may have lost what was in flight.
    EgressReplay / EgressReplayWire, template = 205, size = 16, reserved = 4, {
        after: Seq,
        consumer: u32,
    }
);

wire_message!(
    /// On the egress stream, the primary's answer to an [`EgressReplay`]: the buffered events
    /// after `after` follow (re-stamped with `term`), then the live ones. A consumer waiting
    /// for its replay takes no event before this.
    EgressReplayStart / EgressReplayStartWire, template = 206, size = 24, reserved = 4, {
        term: Term,
        after: Seq,
        consumer: u32,
    }
);

message_enum!(
    /// A message of the cluster's own: framing prefixes and control.
    ClusterMessage, kind = "cluster message", {
        SequencedPrefix(SequencedPrefix / SequencedPrefixWire),
        EgressPrefix(EgressPrefix / EgressPrefixWire),
        ReplicaStatus(ReplicaStatus / ReplicaStatusWire),
        EgressAck(EgressAck / EgressAckWire),
        ReferenceHash(ReferenceHash / ReferenceHashWire),
        EgressReplay(EgressReplay / EgressReplayWire),
        EgressReplayStart(EgressReplayStart / EgressReplayStartWire),
    }
);

/// Bytes of the largest sequenced frame.
pub const SEQUENCED_FRAME_SIZE_MAX: usize =
    crate::wire::HEADER_SIZE + SequencedPrefix::BODY_SIZE + crate::command::COMMAND_SIZE_MAX;

/// Bytes of the largest egress frame.
pub const EGRESS_FRAME_SIZE_MAX: usize =
    crate::wire::HEADER_SIZE + EgressPrefix::BODY_SIZE + crate::event::EVENT_SIZE_MAX;

/// Encodes a two-message frame: `prefix`, then whatever `body` writes after it.
fn encode_frame(
    prefix: ClusterMessage,
    buf: &mut [u8],
    body: impl FnOnce(&mut [u8]) -> Result<usize, EncodeError>,
) -> Result<usize, EncodeError> {
    let n = prefix.encode_into(buf)?;
    let m = body(&mut buf[n..]).map_err(|EncodeError::BufferTooSmall { needed, .. }| {
        EncodeError::BufferTooSmall {
            needed: n + needed,
            available: buf.len(),
        }
    })?;
    Ok(n + m)
}

/// Decodes the prefix of a two-message frame, returning it and the rest of the bytes.
fn decode_frame<'a>(
    bytes: &'a [u8],
    kind: &'static str,
    template_id: u16,
) -> Result<(ClusterMessage, &'a [u8]), DecodeError> {
    let (prefix, used) = ClusterMessage::decode_prefix(bytes)?;
    if prefix.template_id() != template_id {
        return Err(DecodeError::UnknownTemplate {
            kind,
            template_id: prefix.template_id(),
        });
    }
    Ok((prefix, &bytes[used..]))
}

impl Sequenced {
    /// Encodes the frame (prefix, then command) into the front of `buf`.
    pub fn encode_into(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let prefix = SequencedPrefix {
            seq: self.seq,
            timestamp: self.timestamp,
        };
        encode_frame(ClusterMessage::SequencedPrefix(prefix), buf, |rest| {
            self.command.encode_into(rest)
        })
    }

    /// Decodes exactly one frame.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (prefix, rest) = decode_frame(bytes, "sequenced prefix", SequencedPrefix::TEMPLATE_ID)?;
        let ClusterMessage::SequencedPrefix(prefix) = prefix else {
            unreachable!("checked")
        };
        Ok(Self {
            seq: prefix.seq,
            timestamp: prefix.timestamp,
            command: Command::decode(rest)?,
        })
    }
}

/// An event as the primary publishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EgressEvent {
    /// Where the event stands in the output stream.
    pub prefix: EgressPrefix,
    /// The event.
    pub event: Event,
}

impl EgressEvent {
    /// Encodes the frame (prefix, then event) into the front of `buf`.
    pub fn encode_into(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        encode_frame(ClusterMessage::EgressPrefix(self.prefix), buf, |rest| {
            self.event.encode_into(rest)
        })
    }

    /// Decodes exactly one frame.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (prefix, rest) = decode_frame(bytes, "egress prefix", EgressPrefix::TEMPLATE_ID)?;
        let ClusterMessage::EgressPrefix(prefix) = prefix else {
            unreachable!("checked")
        };
        Ok(Self {
            prefix,
            event: Event::decode(rest)?,
        })
    }
}

/// A consumer's position in the egress stream, and the rule every consumer applies: frames of
/// a term older than the newest seen are stale (a deposed primary), and a `(seq, index)` at or
/// before the last one delivered is a duplicate (a promoted backup re-publishing). What passes
/// is every event exactly once, in order, across failovers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EgressCursor {
    term: Term,
    /// The last event delivered: its command, index and the command's event count.
    last: Option<(Seq, u32, u32)>,
}

impl EgressCursor {
    /// Whether the event behind `prefix` is new: if so, the cursor moves past it.
    pub fn accept(&mut self, prefix: &EgressPrefix) -> bool {
        if prefix.term < self.term {
            return false;
        }
        self.term = prefix.term;
        let key = (prefix.seq, prefix.index);
        if self.last.is_some_and(|(seq, index, _)| key <= (seq, index)) {
            return false;
        }
        self.last = Some((prefix.seq, prefix.index, prefix.count));
        true
    }

    /// Whether taking the event behind `prefix` would skip events of a command: events lost on
    /// the way. A primary publishes each command's events in order, index 0 first, and a
    /// promoted backup or a replay re-publishes whole commands, so a new event either follows
    /// the last one in its command or starts a command after a complete one. Commands with no
    /// events leave gaps in seq that are not losses. Nothing is skipped before the first event
    /// taken (a consumer may join mid-command), nor by a stale or repeated event.
    #[must_use]
    pub fn skips(&self, prefix: &EgressPrefix) -> bool {
        let Some((seq, index, count)) = self.last else {
            return false;
        };
        if prefix.term < self.term || (prefix.seq, prefix.index) <= (seq, index) {
            return false;
        }
        if prefix.seq == seq {
            prefix.index > index + 1
        } else {
            index + 1 < count || prefix.index != 0
        }
    }

    /// A cursor resumed from [`EgressCursor::parts`] (a consumer's persisted position).
    #[must_use]
    pub fn resume(term: Term, last: Option<(Seq, u32, u32)>) -> Self {
        Self { term, last }
    }

    /// The term and the last event taken (command, index, the command's event count).
    #[must_use]
    pub fn parts(&self) -> (Term, Option<(Seq, u32, u32)>) {
        (self.term, self.last)
    }

    /// The last command whose events are all delivered: what the consumer acknowledges.
    #[must_use]
    pub fn complete_through(&self) -> Seq {
        match self.last {
            None => Seq(0),
            Some((seq, index, count)) if index + 1 >= count => seq,
            Some((seq, _, _)) => Seq(seq.0.saturating_sub(1)),
        }
    }
}
