//! The wire layer: fixed-layout little-endian structs (via `zerocopy`), the message header, and
//! the [`WireField`] conversions between typed domain values and their wire representation.
//!
//! Every message is an 8-byte [`MessageHeader`] followed by a fixed-size body. All integers are
//! little-endian and unaligned, so a message can be read in place from any buffer.

use zerocopy::little_endian::{I64, U16, U32, U64, U128};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::error::FieldError;
use crate::types::{
    AccountId, CancelRejectTo, ClientOrderId, ExecType, InstrumentId, MassCancelScope, NodeId,
    OrderId, OrderStatus, OrderType, PostOnly, Price, Qty, RejectReason, ReplicaRole, RequestId,
    Seq, SessionId, Side, StateDigest, StpMode, Symbol, Term, TimeInForce, TimestampNs, TradeId,
};

/// The schema version this build speaks. Bumped on any layout change; decoders refuse others.
pub const SCHEMA_VERSION: u16 = 1;

/// The header in front of every message.
///
/// ```text
///  0       2       4       6       8
///  +-------+-------+-------+-------+
///  |version|templ. | body  |reserv.|
///  +-------+-------+-------+-------+
/// ```
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct MessageHeader {
    /// [`SCHEMA_VERSION`].
    pub schema_version: U16,
    /// Which message follows (see [`crate::Command`] and [`crate::Event`] template ids).
    pub template_id: U16,
    /// Bytes of body after this header.
    pub body_len: U16,
    /// Zero.
    pub reserved: [u8; 2],
}

/// Bytes in a [`MessageHeader`].
pub const HEADER_SIZE: usize = size_of::<MessageHeader>();
const _: () = assert!(HEADER_SIZE == 8);

/// A typed value with a fixed wire representation.
pub trait WireField: Sized {
    /// The little-endian, unaligned wire form.
    type Wire: FromBytes + IntoBytes + KnownLayout + Immutable + Unaligned + Copy;
    /// The wire form of this value.
    fn to_wire(&self) -> Self::Wire;
    /// The value of a wire form, or why it is invalid.
    fn from_wire(wire: &Self::Wire) -> Result<Self, FieldError>;
}

macro_rules! int_field {
    ($($name:ident($inner:ty) => $wire:ty),+ $(,)?) => {$(
        impl WireField for $name {
            type Wire = $wire;
            fn to_wire(&self) -> $wire {
                <$wire>::new(self.0)
            }
            fn from_wire(wire: &$wire) -> Result<Self, FieldError> {
                Ok(Self(wire.get()))
            }
        }
    )+};
}

int_field!(
    Price(i64) => I64,
    Qty(u64) => U64,
    OrderId(u64) => U64,
    ClientOrderId(u64) => U64,
    RequestId(u64) => U64,
    SessionId(u32) => U32,
    AccountId(u32) => U32,
    InstrumentId(u32) => U32,
    Seq(u64) => U64,
    TimestampNs(u64) => U64,
    Term(u64) => U64,
    NodeId(u32) => U32,
    TradeId(u64) => U64,
    StateDigest(u128) => U128,
);

impl WireField for u64 {
    type Wire = U64;
    fn to_wire(&self) -> U64 {
        U64::new(*self)
    }
    fn from_wire(wire: &U64) -> Result<Self, FieldError> {
        Ok(wire.get())
    }
}

impl WireField for u32 {
    type Wire = U32;
    fn to_wire(&self) -> U32 {
        U32::new(*self)
    }
    fn from_wire(wire: &U32) -> Result<Self, FieldError> {
        Ok(wire.get())
    }
}

macro_rules! enum_field {
    ($($name:ident),+ $(,)?) => {$(
        impl WireField for $name {
            type Wire = u8;
            fn to_wire(&self) -> u8 {
                self.to_u8()
            }
            fn from_wire(wire: &u8) -> Result<Self, FieldError> {
                Self::from_u8(*wire).ok_or(FieldError::Enum(u16::from(*wire)))
            }
        }
    )+};
}

enum_field!(
    Side,
    OrderType,
    TimeInForce,
    PostOnly,
    StpMode,
    MassCancelScope,
    ExecType,
    OrderStatus,
    CancelRejectTo,
    ReplicaRole
);

