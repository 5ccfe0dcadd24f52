//! TLS on rustls (with the `ring` provider; no OpenSSL): `tls://host:port` carries
//! length-prefixed frames over TLS over TCP, `wss://host:port/path` WebSocket over TLS.
//!
//! - [`ServerTls`]: a server's certificate chain and key (PEM), and optionally the CA its
//!   clients' certificates must chain to (mutual TLS).
//! - [`ClientTls`]: what a client trusts (the platform's roots, or a given CA), and optionally
//!   its own certificate.
//! - [`TlsPeer`]: the certificate the other side presented, kept with the session (a handler
//!   reads the client's with [`Context::tls_peer`](crate::Context::tls_peer)).
//! - [`TlsError`]: why a handshake failed, worded as what to fix.
//!
//! Owns TLS configuration and handshakes; framing above TLS is the byte-stream and WebSocket
//! links' job, as over plain TCP.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use rustls::client::WebPkiServerVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    static PROVIDER: OnceLock<Arc<rustls::crypto::CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// A TLS configuration could not be made from what was given.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// The PEM held no certificate.
    #[error(
        "no certificate found in the {what} PEM; pass the file's contents (-----BEGIN CERTIFICATE-----)"
    )]
    NoCertificate {
        /// Which PEM.
        what: &'static str,
    },
    /// The PEM held no private key, or one that could not be read.
    #[error("no usable private key in the key PEM ({0}); pass a PKCS#8, PKCS#1 or SEC1 key")]
    Key(String),
    /// A PEM could not be parsed.
    #[error("the {what} PEM could not be read: {detail}")]
    Pem {
        /// Which PEM.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// rustls refused the configuration (e.g. a key that does not match the certificate).
    #[error("the TLS configuration was refused: {0}")]
    Rustls(#[from] rustls::Error),
    /// A configuration made `from_config` is changed with rustls, not through roam.
    #[error(
        "this TLS configuration was made from a rustls config: set client certificates and verifiers on that config"
    )]
    Custom,
    /// The client-certificate verifier could not be made from the given CA.
    #[error("the client CA cannot verify certificates: {0}")]
    ClientVerifier(String),
}

fn certificates(
    pem: &[u8],
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsConfigError::Pem {
            what,
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsConfigError::NoCertificate { what });
    }
    Ok(certs)
}

fn roots(pem: &[u8], what: &'static str) -> Result<RootCertStore, TlsConfigError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(pem, what)? {
        roots.add(cert)?;
    }
    Ok(roots)
}

/// A certificate chain (own certificate first) and its private key.
#[derive(Clone)]
struct Keyed {
    chain: Arc<[CertificateDer<'static>]>,
    key: Arc<PrivateKeyDer<'static>>,
}

impl Keyed {
    fn from_pem(
        chain_pem: &[u8],
        key_pem: &[u8],
        what: &'static str,
    ) -> Result<Keyed, TlsConfigError> {
        let chain = certificates(chain_pem, what)?;
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| TlsConfigError::Key(e.to_string()))?;
        Ok(Keyed {
            chain: chain.into(),
            key: Arc::new(key),
        })
    }

    /// The chain and key as rustls takes them.
    fn parts(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (self.chain.to_vec(), self.key.clone_key())
    }
}

/// A server's TLS identity: its certificate chain and key, and whether clients must present
/// certificates of their own.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let tls = roam::tls::ServerTls::from_pem(
///     &std::fs::read("server.crt")?,
///     &std::fs::read("server.key")?,
/// )?;
/// let server = roam::Server::bind_tls("tls://0.0.0.0:4443", tls).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
    /// What `config` was built from; `None` when it came [`ServerTls::from_config`].
    own: Option<Keyed>,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("certificates", &self.own.as_ref().map(|k| k.chain.len()))
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// From a PEM certificate chain (the server's certificate first) and a PEM private key.
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<ServerTls, TlsConfigError> {
        let own = Keyed::from_pem(chain_pem, key_pem, "certificate chain")?;
        let (chain, key) = own.parts();
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        Ok(ServerTls {
            config: Arc::new(config),
            own: Some(own),
        })
    }

    /// Mutual TLS: every client must present a certificate that chains to a CA in `ca_pem`;
    /// other clients are refused during the TLS handshake. Handlers see the client's
    /// certificate with [`Context::tls_peer`](crate::Context::tls_peer).
    pub fn require_client_certificates(self, ca_pem: &[u8]) -> Result<ServerTls, TlsConfigError> {
        self.client_certificates(ca_pem, false)
    }

    /// Like [`ServerTls::require_client_certificates`], but a client without a certificate is
    /// served too (a certificate it does present must still chain to the CA); an
    /// [authenticator](crate::Server::authenticate) can then decide by
    /// [`PeerHello::tls`](crate::PeerHello::tls).
    pub fn allow_client_certificates(self, ca_pem: &[u8]) -> Result<ServerTls, TlsConfigError> {
        self.client_certificates(ca_pem, true)
    }

    /// A configuration made with rustls directly (ALPN, a certificate resolver for rotation or
    /// SNI, revocation lists, other client verifiers): roam uses it as it is.
    pub fn from_config(config: Arc<ServerConfig>) -> ServerTls {
        ServerTls { config, own: None }
    }

    fn client_certificates(
        self,
        ca_pem: &[u8],
        optional: bool,
    ) -> Result<ServerTls, TlsConfigError> {
        let own = self.own.ok_or(TlsConfigError::Custom)?;
        let roots = roots(ca_pem, "client CA")?;
        let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
        let builder = if optional {
            builder.allow_unauthenticated()
        } else {
            builder
        };
        let verifier = builder
            .build()
            .map_err(|e| TlsConfigError::ClientVerifier(e.to_string()))?;
        let (chain, key) = own.parts();
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)?;
        Ok(ServerTls {
            config: Arc::new(config),
            own: Some(own),
        })
    }
}

