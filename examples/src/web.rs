//! A deliberately small static file server for the example web page: `GET /` and the files of
//! one directory (no subdirectories), nothing else. It exists so the calculator server can hand
//! a browser the page that then talks to it over WebSocket; use a real web server for anything
//! beyond the example.
//!
//! Bounded like everything a peer can reach: a request head over 8 KiB, or not sent within
//! 10 s, is dropped; only names listed in the directory are served, so no path can reach
//! outside it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest request head read.
const MAX_HEAD: usize = 8 * 1024;
/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `dir` on `listener` until the task is dropped.
pub async fn serve_dir(listener: TcpListener, dir: PathBuf) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let dir = dir.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(HEAD_TIMEOUT, answer(stream, &dir)).await;
        });
    }
}

async fn answer(mut stream: TcpStream, dir: &Path) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split(['?', '#']).next().unwrap_or("/");
    let name = if path == "/" {
        "index.html"
    } else {
        path.trim_start_matches('/')
    };
    let found = if method == "GET" {
        file_in(dir, name).await
    } else {
        None
    };
    let response = match found {
        Some((body, kind)) => {
            let mut r = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(&body);
            r
        }
        None => {
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_vec()
        }
    };
    stream.write_all(&response).await?;
    stream.shutdown().await
}

/// The contents and media type of the file `name` of `dir`, if `dir` lists it.
async fn file_in(dir: &Path, name: &str) -> Option<(Vec<u8>, &'static str)> {
    let mut entries = tokio::fs::read_dir(dir).await.ok()?;
    while let Ok(Some(entry)) = entries.next_entry().await {
        if entry.file_name().to_str() == Some(name) {
            let kind = match Path::new(name).extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html; charset=utf-8",
                Some("js") => "text/javascript; charset=utf-8",
                Some("css") => "text/css; charset=utf-8",
                Some("map") | Some("json") => "application/json",
                _ => "application/octet-stream",
            };
            return Some((tokio::fs::read(entry.path()).await.ok()?, kind));
        }
    }
    None
}