/// `None` is zero on the wire.
impl WireField for Option<RejectReason> {
    type Wire = U16;
    fn to_wire(&self) -> U16 {
        U16::new(self.map_or(0, RejectReason::to_u16))
    }
    fn from_wire(wire: &U16) -> Result<Self, FieldError> {
        match wire.get() {
            0 => Ok(None),
            v => RejectReason::from_u16(v)
                .map(Some)
                .ok_or(FieldError::Enum(v)),
        }
    }
}

impl WireField for Symbol {
    type Wire = [u8; Symbol::LEN];
    fn to_wire(&self) -> [u8; Symbol::LEN] {
        self.0
    }
    fn from_wire(wire: &[u8; Symbol::LEN]) -> Result<Self, FieldError> {
        if Symbol::is_valid(wire) {
            Ok(Self(*wire))
        } else {
            Err(FieldError::Symbol)
        }
    }
}

/// Declares a message: the typed domain struct, its wire struct with the same fields in the same
/// order followed by zeroed reserved bytes, a compile-time size check, and the conversions.
macro_rules! wire_message {
    (
        $(#[$meta:meta])*
        $name:ident / $wire:ident, template = $template:expr, size = $size:expr, reserved = $res:expr,
        { $($(#[$fmeta:meta])* $field:ident : $ty:ty),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(test, derive(proptest_derive::Arbitrary))]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)+
        }

        #[doc = concat!("The wire layout of [`", stringify!($name), "`].")]
        #[derive(
            Debug, Clone, Copy,
            zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::KnownLayout,
            zerocopy::Immutable, zerocopy::Unaligned,
        )]
        #[repr(C)]
        pub struct $wire {
            $($field: <$ty as $crate::wire::WireField>::Wire,)+
            reserved: [u8; $res],
        }

        const _: () = assert!(size_of::<$wire>() == $size);

        impl $name {
            /// The template id in the message header.
            pub const TEMPLATE_ID: u16 = $template;
            /// Bytes of body on the wire.
            pub const BODY_SIZE: usize = $size;
            /// The body layout, in wire order: (field, domain type, bytes). Reserved bytes last.
            pub const LAYOUT: &'static [(&'static str, &'static str, usize)] = &[
                $((
                    stringify!($field),
                    stringify!($ty),
                    size_of::<<$ty as $crate::wire::WireField>::Wire>(),
                ),)+
                ("reserved", "zero", $res),
            ];

            #[allow(unreachable_pub, reason = "used by the message enums only")]
            pub(crate) fn to_wire(self) -> $wire {
                $wire {
                    $($field: $crate::wire::WireField::to_wire(&self.$field),)+
                    reserved: [0; $res],
                }
            }

            pub(crate) fn from_wire(wire: &$wire) -> Result<Self, $crate::DecodeError> {
                if wire.reserved.iter().any(|&b| b != 0) {
                    return Err($crate::DecodeError::ReservedNotZero {
                        template: stringify!($name),
                    });
                }
                Ok(Self {
                    $($field: $crate::wire::WireField::from_wire(&wire.$field).map_err(|reason| {
                        $crate::DecodeError::InvalidField {
                            template: stringify!($name),
                            field: stringify!($field),
                            reason,
                        }
                    })?,)+
                })
            }
        }
    };
}
pub(crate) use wire_message;

