//! The wire format: protocol messages and their postcard encoding.
//!
//! Owns the message types and the bytes they become; knows nothing about sessions, sockets or
//! framing. `docs/protocol.md` is the byte-exact description of what lives here.

mod message;
mod payload;

pub use message::{
    Cancel, ChannelDirection, ChannelSpec, Class, Hello, Limits, MAX_REASON, Message,
    OpenConnection, PROTOCOL_VERSION, Replay, Request, Response, Resume, SchemaAnnouncement,
    SchemaKind,
};

use bytes::Bytes;

use crate::error::ProtocolViolation;

/// Why a message could not become a frame body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The encoded message is longer than one frame may be.
    #[error("the message is {len} bytes encoded but a frame may carry at most {max}")]
    TooLarge {
        /// Encoded length.
        len: usize,
        /// The frame limit.
        max: u32,
    },
    /// The serializer refused the message.
    #[error("the message could not be encoded: {0}")]
    Serialize(String),
}

/// Encodes a message into a frame body. Never returns empty bytes: a message that does not
/// encode is an error, not an empty frame.
pub fn encode(msg: &Message) -> Result<Vec<u8>, EncodeError> {
    // Sized up front so a message with a payload is one allocation, not a run of regrowths.
    let out = Vec::with_capacity(size_hint(msg));
    postcard::to_extend(msg, out).map_err(|e| EncodeError::Serialize(e.to_string()))
}

/// Room for `msg` encoded: its payload plus the fixed fields around it (metadata and channel
/// lists, rare on hot paths, may still grow the buffer).
fn size_hint(msg: &Message) -> usize {
    /// Tag, `conn`, an ID, a method ID, a length varint and a few small fields.
    const HEADER: usize = 48;
    HEADER
        + match msg {
            Message::Request(r) => r.payload.len(),
            Message::Response(r) => r.payload.len(),
            Message::Data { payload, .. } => payload.len(),
            Message::Schema(s) => s.schema.len(),
            Message::Goodbye { reason } => reason.len(),
            _ => 0,
        }
}

