//! The codec's errors: a type it cannot represent, a value it cannot encode, bytes it cannot decode.
//!
//! Every decode failure is a [`DecodeError`] that names what was wrong, where in the input, and
//! which type and field was being read. None of them is ever a panic.

use std::fmt;

/// A type the codec cannot represent, found while compiling its plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedShape {
    /// The full type name (e.g. `HashSet<u32>`) of the part that is not supported.
    pub type_name: String,
    /// Where the part sits inside the type being compiled, e.g. `Order.items[]`.
    pub path: String,
    /// Why it is not supported.
    pub reason: &'static str,
}

impl fmt::Display for UnsupportedShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unsupported type `{}`", self.type_name)?;
        if !self.path.is_empty() {
            write!(f, " at `{}`", self.path)?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for UnsupportedShape {}

/// Where a decode error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Byte offset in the input at which the problem was detected.
    pub offset: usize,
    /// The type being read, e.g. `Point` for one of its fields or `Vec<u32>` for an element.
    pub type_name: &'static str,
    /// The field being read, when the value is a struct or variant field.
    pub field: Option<&'static str>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {} in `{}", self.offset, self.type_name)?;
        if let Some(field) = self.field {
            write!(f, ".{field}")?;
        }
        f.write_str("`")
    }
}

/// A value could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The type contains something the codec cannot represent.
    Unsupported(UnsupportedShape),
    /// The value nests deeper than [`crate::MAX_DEPTH`]; the receiver would refuse it.
    DepthLimitExceeded {
        /// The limit.
        limit: usize,
        /// The type at which the limit was hit.
        type_name: &'static str,
    },
    /// An enum value's discriminant matches none of its declared variants (memory corruption
    /// or a foreign `Facet` implementation that lies about its layout).
    InvalidDiscriminant {
        /// The enum type.
        type_name: &'static str,
        /// The discriminant that was read.
        discriminant: i64,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::Unsupported(u) => write!(f, "cannot encode: {u}"),
            EncodeError::DepthLimitExceeded { limit, type_name } => {
                write!(
                    f,
                    "cannot encode: nesting deeper than {limit} at `{type_name}`"
                )
            }
            EncodeError::InvalidDiscriminant {
                type_name,
                discriminant,
            } => write!(
                f,
                "cannot encode: `{type_name}` has discriminant {discriminant}, which is no variant"
            ),
        }
    }
}

impl std::error::Error for EncodeError {}

impl From<UnsupportedShape> for EncodeError {
    fn from(u: UnsupportedShape) -> Self {
        EncodeError::Unsupported(u)
    }
}

/// Bytes could not be decoded as the expected type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The type contains something the codec cannot decode (e.g. a borrowed `&str`).
    Unsupported(UnsupportedShape),
    /// The input ended in the middle of a value.
    UnexpectedEnd {
        /// Where.
        at: Location,
    },
    /// A whole value was decoded but input remains.
    TrailingBytes {
        /// How many bytes the value took.
        consumed: usize,
        /// How many bytes the input had.
        total: usize,
    },
    /// A varint is longer than its type allows or overflows it.
    BadVarint {
        /// Where.
        at: Location,
    },
    /// A `bool` byte other than 0 or 1.
    InvalidBool {
        /// The byte.
        byte: u8,
        /// Where.
        at: Location,
    },
    /// An `Option` tag byte other than 0 or 1.
    InvalidOptionTag {
        /// The byte.
        byte: u8,
        /// Where.
        at: Location,
    },
    /// A string that is not UTF-8.
    InvalidUtf8 {
        /// Where.
        at: Location,
    },
    /// A `char` that is not exactly one UTF-8 encoded scalar value.
    InvalidChar {
        /// Where.
        at: Location,
    },
    /// An enum (or `Result`) variant index with no variant.
    UnknownVariant {
        /// The index that was read.
        index: u32,
        /// How many variants the type has.
        variants: usize,
        /// Where.
        at: Location,
    },
    /// A value read through a [translation](crate::translate::Translation) holds a variant
    /// that the writer's type has and the reader's type does not (an enum that gained a
    /// variant on the writer's side). The location names the reader's enum type.
    VariantUnknownToReader {
        /// The variant's name in the writer's schema.
        variant: String,
        /// Its index on the wire (in the writer's declaration order).
        index: u32,
        /// Where.
        at: Location,
    },
    /// A length prefix that cannot fit in what is left of the input.
    LengthExceedsInput {
        /// The length that was read.
        len: u64,
        /// The minimum number of bytes that many items would take.
        needed: u64,
        /// How many bytes are left.
        remaining: usize,
        /// Where.
        at: Location,
    },
    /// The input asks for more items that take no bytes on the wire (e.g. `()`) than
    /// [`crate::MAX_EMPTY_ITEMS`], which bounds the work an input can demand.
    TooManyEmptyItems {
        /// Where.
        at: Location,
    },
    /// Values nest deeper than [`crate::MAX_DEPTH`].
    DepthLimitExceeded {
        /// The limit.
        limit: usize,
        /// Where.
        at: Location,
    },
}

