//! The Lockstep wire schema: the commands and events every component exchanges.
//!
//! Every message is an 8-byte header (schema version, template id, body length) and a fixed-size,
//! little-endian body. Typed domain structs ([`NewOrder`], [`ExecutionReport`], ...) are what code
//! works with; each has a `zerocopy` wire twin generated from the same field list, so the schema
//! has one source of truth. Decoding outside bytes never panics: it returns a [`DecodeError`].
//! Reserved bytes are written as zero and refused when not zero; enum fields refuse unknown values
//! (zero is never a valid enum value).
//!
//! The byte layout of every message is documented in `docs/protocol.md`.

mod cluster;
mod command;
mod error;
mod event;
mod sequenced;
mod types;
pub mod wire;

pub use cluster::*;
pub use command::*;
pub use error::{DecodeError, EncodeError, FieldError};
pub use event::*;
pub use sequenced::Sequenced;
pub use types::*;
pub use wire::{HEADER_SIZE, SCHEMA_VERSION};

#[cfg(test)]
mod tests;

/// The largest message of either kind, header included: buffers sized by this fit any message.
pub const MESSAGE_SIZE_MAX: usize = if COMMAND_SIZE_MAX > EVENT_SIZE_MAX {
    COMMAND_SIZE_MAX
} else {
    EVENT_SIZE_MAX
};
const _: () = assert!(MESSAGE_SIZE_MAX <= u16::MAX as usize);
const _: () = assert!(MESSAGE_SIZE_MAX <= 256, "messages fit a small fixed buffer");
const _: () = assert!(SEQUENCED_FRAME_SIZE_MAX <= MESSAGE_SIZE_MAX + 24);
const _: () = assert!(EGRESS_FRAME_SIZE_MAX <= MESSAGE_SIZE_MAX + 32);
