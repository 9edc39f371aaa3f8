//! Cluster framing and control: how sequenced commands and engine events travel between
//! processes, and what replicas tell the sequencer. Template ids 200..=249.
//!
//! - The sequenced stream carries [`Sequenced`] frames: a [`SequencedPrefix`] message (sequence
//!   number, timestamp) immediately followed by the command message.
//! - The egress stream carries [`EgressPrefix`] messages each followed by one event message.
//! - Replicas send [`ReplicaStatus`] heartbeats to the sequencer on the control stream.
//! - Consumers send [`EgressAck`]s to the replicas, so a promoted backup knows what to re-publish.

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
    /// checkpoint (the hash after applying `hash_seq`).
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

message_enum!(
    /// A message of the cluster's own: framing prefixes and control.
    ClusterMessage, kind = "cluster message", {
        SequencedPrefix(SequencedPrefix / SequencedPrefixWire),
        EgressPrefix(EgressPrefix / EgressPrefixWire),
        ReplicaStatus(ReplicaStatus / ReplicaStatusWire),
        EgressAck(EgressAck / EgressAckWire),
    }
);

/// Bytes of the largest sequenced frame.
pub const SEQUENCED_FRAME_SIZE_MAX: usize =
    crate::wire::HEADER_SIZE + SequencedPrefix::BODY_SIZE + crate::command::COMMAND_SIZE_MAX;

/// Bytes of the largest egress frame.
pub const EGRESS_FRAME_SIZE_MAX: usize =
    crate::wire::HEADER_SIZE + EgressPrefix::BODY_SIZE + crate::event::EVENT_SIZE_MAX;

impl Sequenced {
    /// Encodes the frame (prefix, then command) into the front of `buf`.
    pub fn encode_into(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let prefix = ClusterMessage::SequencedPrefix(SequencedPrefix {
            seq: self.seq,
            timestamp: self.timestamp,
        });
        let n = prefix.encode_into(buf)?;
        let m = self
            .command
            .encode_into(&mut buf[n..])
            .map_err(|e| match e {
                EncodeError::BufferTooSmall { needed, .. } => EncodeError::BufferTooSmall {
                    needed: n + needed,
                    available: buf.len(),
                },
            })?;
        Ok(n + m)
    }

    /// Decodes exactly one frame.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (prefix, used) = ClusterMessage::decode_prefix(bytes)?;
        let ClusterMessage::SequencedPrefix(prefix) = prefix else {
            return Err(DecodeError::UnknownTemplate {
                kind: "sequenced prefix",
                template_id: prefix.template_id(),
            });
        };
        let command = Command::decode(&bytes[used..])?;
        Ok(Self {
            seq: prefix.seq,
            timestamp: prefix.timestamp,
            command,
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
        let n = ClusterMessage::EgressPrefix(self.prefix).encode_into(buf)?;
        let m = self.event.encode_into(&mut buf[n..]).map_err(|e| match e {
            EncodeError::BufferTooSmall { needed, .. } => EncodeError::BufferTooSmall {
                needed: n + needed,
                available: buf.len(),
            },
        })?;
        Ok(n + m)
    }

    /// Decodes exactly one frame.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (prefix, used) = ClusterMessage::decode_prefix(bytes)?;
        let ClusterMessage::EgressPrefix(prefix) = prefix else {
            return Err(DecodeError::UnknownTemplate {
                kind: "egress prefix",
                template_id: prefix.template_id(),
            });
        };
        Ok(Self {
            prefix,
            event: Event::decode(&bytes[used..])?,
        })
    }
}