/// What a client trusts, and the certificate it presents if the server asks for one.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let tls = roam::tls::ClientTls::with_ca_pem(&std::fs::read("ca.crt")?)?;
/// let conn = roam::Connector::new().tls(tls).connect("tls://127.0.0.1:4443").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    /// What `config` was built from; `None` when it came [`ClientTls::from_config`].
    parts: Option<ClientParts>,
    server_name: Option<String>,
}

/// What roam builds a client configuration from.
#[derive(Clone)]
struct ClientParts {
    roots: Arc<RootCertStore>,
    identity: Option<Keyed>,
}

impl ClientParts {
    fn build(self) -> Result<ClientTls, TlsConfigError> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?;
        let builder =
            match WebPkiServerVerifier::builder_with_provider(Arc::clone(&self.roots), provider())
                .build()
            {
                Ok(verifier) => builder.with_webpki_verifier(verifier),
                // No roots at all: a verifier that trusts nothing (every connect fails with
                // `UntrustedCertificate`).
                Err(_) => builder.with_root_certificates(RootCertStore::empty()),
            };
        let config = match &self.identity {
            Some(identity) => {
                let (chain, key) = identity.parts();
                builder.with_client_auth_cert(chain, key)?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(ClientTls {
            config: Arc::new(config),
            parts: Some(self),
            server_name: None,
        })
    }
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = self.parts.as_ref();
        f.debug_struct("ClientTls")
            .field("roots", &parts.map(|p| p.roots.len()))
            .field(
                "client_certificate",
                &parts.is_some_and(|p| p.identity.is_some()),
            )
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Trusts the platform's root certificates (the OS store), loaded once per process. A
    /// platform whose store cannot be read trusts nothing: connecting then fails with
    /// [`TlsError::UntrustedCertificate`].
    pub fn platform() -> ClientTls {
        static PLATFORM: OnceLock<ClientTls> = OnceLock::new();
        PLATFORM
            .get_or_init(|| {
                let mut roots = RootCertStore::empty();
                let found = rustls_native_certs::load_native_certs();
                for error in &found.errors {
                    tracing::warn!(%error, "a platform root certificate could not be loaded");
                }
                let (added, ignored) = roots.add_parsable_certificates(found.certs);
                tracing::debug!(added, ignored, "platform root certificates loaded");
                let parts = ClientParts {
                    roots: Arc::new(roots),
                    identity: None,
                };
                match parts.build() {
                    Ok(tls) => tls,
                    // Without a client certificate the only failure is the protocol versions,
                    // which the ring provider supports.
                    Err(e) => unreachable!(
                        "a client configuration without a certificate was refused: {e}"
                    ),
                }
            })
            .clone()
    }

    /// Trusts only the CA certificates in `ca_pem` (a private CA, or a self-signed server).
    pub fn with_ca_pem(ca_pem: &[u8]) -> Result<ClientTls, TlsConfigError> {
        ClientParts {
            roots: Arc::new(roots(ca_pem, "CA")?),
            identity: None,
        }
        .build()
    }

    /// Presents this certificate chain and key when the server asks for one (mutual TLS).
    pub fn client_certificate(
        self,
        chain_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<ClientTls, TlsConfigError> {
        let parts = self.parts.ok_or(TlsConfigError::Custom)?;
        let identity = Keyed::from_pem(chain_pem, key_pem, "client certificate chain")?;
        let tls = ClientParts {
            identity: Some(identity),
            ..parts
        }
        .build()?;
        Ok(ClientTls {
            server_name: self.server_name,
            ..tls
        })
    }

    /// A configuration made with rustls directly (ALPN, platform roots plus a private CA, a
    /// custom verifier): roam uses it as it is. [`ClientTls::server_name`] still applies;
    /// client certificates are `config`'s business ([`ClientTls::client_certificate`] refuses).
    pub fn from_config(config: Arc<ClientConfig>) -> ClientTls {
        ClientTls {
            config,
            parts: None,
            server_name: None,
        }
    }

    /// Checks the server's certificate against `name` instead of the URL's host (for a
    /// server reached by IP address or through a tunnel).
    pub fn server_name(self, name: impl Into<String>) -> ClientTls {
        ClientTls {
            server_name: Some(name.into()),
            ..self
        }
    }
}

impl Default for ClientTls {
    fn default() -> Self {
        ClientTls::platform()
    }
}

/// The certificate chain the other side of a TLS link presented (for a server: the client's,
/// when it sent one).
#[derive(Clone, Debug)]
pub struct TlsPeer {
    certificates: Vec<CertificateDer<'static>>,
}

impl TlsPeer {
    /// The chain, the peer's own certificate first (DER).
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certificates
    }

    /// The DNS names in the peer certificate's subject alternative names.
    pub fn dns_names(&self) -> Vec<String> {
        self.with_end_entity(|cert| cert.valid_dns_names().map(str::to_owned).collect())
    }

    /// The URIs in the peer certificate's subject alternative names (e.g. SPIFFE IDs).
    pub fn uri_names(&self) -> Vec<String> {
        self.with_end_entity(|cert| cert.valid_uri_names().map(str::to_owned).collect())
    }

    fn with_end_entity(
        &self,
        f: impl FnOnce(&webpki::EndEntityCert<'_>) -> Vec<String>,
    ) -> Vec<String> {
        self.certificates
            .first()
            .and_then(|der| webpki::EndEntityCert::try_from(der).ok())
            .map(|cert| f(&cert))
            .unwrap_or_default()
    }

    fn of(certificates: Option<&[CertificateDer<'_>]>) -> Option<TlsPeer> {
        let certificates: Vec<_> = certificates?
            .iter()
            .map(|c| c.clone().into_owned())
            .collect();
        (!certificates.is_empty()).then_some(TlsPeer { certificates })
    }
}

/// Why a TLS handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The server's certificate does not chain to a CA this client trusts.
    #[error(
        "the server's certificate is not signed by a CA this client trusts ({0}); trust its CA with ClientTls::with_ca_pem, or give the server a certificate from a CA the platform trusts"
    )]
    UntrustedCertificate(String),
    /// The server's certificate does not name the host connected to.
    #[error(
        "the server's certificate is not valid for `{0}`; connect with a name the certificate lists, or set ClientTls::server_name"
    )]
    WrongName(String),
    /// A certificate has expired or is not valid yet.
    #[error(
        "the peer's certificate has expired or is not valid yet ({0}); renew it, or check the clocks"
    )]
    Expired(String),
    /// The server refused this client's certificate (or wanted one and got none).
    #[error(
        "the server refused this client's certificate ({0}); present one its CA signed, with ClientTls::client_certificate"
    )]
    ClientCertificateRejected(String),
    /// Anything else: protocol versions, ciphers, a peer that does not speak TLS.
    #[error("the TLS handshake failed: {0}; check that the server speaks TLS on this address")]
    Handshake(String),
}