/// Declares an enum of messages: one variant per message struct, with encode and decode.
macro_rules! message_enum {
    (
        $(#[$meta:meta])*
        $name:ident, kind = $kind:literal, { $($variant:ident($ty:ident / $wire:ident)),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        #[cfg_attr(test, derive(proptest_derive::Arbitrary))]
        pub enum $name {
            $($variant($ty),)+
        }

        impl $name {
            /// The template id of this message.
            #[must_use]
            pub fn template_id(&self) -> u16 {
                match self {
                    $(Self::$variant(_) => $ty::TEMPLATE_ID,)+
                }
            }

            /// The variant name, for logs and dumps.
            #[must_use]
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => stringify!($variant),)+
                }
            }

            /// Bytes this message takes on the wire, header included.
            #[must_use]
            pub fn encoded_len(&self) -> usize {
                $crate::wire::HEADER_SIZE + match self {
                    $(Self::$variant(_) => $ty::BODY_SIZE,)+
                }
            }

            /// Encodes into the front of `buf`, returning the bytes written.
            pub fn encode_into(&self, buf: &mut [u8]) -> Result<usize, $crate::EncodeError> {
                match self {
                    $(Self::$variant(m) => {
                        $crate::wire::encode_body($ty::TEMPLATE_ID, &m.to_wire(), buf)
                    })+
                }
            }

            /// Encodes into a new vector.
            #[must_use]
            pub fn encode_to_vec(&self) -> Vec<u8> {
                let mut buf = vec![0u8; self.encoded_len()];
                let n = self.encode_into(&mut buf).expect("buffer sized by encoded_len");
                assert_eq!(n, buf.len());
                buf
            }

            /// Decodes one message from the front of `bytes`, returning it and the bytes used.
            #[inline]
            pub fn decode_prefix(bytes: &[u8]) -> Result<(Self, usize), $crate::DecodeError> {
                let (template_id, body) = $crate::wire::split_header(bytes)?;
                let used = $crate::wire::HEADER_SIZE + body.len();
                let message = match template_id {
                    $($ty::TEMPLATE_ID => {
                        let wire = $crate::wire::body_ref::<$wire>(template_id, body)?;
                        Self::$variant($ty::from_wire(wire)?)
                    })+
                    _ => return Err($crate::DecodeError::UnknownTemplate {
                        kind: $kind,
                        template_id,
                    }),
                };
                Ok((message, used))
            }

            /// Every message of this kind: (name, template id, body layout).
            pub const LAYOUTS: &'static [(
                &'static str,
                u16,
                &'static [(&'static str, &'static str, usize)],
            )] = &[$((stringify!($variant), $ty::TEMPLATE_ID, $ty::LAYOUT),)+];

            /// Decodes exactly one message: trailing bytes are an error.
            #[inline]
            pub fn decode(bytes: &[u8]) -> Result<Self, $crate::DecodeError> {
                let (message, used) = Self::decode_prefix(bytes)?;
                if used != bytes.len() {
                    return Err($crate::DecodeError::TrailingBytes {
                        template: message.name(),
                        extra: bytes.len() - used,
                    });
                }
                Ok(message)
            }
        }
    };
}
pub(crate) use message_enum;

/// Writes a header and `body` into the front of `buf`.
pub(crate) fn encode_body<T: IntoBytes + Immutable>(
    template_id: u16,
    body: &T,
    buf: &mut [u8],
) -> Result<usize, crate::EncodeError> {
    let body = body.as_bytes();
    let needed = HEADER_SIZE + body.len();
    if buf.len() < needed {
        return Err(crate::EncodeError::BufferTooSmall {
            needed,
            available: buf.len(),
        });
    }
    let header = MessageHeader {
        schema_version: U16::new(SCHEMA_VERSION),
        template_id: U16::new(template_id),
        body_len: U16::new(u16::try_from(body.len()).expect("bodies are far below 64 KiB")),
        reserved: [0; 2],
    };
    buf[..HEADER_SIZE].copy_from_slice(header.as_bytes());
    buf[HEADER_SIZE..needed].copy_from_slice(body);
    Ok(needed)
}

/// Reads and checks the header at the front of `bytes`; returns the template id and the body.
pub(crate) fn split_header(bytes: &[u8]) -> Result<(u16, &[u8]), crate::DecodeError> {
    let (header, rest) =
        MessageHeader::ref_from_prefix(bytes).map_err(|_| crate::DecodeError::Truncated {
            needed: HEADER_SIZE,
            available: bytes.len(),
        })?;
    let version = header.schema_version.get();
    if version != SCHEMA_VERSION {
        return Err(crate::DecodeError::UnsupportedVersion {
            found: version,
            expected: SCHEMA_VERSION,
        });
    }
    if header.reserved != [0; 2] {
        return Err(crate::DecodeError::ReservedNotZero {
            template: "MessageHeader",
        });
    }
    let body_len = usize::from(header.body_len.get());
    if rest.len() < body_len {
        return Err(crate::DecodeError::Truncated {
            needed: HEADER_SIZE + body_len,
            available: bytes.len(),
        });
    }
    Ok((header.template_id.get(), &rest[..body_len]))
}

/// Views `body` as the wire struct `T`, checking its length.
pub(crate) fn body_ref<T: FromBytes + KnownLayout + Immutable + Unaligned>(
    template_id: u16,
    body: &[u8],
) -> Result<&T, crate::DecodeError> {
    T::ref_from_bytes(body).map_err(|_| crate::DecodeError::BodyLength {
        template_id,
        found: body.len(),
        expected: size_of::<T>(),
    })
}
