//! In-memory links: a `tokio::io::duplex` pipe, so the in-memory path exercises exactly the same
//! framing as sockets do.

use super::Link;

/// Buffer of each direction of an in-memory pipe.
const PIPE_BUFFER: usize = 256 * 1024;

/// Two connected in-memory links.
pub(crate) fn duplex_link() -> (Link, Link) {
    let (a, b) = tokio::io::duplex(PIPE_BUFFER);
    let (ar, aw) = tokio::io::split(a);
    let (br, bw) = tokio::io::split(b);
    (
        Link {
            reader: Box::new(ar),
            writer: Box::new(aw),
            peer: "mem://b".to_owned(),
        },
        Link {
            reader: Box::new(br),
            writer: Box::new(bw),
            peer: "mem://a".to_owned(),
        },
    )
}
