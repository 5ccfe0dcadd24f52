//! TCP links.

use std::io;

use tokio::net::{TcpListener, TcpStream};

use super::Link;

fn link(stream: TcpStream) -> io::Result<Link> {
    // Small request/response frames must not wait for Nagle's algorithm.
    stream.set_nodelay(true)?;
    let peer = format!("tcp://{}", stream.peer_addr()?);
    let (r, w) = stream.into_split();
    Ok(Link {
        reader: Box::new(r),
        writer: Box::new(w),
        peer,
    })
}

pub(super) async fn connect(hostport: &str) -> io::Result<Link> {
    link(TcpStream::connect(hostport).await?)
}

pub(super) async fn accept(listener: &TcpListener) -> io::Result<Link> {
    let (stream, _) = listener.accept().await?;
    link(stream)
}
