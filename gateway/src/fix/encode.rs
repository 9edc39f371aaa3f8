//! Building FIX 4.4 messages: the standard header in the standard order, BodyLength and
//! CheckSum computed, into a reused buffer.

use super::decode::checksum;
use super::digits::push_u64;
use super::{BEGIN_STRING, SOH, tag};

/// The session fields every message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    pub sender_comp_id: &'a [u8],
    pub target_comp_id: &'a [u8],
    pub msg_seq_num: u64,
    /// UTCTimestamp, `YYYYMMDD-HH:MM:SS.sss`.
    pub sending_time: &'a [u8],
    /// A resend of a message sent before (PossDupFlag 43=Y, with OrigSendingTime).
    pub poss_dup: Option<&'a [u8]>,
}

/// Why a message could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("tag {0}: a value may not be empty or contain SOH")]
    BadValue(u32),
}

/// Builds one message at a time: [`MessageBuilder::start`], fields, [`MessageBuilder::finish`].
#[derive(Debug, Default)]
pub struct MessageBuilder {
    body: Vec<u8>,
    out: Vec<u8>,
}

impl MessageBuilder {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a message of type `msg_type` (MsgType 35) with `header`.
    pub fn start(
        &mut self,
        msg_type: &[u8],
        header: &Header<'_>,
    ) -> Result<&mut Self, EncodeError> {
        self.body.clear();
        self.field(tag::MSG_TYPE, msg_type)?;
        self.field(tag::SENDER_COMP_ID, header.sender_comp_id)?;
        self.field(tag::TARGET_COMP_ID, header.target_comp_id)?;
        self.field_u64(tag::MSG_SEQ_NUM, header.msg_seq_num);
        if let Some(original) = header.poss_dup {
            self.field(tag::POSS_DUP_FLAG, b"Y")?;
            self.field(tag::SENDING_TIME, header.sending_time)?;
            self.field(tag::ORIG_SENDING_TIME, original)?;
        } else {
            self.field(tag::SENDING_TIME, header.sending_time)?;
        }
        Ok(self)
    }

    /// Appends `tag=value`.
    pub fn field(&mut self, tag: u32, value: &[u8]) -> Result<&mut Self, EncodeError> {
        if value.is_empty() || value.contains(&SOH) {
            return Err(EncodeError::BadValue(tag));
        }
        push_u64(&mut self.body, u64::from(tag));
        self.body.push(b'=');
        self.body.extend_from_slice(value);
        self.body.push(SOH);
        Ok(self)
    }

    /// Appends `tag=<decimal>`.
    pub fn field_u64(&mut self, tag: u32, value: u64) -> &mut Self {
        push_u64(&mut self.body, u64::from(tag));
        self.body.push(b'=');
        push_u64(&mut self.body, value);
        self.body.push(SOH);
        self
    }

    /// Frames the message (BeginString, BodyLength, CheckSum) and returns its bytes.
    pub fn finish(&mut self) -> &[u8] {
        self.out.clear();
        self.out.extend_from_slice(b"8=");
        self.out.extend_from_slice(BEGIN_STRING);
        self.out.push(SOH);
        self.out.extend_from_slice(b"9=");
        push_u64(&mut self.out, self.body.len() as u64);
        self.out.push(SOH);
        self.out.extend_from_slice(&self.body);
        let sum = checksum(&self.out);
        let mut digits = [0u8; 3];
        super::digits::write_fixed::<3>(&mut digits, u64::from(sum));
        self.out.extend_from_slice(b"10=");
        self.out.extend_from_slice(&digits);
        self.out.push(SOH);
        &self.out
    }
}
