//! Certificates for the TLS tests and benches (`roam-runtime/benches/security.rs` includes this
//! file), made at run time (never checked in): a CA, a server
//! certificate for `127.0.0.1` and `localhost` signed by it, a client certificate signed by it,
//! and a second, untrusted CA with a client certificate of its own (for the refusals).

use std::sync::OnceLock;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};
use roam::tls::{ClientTls, ServerTls};

/// One certificate and its key, as PEM.
#[derive(Debug, Clone)]
pub struct Pem {
    /// The certificate (`-----BEGIN CERTIFICATE-----`).
    pub cert: String,
    /// Its private key.
    pub key: String,
}

/// The test PKI.
#[derive(Debug)]
pub struct Pki {
    /// The CA that signs the server's and the good client's certificates.
    pub ca: String,
    /// The server: valid for `127.0.0.1` and `localhost`.
    pub server: Pem,
    /// A client certificate the CA signed; its SAN URI is [`CLIENT_URI`].
    pub client: Pem,
    /// Another CA, trusted by nobody.
    pub rogue_ca: String,
    /// A client certificate the rogue CA signed.
    pub rogue_client: Pem,
}

/// The SAN URI of [`Pki::client`], as handlers read it from `TlsPeer::uri_names`.
pub const CLIENT_URI: &str = "spiffe://roam.test/client";

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("a CA key"))
        .expect("a self-signed CA")
}

fn leaf(issuer: &CertifiedIssuer<'static, KeyPair>, params: CertificateParams) -> Pem {
    let key = KeyPair::generate().expect("a key");
    let cert = params
        .signed_by(&key, issuer)
        .expect("a signed certificate");
    Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

fn client_params() -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
    params.subject_alt_names = vec![SanType::URI(CLIENT_URI.try_into().expect("a valid URI"))];
    params
}

/// Makes a fresh PKI (each call draws new keys).
pub fn generate() -> Pki {
    let ca = ca("roam test CA");
    let server = leaf(
        &ca,
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("server params"),
    );
    let client = leaf(&ca, client_params());
    let rogue = ca_rogue();
    let rogue_client = leaf(&rogue, client_params());
    Pki {
        ca: ca.pem(),
        server,
        client,
        rogue_ca: rogue.pem(),
        rogue_client,
    }
}

fn ca_rogue() -> CertifiedIssuer<'static, KeyPair> {
    ca("roam rogue CA")
}

/// The process's test PKI, made on first use.
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(generate)
}

impl Pki {
    /// Writes every certificate and key as PEM files into `dir` (see the `test-pki` binary).
    pub fn write_to(&self, dir: &std::path::Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let files = [
            ("ca.pem", &self.ca),
            ("server.pem", &self.server.cert),
            ("server-key.pem", &self.server.key),
            ("client.pem", &self.client.cert),
            ("client-key.pem", &self.client.key),
            ("rogue-ca.pem", &self.rogue_ca),
            ("rogue-client.pem", &self.rogue_client.cert),
            ("rogue-client-key.pem", &self.rogue_client.key),
        ];
        for (name, pem) in files {
            std::fs::write(dir.join(name), pem)?;
        }
        Ok(())
    }

    /// The server's TLS settings (no client certificates asked for).
    pub fn server_tls(&self) -> ServerTls {
        ServerTls::from_pem(self.server.cert.as_bytes(), self.server.key.as_bytes())
            .expect("the test server certificate loads")
    }

    /// The server's TLS settings with mutual TLS: clients need a certificate from the CA.
    pub fn mutual_server_tls(&self) -> ServerTls {
        self.server_tls()
            .require_client_certificates(self.ca.as_bytes())
            .expect("the test CA verifies clients")
    }

    /// A client trusting the CA, without a certificate of its own.
    pub fn client_tls(&self) -> ClientTls {
        ClientTls::with_ca_pem(self.ca.as_bytes()).expect("the test CA loads")
    }

    /// A client trusting the CA and presenting `cert`.
    pub fn client_tls_as(&self, cert: &Pem) -> ClientTls {
        self.client_tls()
            .client_certificate(cert.cert.as_bytes(), cert.key.as_bytes())
            .expect("the test client certificate loads")
    }
}