impl TlsError {
    /// Classifies what rustls reported.
    pub(crate) fn from_rustls(error: &rustls::Error, host: &str) -> TlsError {
        use rustls::{AlertDescription as Alert, CertificateError as Cert, Error};
        match error {
            Error::InvalidCertificate(
                Cert::NotValidForName | Cert::NotValidForNameContext { .. },
            ) => TlsError::WrongName(host.to_owned()),
            Error::InvalidCertificate(
                e @ (Cert::Expired
                | Cert::ExpiredContext { .. }
                | Cert::NotValidYet
                | Cert::NotValidYetContext { .. }),
            ) => TlsError::Expired(format!("{e:?}")),
            Error::InvalidCertificate(e) => TlsError::UntrustedCertificate(format!("{e:?}")),
            Error::AlertReceived(
                alert @ (Alert::BadCertificate
                | Alert::UnknownCA
                | Alert::CertificateRequired
                | Alert::CertificateUnknown
                | Alert::CertificateRevoked
                | Alert::CertificateExpired
                | Alert::AccessDenied),
            ) => TlsError::ClientCertificateRejected(format!("alert {alert:?}")),
            other => TlsError::Handshake(other.to_string()),
        }
    }

    /// The TLS error inside an I/O error from a TLS stream, if there is one.
    pub(crate) fn from_io(error: &io::Error, host: &str) -> Option<TlsError> {
        let inner = error.get_ref()?.downcast_ref::<rustls::Error>()?;
        Some(TlsError::from_rustls(inner, host))
    }
}

