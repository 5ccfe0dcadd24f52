//! Unix-domain socket links.

use std::io;
use std::path::Path;

use tokio::net::{UnixListener, UnixStream};

use super::Link;

pub(super) async fn connect(path: &Path) -> io::Result<Link> {
    let stream = UnixStream::connect(path).await?;
    let (r, w) = stream.into_split();
    Ok(Link {
        reader: Box::new(r),
        writer: Box::new(w),
        peer: format!("unix://{}", path.display()),
    })
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

pub(super) async fn accept(listener: &UnixListener, path: &Path) -> io::Result<Link> {
    let (stream, _) = listener.accept().await?;
    let (r, w) = stream.into_split();
    Ok(Link {
        reader: Box::new(r),
        writer: Box::new(w),
        peer: format!("unix://{}", path.display()),
    })
}
