//! Typed errors for decoding outside bytes and encoding into caller buffers.

/// Why bytes are not a valid message. Decoding never panics: every malformed input maps here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("message truncated: need {needed} bytes, have {available}")]
    Truncated { needed: usize, available: usize },
    #[error("unsupported schema version {found} (this build speaks {expected})")]
    UnsupportedVersion { found: u16, expected: u16 },
    #[error("unknown {kind} template id {template_id}")]
    UnknownTemplate {
        kind: &'static str,
        template_id: u16,
    },
    #[error("template {template_id} has body length {found}, expected {expected}")]
    BodyLength {
        template_id: u16,
        found: usize,
        expected: usize,
    },
    #[error("{extra} trailing bytes after a {template} message")]
    TrailingBytes {
        template: &'static str,
        extra: usize,
    },
    #[error("reserved bytes are not zero in {template}")]
    ReservedNotZero { template: &'static str },
    #[error("field {template}.{field}: {reason}")]
    InvalidField {
        template: &'static str,
        field: &'static str,
        reason: FieldError,
    },
}

/// Why one field's wire value is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("value {0} is not a valid enum value")]
    Enum(u16),
    #[error("bytes are not a valid symbol")]
    Symbol,
    #[error("reserved bytes are not zero")]
    Reserved,
}

/// Why a message could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("buffer too small: need {needed} bytes, have {available}")]
    BufferTooSmall { needed: usize, available: usize },
}