/// The host part of `host:port` (brackets of an IPv6 literal removed).
fn host_of(hostport: &str) -> &str {
    let host = match hostport.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => hostport,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}

/// A TLS stream to `hostport`, the server's certificate checked against the host (or
/// [`ClientTls::server_name`]). A handshake failure is an I/O error carrying the rustls error
/// ([`TlsError::from_io`] reads it back).
pub(crate) async fn connect(
    hostport: &str,
    tls: &ClientTls,
) -> io::Result<(TlsStream, Option<TlsPeer>)> {
    let host = tls
        .server_name
        .as_deref()
        .unwrap_or_else(|| host_of(hostport));
    let name = ServerName::try_from(host.to_owned()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{host}` is not a valid TLS server name: {e}"),
        )
    })?;
    let stream = TcpStream::connect(hostport).await?;
    stream.set_nodelay(true)?;
    let stream = TlsConnector::from(Arc::clone(&tls.config))
        .connect(name, stream)
        .await?;
    let peer = TlsPeer::of(stream.get_ref().1.peer_certificates());
    Ok((TlsStream::new(Side::Client(Box::new(stream))), peer))
}

/// Runs the server side of the handshake on an accepted TCP stream.
pub(crate) async fn accept(
    stream: TcpStream,
    tls: &ServerTls,
) -> io::Result<(TlsStream, Option<TlsPeer>)> {
    let stream = TlsAcceptor::from(Arc::clone(&tls.config))
        .accept(stream)
        .await?;
    let peer = TlsPeer::of(stream.get_ref().1.peer_certificates());
    Ok((TlsStream::new(Side::Server(Box::new(stream))), peer))
}

/// Either side's TLS stream, as one type for the links above it. It remembers the first TLS
/// error a read reported: with TLS 1.3 a server refuses a client certificate only after the
/// client's handshake has finished, so the refusal arrives as a read error on the first
/// frame, and the connecting side reads it back from here to report it typed.
pub(crate) struct TlsStream {
    side: Side,
    failure: Arc<OnceLock<rustls::Error>>,
}

enum Side {
    Client(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Server(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl TlsStream {
    fn new(side: Side) -> TlsStream {
        TlsStream {
            side,
            failure: Arc::default(),
        }
    }

    /// Where the first TLS error a read reports is kept.
    pub(crate) fn failure(&self) -> Arc<OnceLock<rustls::Error>> {
        Arc::clone(&self.failure)
    }
}

/// Runs `$body` with `$s` bound to whichever side's stream, pinned.
macro_rules! either {
    ($self:expr, $s:ident => $body:expr) => {
        match &mut $self.get_mut().side {
            Side::Client($s) => {
                let $s = Pin::new($s.as_mut());
                $body
            }
            Side::Server($s) => {
                let $s = Pin::new($s.as_mut());
                $body
            }
        }
    };
}

impl AsyncRead for TlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let failure = Arc::clone(&self.failure);
        let polled = either!(self.as_mut(), s => s.poll_read(cx, buf));
        if let Poll::Ready(Err(e)) = &polled
            && let Some(tls) = e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>())
        {
            let _ = failure.set(tls.clone());
        }
        polled
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        either!(self, s => s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        either!(self, s => s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match &self.side {
            Side::Client(s) => s.is_write_vectored(),
            Side::Server(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        either!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        either!(self, s => s.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_cut_from_host_port() {
        assert_eq!(host_of("example.com:443"), "example.com");
        assert_eq!(host_of("127.0.0.1:1"), "127.0.0.1");
        assert_eq!(host_of("[::1]:4000"), "::1");
        assert_eq!(host_of("localhost"), "localhost");
    }

    #[test]
    fn a_pem_without_certificates_is_a_typed_error() {
        assert!(matches!(
            ClientTls::with_ca_pem(b"not a pem"),
            Err(TlsConfigError::NoCertificate { what: "CA" })
        ));
        assert!(matches!(
            ServerTls::from_pem(b"", b""),
            Err(TlsConfigError::NoCertificate { .. })
        ));
    }
}
