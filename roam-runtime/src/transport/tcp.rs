//! TCP links.

use std::io;

use tokio::net::{TcpListener, TcpStream};

use super::{Link, byte_stream_link};
use crate::framing::MaxFrame;

fn link(stream: TcpStream, max: &MaxFrame) -> io::Result<Link> {
    // Small request/response frames must not wait for Nagle's algorithm.
    stream.set_nodelay(true)?;
    let peer = format!("tcp://{}", stream.peer_addr()?);
    let (r, w) = stream.into_split();
    Ok(byte_stream_link(r, w, peer, max))
}

pub(super) async fn connect(hostport: &str, max: &MaxFrame) -> io::Result<Link> {
    link(TcpStream::connect(hostport).await?, max)
}

pub(super) async fn accept(listener: &TcpListener, max: &MaxFrame) -> io::Result<Link> {
    let (stream, _) = listener.accept().await?;
    link(stream, max)
}