impl DecodeError {
    /// Where the error happened, when it happened inside a value.
    pub fn location(&self) -> Option<&Location> {
        match self {
            DecodeError::UnexpectedEnd { at }
            | DecodeError::BadVarint { at }
            | DecodeError::InvalidBool { at, .. }
            | DecodeError::InvalidOptionTag { at, .. }
            | DecodeError::InvalidUtf8 { at }
            | DecodeError::InvalidChar { at }
            | DecodeError::UnknownVariant { at, .. }
            | DecodeError::VariantUnknownToReader { at, .. }
            | DecodeError::LengthExceedsInput { at, .. }
            | DecodeError::TooManyEmptyItems { at }
            | DecodeError::DepthLimitExceeded { at, .. } => Some(at),
            DecodeError::Unsupported(_) | DecodeError::TrailingBytes { .. } => None,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Unsupported(u) => write!(f, "cannot decode: {u}"),
            DecodeError::UnexpectedEnd { at } => write!(f, "input ends early {at}"),
            DecodeError::TrailingBytes { consumed, total } => write!(
                f,
                "{} trailing byte(s) after the value ({consumed} of {total} used)",
                total - consumed
            ),
            DecodeError::BadVarint { at } => write!(f, "malformed varint {at}"),
            DecodeError::InvalidBool { byte, at } => {
                write!(f, "invalid bool byte {byte:#04x} {at}")
            }
            DecodeError::InvalidOptionTag { byte, at } => {
                write!(f, "invalid Option tag {byte:#04x} {at}")
            }
            DecodeError::InvalidUtf8 { at } => write!(f, "string is not UTF-8 {at}"),
            DecodeError::InvalidChar { at } => write!(f, "invalid char {at}"),
            DecodeError::UnknownVariant {
                index,
                variants,
                at,
            } => write!(
                f,
                "variant index {index} out of range (the type has {variants}) {at}"
            ),
            DecodeError::VariantUnknownToReader { variant, index, at } => write!(
                f,
                "the writer sent variant `{variant}` (index {index}), which the reader's type \
                 does not have {at}"
            ),
            DecodeError::LengthExceedsInput {
                len,
                needed,
                remaining,
                at,
            } => write!(
                f,
                "length {len} needs at least {needed} bytes but only {remaining} remain {at}"
            ),
            DecodeError::TooManyEmptyItems { at } => write!(
                f,
                "more than {} zero-byte items requested {at}",
                crate::MAX_EMPTY_ITEMS
            ),
            DecodeError::DepthLimitExceeded { limit, at } => {
                write!(f, "nesting deeper than {limit} {at}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

impl From<UnsupportedShape> for DecodeError {
    fn from(u: UnsupportedShape) -> Self {
        DecodeError::Unsupported(u)
    }
}
