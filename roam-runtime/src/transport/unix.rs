//! Unix-domain socket links.

use std::io;
use std::path::Path;

use tokio::net::{UnixListener, UnixStream};

use super::{Link, byte_stream_link};
use crate::framing::MaxFrame;

fn link(stream: UnixStream, path: &Path, max: &MaxFrame) -> Link {
    let (r, w) = stream.into_split();
    byte_stream_link(r, w, format!("unix://{}", path.display()), max)
}

pub(super) async fn connect(path: &Path, max: &MaxFrame) -> io::Result<Link> {
    Ok(link(UnixStream::connect(path).await?, path, max))
}

pub(super) fn bind(path: &Path) -> io::Result<UnixListener> {
    match UnixListener::bind(path) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            // A socket file left by a process that exited: replace it if nobody listens on it.
            if std::os::unix::net::UnixStream::connect(path).is_err() {
                std::fs::remove_file(path)?;
                UnixListener::bind(path)
            } else {
                Err(e)
            }
        }
        other => other,
    }
}

pub(super) async fn accept(
    listener: &UnixListener,
    path: &Path,
    max: &MaxFrame,
) -> io::Result<Link> {
    let (stream, _) = listener.accept().await?;
    Ok(link(stream, path, max))
}
