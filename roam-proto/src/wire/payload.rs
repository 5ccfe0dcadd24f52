//! Payload fields (`Request`, `Response` and `Data` bodies) as [`Bytes`] that, when a frame
//! is decoded with [`decode`](super::decode), are slices of that frame rather than copies.
//!
//! serde hands a deserializer only a borrowed `&[u8]`; it cannot know which reference-counted
//! buffer the slice lives in. [`decode`](super::decode) therefore names the frame being decoded
//! in a thread-local for the length of that one call, and a payload found inside it becomes
//! `frame.slice_ref(..)`: one reference count, no copy. A payload decoded any other way (no
//! frame named, or a slice from elsewhere) is copied, so the result is the same either way.

use std::cell::RefCell;
use std::fmt;

use bytes::Bytes;
use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

thread_local! {
    /// The frame [`decode`](super::decode) is decoding on this thread, if any.
    static SOURCE: RefCell<Option<Bytes>> = const { RefCell::new(None) };
}

/// Names `frame` as the source of payload slices while `f` runs, restoring what was named
/// before (so a decode nested inside another one stays correct, and a panic leaves nothing
/// named). While the thread's locals are being torn down nothing is named: payloads are copied.
pub(super) fn with_source<R>(frame: &Bytes, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Bytes>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            let _ = SOURCE.try_with(|s| *s.borrow_mut() = previous);
        }
    }
    let Ok(previous) = SOURCE.try_with(|s| s.replace(Some(frame.clone()))) else {
        return f();
    };
    let _restore = Restore(previous);
    f()
}

/// `slice` as a view of the named frame if it lies inside it, else a copy.
fn share(slice: &[u8]) -> Bytes {
    SOURCE
        .try_with(|source| match &*source.borrow() {
            Some(frame) if contains(frame, slice) => Some(frame.slice_ref(slice)),
            _ => None,
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| Bytes::copy_from_slice(slice))
}

fn contains(outer: &[u8], inner: &[u8]) -> bool {
    let start = outer.as_ptr() as usize;
    let at = inner.as_ptr() as usize;
    at >= start && at + inner.len() <= start + outer.len()
}

pub(super) fn serialize<S: Serializer>(payload: &Bytes, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(payload)
}

pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
    struct PayloadVisitor;
    impl<'de> Visitor<'de> for PayloadVisitor {
        type Value = Bytes;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a byte string")
        }
        fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Bytes, E> {
            Ok(share(v))
        }
        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
            Ok(Bytes::copy_from_slice(v))
        }
        fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
            Ok(Bytes::from(v))
        }
    }
    d.deserialize_bytes(PayloadVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_slices_of_the_named_frame_are_shared() {
        let frame = Bytes::from(vec![1, 2, 3, 4]);
        let other = [9u8, 9];
        with_source(&frame, || {
            let inside = share(&frame[1..3]);
            assert_eq!(inside.as_ptr(), frame[1..].as_ptr());
            let outside = share(&other);
            assert_eq!(&outside[..], &other);
            assert_ne!(outside.as_ptr(), other.as_ptr());
        });
        // Nothing named after the call: a copy.
        let copied = share(&frame[..2]);
        assert_ne!(copied.as_ptr(), frame.as_ptr());
    }
}
