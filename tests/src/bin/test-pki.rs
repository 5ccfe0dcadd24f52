//! Writes a fresh test PKI (made now with rcgen, never checked in) into the directory given:
//! `ca.pem`, `server.pem` + `server-key.pem` (for `127.0.0.1` and `localhost`), `client.pem` +
//! `client-key.pem` (signed by the CA), `rogue-ca.pem`, and `rogue-client.pem` +
//! `rogue-client-key.pem` (signed by a CA nobody trusts). The TypeScript TLS tests run it.

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or_else(|| std::io::Error::other("usage: test-pki DIR"))?,
    );
    roam_tests::pki::generate().write_to(&dir)
}
