//! FIX 4.4 tag=value: framing, parsing and building messages. Sans-IO: bytes in, bytes out.

mod decode;
mod digits;
mod encode;

pub(crate) use decode::parse_digits;
pub use decode::{Decoder, FIELDS_MAX, Frame, FrameError, Garbled, MESSAGE_SIZE_MAX, checksum};
pub(crate) use digits::{push_u64, push_u64_padded, write_fixed};
pub use encode::{EncodeError, Header, MessageBuilder};

/// The field delimiter.
pub const SOH: u8 = 0x01;
/// The only BeginString(8) spoken.
pub const BEGIN_STRING: &[u8] = b"FIX.4.4";

/// Tag numbers used by the session and application layers.
pub mod tag {
    pub const BEGIN_STRING: u32 = 8;
    pub const BODY_LENGTH: u32 = 9;
    pub const CHECK_SUM: u32 = 10;
    pub const MSG_SEQ_NUM: u32 = 34;
    pub const MSG_TYPE: u32 = 35;
    pub const POSS_DUP_FLAG: u32 = 43;
    pub const SENDER_COMP_ID: u32 = 49;
    pub const SENDING_TIME: u32 = 52;
    pub const TARGET_COMP_ID: u32 = 56;
    pub const ORIG_SENDING_TIME: u32 = 122;
}

#[cfg(test)]
mod tests;
