//! `serve --tls-cert FILE --tls-key FILE`: TLS with rustls (HTTP/1.1 and
//! HTTP/2 by ALPN). The certificate is read again on SIGHUP and used for
//! every handshake from then on; connections already open carry on. A
//! reload that fails (a half-written file, a key that does not match)
//! keeps the old certificate and says why in the log.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{anyhow, Context};
use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

#[derive(Debug)]
pub struct Certificate {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

fn load(cert: &Path, key: &Path) -> anyhow::Result<CertifiedKey> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading the certificate chain {} (--tls-cert)", cert.display()))?;
    if chain.is_empty() {
        return Err(anyhow!("{} holds no certificate (--tls-cert)", cert.display()));
    }
    let der = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the private key {} (--tls-key)", key.display()))?;
    let provider = ring::default_provider();
    let ck = CertifiedKey::from_der(chain, der, &provider)
        .map_err(|e| anyhow!("--tls-cert and --tls-key: {e} (does the key belong to the certificate?)"))?;
    Ok(ck)
}

impl Certificate {
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Arc<Certificate>> {
        Ok(Arc::new(Certificate {
            current: RwLock::new(Arc::new(load(cert, key)?)),
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        }))
    }

    /// Reads both files again; on failure the certificate in use stays.
    pub fn reload(&self) -> anyhow::Result<()> {
        let fresh = load(&self.cert, &self.key)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        Ok(())
    }

    /// The rustls configuration: TLS 1.2 and 1.3, no client certificates,
    /// this certificate (as it is at each handshake).
    pub fn server_config(self: &Arc<Self>) -> anyhow::Result<ServerConfig> {
        Ok(ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(self.clone()))
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// Reloads the certificate on every SIGHUP, for as long as the server runs.
/// Without TLS, a SIGHUP is logged and ignored (its default would end the
/// process: `systemctl reload` must never stop the server).
pub fn reload_on_hangup(cert: Option<Arc<Certificate>>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())?;
    actix_web::rt::spawn(async move {
        while hup.recv().await.is_some() {
            match &cert {
                Some(c) => match c.reload() {
                    Ok(()) => tracing::info!(cert = %c.cert.display(), "TLS certificate reloaded"),
                    Err(e) => {
                        tracing::error!(error = %format!("{e:#}"), "TLS certificate not reloaded; the old one stays in use")
                    }
                },
                None => tracing::info!("SIGHUP: nothing to reload (no --tls-cert)"),
            }
        }
    });
    Ok(())
}