/// Encodes a message that must fit in a frame of at most `max` bytes.
pub fn encode_bounded(msg: &Message, max: u32) -> Result<Vec<u8>, EncodeError> {
    let bytes = encode(msg)?;
    if bytes.len() > max as usize {
        return Err(EncodeError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    Ok(bytes)
}

/// The `version` of a frame that starts like a `Hello` (tag 0, then the version varint),
/// whether or not the rest decodes: another version's `Hello` may have other fields.
pub fn hello_version(frame: &[u8]) -> Option<u32> {
    match frame.split_first()? {
        (0, rest) => postcard::take_from_bytes::<u32>(rest).ok().map(|(v, _)| v),
        _ => None,
    }
}

/// Decodes one frame body. The body is already bounded by the framing layer; trailing bytes are
/// an error so that two implementations cannot disagree about where a message ends. Payloads
/// in the result are slices of `frame`, not copies.
pub fn decode(frame: &Bytes) -> Result<Message, ProtocolViolation> {
    match payload::with_source(frame, || postcard::take_from_bytes::<Message>(frame)) {
        Ok((msg, [])) => Ok(msg),
        Ok((_, rest)) => Err(ProtocolViolation::MalformedMessage(format!(
            "{} trailing bytes after the message",
            rest.len()
        ))),
        Err(e) => Err(ProtocolViolation::MalformedMessage(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::Metadata;

    #[test]
    fn request_bytes_are_pinned() {
        // Pinned so that docs/protocol.md and other-language runtimes can rely on them.
        let msg = Message::Request(Request {
            conn: 0,
            id: 1,
            method_id: 0x0102,
            metadata: Metadata::new(),
            channels: vec![],
            timeout_micros: None,
            payload: Bytes::from_static(&[0x04, 0x06]),
        });
        assert_eq!(
            encode(&msg).unwrap(),
            vec![2, 0, 1, 0x82, 0x02, 0, 0, 0, 2, 4, 6]
        );
        assert_eq!(decode(&Bytes::from(encode(&msg).unwrap())).unwrap(), msg);
    }

    #[test]
    fn schema_message_bytes_are_pinned() {
        let msg = Message::Schema(SchemaAnnouncement {
            conn: 0,
            method_id: 1,
            kind: SchemaKind::Response,
            schema: vec![0x01, 0x00, 0x04],
        });
        assert_eq!(
            encode(&msg).unwrap(),
            vec![0x0b, 0, 1, 1, 3, 0x01, 0x00, 0x04]
        );
        assert_eq!(decode(&Bytes::from(encode(&msg).unwrap())).unwrap(), msg);
    }

    #[test]
    fn connection_messages_are_pinned() {
        use crate::metadata::Metadata;
        let mut svc = Metadata::new();
        svc.insert("svc", "b");
        let cases = [
            (
                Message::Open(OpenConnection {
                    conn: 1,
                    metadata: Metadata::new(),
                    max_concurrent_requests: 1024,
                }),
                vec![0x0d, 1, 0, 0x80, 0x08],
            ),
            (
                Message::Accept(OpenConnection {
                    conn: 1,
                    metadata: svc,
                    max_concurrent_requests: 8,
                }),
                vec![0x0e, 1, 1, 3, b's', b'v', b'c', 0, 1, b'b', 8],
            ),
            (
                Message::Reject {
                    conn: 3,
                    reason: "no".into(),
                },
                vec![0x0f, 3, 2, b'n', b'o'],
            ),
            (
                Message::CloseConnection {
                    conn: 2,
                    reason: String::new(),
                },
                vec![0x10, 2, 0],
            ),
        ];
        for (msg, bytes) in cases {
            assert_eq!(msg.class(), Class::Session);
            assert_eq!(encode(&msg).unwrap(), bytes, "{msg:?}");
            assert_eq!(decode(&Bytes::from(bytes)).unwrap(), msg);
        }
    }

    #[test]
    fn channel_messages_are_pinned() {
        let data = Message::Data {
            conn: 0,
            channel: 3,
            payload: Bytes::from_static(&[9]),
        };
        assert_eq!(encode(&data).unwrap(), vec![7, 0, 3, 1, 9]);
        assert_eq!(
            encode(&Message::Close {
                conn: 0,
                channel: 3
            })
            .unwrap(),
            vec![8, 0, 3]
        );
        assert_eq!(
            encode(&Message::Reset {
                conn: 0,
                channel: 3
            })
            .unwrap(),
            vec![9, 0, 3]
        );
        assert_eq!(
            encode(&Message::Credit {
                conn: 0,
                channel: 3,
                n: 200
            })
            .unwrap(),
            vec![10, 0, 3, 0xc8, 0x01]
        );
        let spec = ChannelSpec {
            id: 5,
            direction: ChannelDirection::CalleeToCaller,
        };
        assert_eq!(postcard::to_allocvec(&spec).unwrap(), vec![5, 1]);
    }

    #[test]
    fn hello_round_trips() {
        let msg = Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            limits: Limits::default(),
            session_key: Some([7; 16]),
            resume: None,
            metadata: Default::default(),
            replay: Replay::Grant {
                buffer: 1 << 20,
                secret: [9; 32],
            },
        });
        assert_eq!(decode(&Bytes::from(encode(&msg).unwrap())).unwrap(), msg);
    }

    #[test]
    fn hello_bytes_are_pinned_with_and_without_credentials() {
        let hello = |metadata| {
            encode(&Message::Hello(Hello {
                version: PROTOCOL_VERSION,
                limits: Limits::default(),
                session_key: None,
                resume: None,
                metadata,
                replay: Replay::Off,
            }))
            .unwrap()
        };
        assert_eq!(
            hello(Metadata::new()),
            [
                0x00, 0x03, 0x80, 0x80, 0x80, 0x04, 0x40, 0x80, 0x08, 0x00, 0x00, 0x00, 0x00
            ]
        );
        let mut credentials = Metadata::new();
        credentials.insert("authorization", "Bearer t");
        let mut want = vec![
            0x00, 0x03, 0x80, 0x80, 0x80, 0x04, 0x40, 0x80, 0x08, 0x00, 0x00,
        ];
        want.extend([0x01, 0x0d]);
        want.extend(b"authorization");
        want.extend([0x00, 0x08]);
        want.extend(b"Bearer t");
        want.push(0x00);
        assert_eq!(hello(credentials), want);
    }

    #[test]
    fn resume_hello_and_ack_bytes_are_pinned() {
        let resume = encode(&Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            limits: Limits::default(),
            session_key: None,
            resume: Some(Resume {
                session_key: [1; 16],
                last_received: 5,
                nonce: [6; 16],
                proof: [2; 32],
            }),
            metadata: Metadata::new(),
            replay: Replay::Offer { buffer: 1 << 20 },
        }))
        .unwrap();
        let mut want = vec![0x00, 0x03, 0x80, 0x80, 0x80, 0x04, 0x40, 0x80, 0x08, 0x00];
        want.push(0x01);
        want.extend([1; 16]);
        want.push(0x05);
        want.extend([6; 16]);
        want.extend([2; 32]);
        want.extend([0x00, 0x01, 0x80, 0x80, 0x40]);
        assert_eq!(resume, want);
        let resumed = postcard::to_allocvec(&Replay::Resumed {
            last_received: 300,
            nonce: [3; 16],
        })
        .unwrap();
        let mut want = vec![0x03, 0xac, 0x02];
        want.extend([3; 16]);
        assert_eq!(resumed, want);
        let grant = postcard::to_allocvec(&Replay::Grant {
            buffer: 64,
            secret: [4; 32],
        })
        .unwrap();
        let mut want = vec![0x02, 0x40];
        want.extend([4; 32]);
        assert_eq!(grant, want);
        assert_eq!(
            encode(&Message::Ack { received: 300 }).unwrap(),
            [0x0c, 0xac, 0x02]
        );
        assert_eq!(Message::Ack { received: 1 }.class(), Class::Link);
    }

    #[test]
    fn a_hello_version_is_read_even_when_the_rest_is_another_versions() {
        // Version 1's Hello: no metadata field, so it no longer decodes as a message.
        let v1 = [
            0x00, 0x01, 0x80, 0x80, 0x80, 0x04, 0x40, 0x80, 0x08, 0x00, 0x00,
        ];
        assert!(decode(&Bytes::copy_from_slice(&v1)).is_err());
        assert_eq!(hello_version(&v1), Some(1));
        // Version 2's: no replay field.
        let v2 = [
            0x00, 0x02, 0x80, 0x80, 0x80, 0x04, 0x40, 0x80, 0x08, 0x00, 0x00, 0x00,
        ];
        assert!(decode(&Bytes::copy_from_slice(&v2)).is_err());
        assert_eq!(hello_version(&v2), Some(2));
        assert_eq!(hello_version(&[0x00, 0xac, 0x02]), Some(300));
        assert_eq!(hello_version(&[0x05, 0x01]), None, "not a Hello");
        assert_eq!(hello_version(&[0x00, 0x80]), None, "cut varint");
        assert_eq!(
            hello_version(&[0x00, 0xff, 0xff, 0xff, 0xff, 0xff]),
            None,
            "too long"
        );
        assert_eq!(
            hello_version(&[0x00, 0xff, 0xff, 0xff, 0xff, 0x1f]),
            None,
            "over u32"
        );
        assert_eq!(
            hello_version(&[0x00, 0xff, 0xff, 0xff, 0xff, 0x0f]),
            Some(u32::MAX)
        );
    }

    #[test]
    fn garbage_and_trailing_bytes_are_violations() {
        assert!(decode(&Bytes::from_static(&[0xff, 0xff, 0xff])).is_err());
        assert!(decode(&Bytes::new()).is_err());
        let mut bytes = encode(&Message::Ping { nonce: 3 }).unwrap();
        bytes.push(0);
        assert!(matches!(
            decode(&Bytes::from(bytes)),
            Err(ProtocolViolation::MalformedMessage(_))
        ));
    }

    #[test]
    fn encoding_over_the_frame_limit_is_an_error_not_a_frame() {
        let msg = Message::Goodbye {
            reason: "x".repeat(100),
        };
        assert_eq!(
            encode_bounded(&msg, 50),
            Err(EncodeError::TooLarge { len: 102, max: 50 })
        );
        assert_eq!(encode_bounded(&msg, 102).unwrap().len(), 102);
    }

    #[test]
    fn link_messages_and_session_messages_are_told_apart() {
        assert_eq!(Message::Ping { nonce: 1 }.class(), Class::Link);
        assert_eq!(Message::Pong { nonce: 1 }.class(), Class::Link);
        assert_eq!(
            Message::Goodbye {
                reason: String::new()
            }
            .class(),
            Class::Link
        );
        assert_eq!(
            Message::Cancel(Cancel { conn: 0, id: 1 }).class(),
            Class::Session
        );
        assert_eq!(
            Message::Credit {
                conn: 0,
                channel: 1,
                n: 1
            }
            .class(),
            Class::Session
        );
    }

    #[test]
    fn decoded_payloads_are_slices_of_the_frame() {
        let frame = Bytes::from(
            encode(&Message::Data {
                conn: 0,
                channel: 3,
                payload: Bytes::from_static(b"item"),
            })
            .unwrap(),
        );
        let Ok(Message::Data { payload, .. }) = decode(&frame) else {
            panic!("a Data message");
        };
        assert_eq!(&payload[..], b"item");
        // The payload is the frame's last four bytes, not a copy of them.
        assert_eq!(payload.as_ptr(), frame[frame.len() - 4..].as_ptr());
    }

    #[test]
    fn a_huge_claimed_length_does_not_allocate() {
        // Request with a payload length varint claiming ~4 GiB but only 2 bytes present.
        let frame = Bytes::from_static(&[2, 0, 1, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2]);
        assert!(matches!(
            decode(&frame),
            Err(ProtocolViolation::MalformedMessage(_))
        ));
    }
}
