//! `--tls`: HTTPS on the serving address with rustls (ring), ALPN `h2` then `http/1.1`.
//!
//! The certificate comes from PEM files (`--tls-cert`, `--tls-key`) or is self-signed: an
//! ECDSA P-256 certificate for `localhost`, `127.0.0.1` and `::1` (plus the listening IP
//! when it is a specific one), generated with rcgen at the first start and written beside
//! the data directory as `DIR.cert.pem` (the file clients trust) and `DIR.key.pem` (mode
//! 0600). Later starts over the same directory reuse the pair, so clients that trusted it
//! (a Java trust store, `verify=` in boto3) keep working; delete both files to regenerate.
//! With a temporary data directory the pair lives beside it and goes with it.
//!
//! The Java SDK v2 and the KCL speak HTTP/2 only over TLS with ALPN `h2`; boto3 and the AWS
//! CLI use HTTP/1.1 (ALPN `http/1.1` or none).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::ServeError;

/// Where the server's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// A PEM certificate chain and its PEM private key.
    Files {
        /// The certificate chain (leaf first).
        cert: PathBuf,
        /// The private key (PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
    },
    /// A self-signed certificate kept beside the data directory.
    SelfSigned,
}

/// A ready TLS acceptor and the certificate file clients should trust.
pub(crate) struct Tls {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) certificate: PathBuf,
}

/// The self-signed pair's paths for data directory `dir`: `DIR.cert.pem`, `DIR.key.pem`
/// (`data/` places `data.cert.pem`, not `data/.cert.pem`).
pub fn self_signed_paths(dir: &Path) -> (PathBuf, PathBuf) {
    let dir = dir.components().as_path();
    let mut cert = dir.as_os_str().to_owned();
    cert.push(".cert.pem");
    let mut key = dir.as_os_str().to_owned();
    key.push(".key.pem");
    (PathBuf::from(cert), PathBuf::from(key))
}

/// Build the acceptor for `source`; `data_dir` places a self-signed pair.
pub(crate) fn acceptor(source: &TlsSource, data_dir: &Path, addr: SocketAddr) -> Result<Tls, ServeError> {
    let (cert_path, key_path) = match source {
        TlsSource::Files { cert, key } => (cert.clone(), key.clone()),
        TlsSource::SelfSigned => {
            let (cert, key) = self_signed_paths(data_dir.components().as_path());
            if cert.exists() && key.exists() {
                tracing::info!(certificate = %cert.display(), "reusing the self-signed TLS certificate");
            } else {
                generate(&cert, &key, addr.ip())?;
                tracing::info!(certificate = %cert.display(), "generated a self-signed TLS certificate");
            }
            (cert, key)
        }
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ServeError::usage(format!("cannot read the certificate {}: {e}", cert_path.display())))?;
    if certs.is_empty() {
        return Err(ServeError::usage(format!("{} holds no PEM certificate", cert_path.display())));
    }
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| ServeError::usage(format!("cannot read the private key {}: {e}", key_path.display())))?;
    // ring rather than aws-lc-rs keeps the build free of aws-lc's C/cmake build; rustls
    // deprecates ring's provider only for its lack of post-quantum key exchange, which a
    // local endpoint does not need.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::run(format!("TLS set-up failed: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            ServeError::usage(format!(
                "the certificate {} and key {} do not make a usable pair: {e}",
                cert_path.display(),
                key_path.display()
            ))
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Tls { acceptor: TlsAcceptor::from(Arc::new(config)), certificate: cert_path })
}

/// Generate and write a self-signed pair (the key readable by the owner only).
fn generate(cert_path: &Path, key_path: &Path, ip: IpAddr) -> Result<(), ServeError> {
    let fail = |e: rcgen::Error| ServeError::run(format!("cannot generate a self-signed certificate: {e}"));
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    if !ip.is_unspecified() && !ip.is_loopback() {
        names.push(ip.to_string());
    }
    let mut params = rcgen::CertificateParams::new(names).map_err(fail)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, "shardlog serve (self-signed)");
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature, rcgen::KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let key = rcgen::KeyPair::generate().map_err(fail)?;
    let cert = params.self_signed(&key).map_err(fail)?;
    write_atomically(key_path, key.serialize_pem().as_bytes(), true)?;
    write_atomically(cert_path, cert.pem().as_bytes(), false)?;
    Ok(())
}

/// Write `bytes` to `path` through a temporary file and a rename, so a crash never leaves a
/// half-written certificate or key.
fn write_atomically(path: &Path, bytes: &[u8], private: bool) -> Result<(), ServeError> {
    use std::io::Write;
    let fail = |e: std::io::Error| ServeError::run(format!("cannot write {}: {e}", path.display()));
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".shardlog-tls-").tempfile_in(parent).map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if private { 0o600 } else { 0o644 };
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(mode)).map_err(fail)?;
    }
    #[cfg(not(unix))]
    let _ = private;
    tmp.write_all(bytes).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_self_signed_pair_sits_beside_the_data_directory() {
        let (cert, key) = self_signed_paths(Path::new("/var/lib/kinesis-data"));
        assert_eq!(cert, Path::new("/var/lib/kinesis-data.cert.pem"));
        assert_eq!(key, Path::new("/var/lib/kinesis-data.key.pem"));
        assert_eq!(self_signed_paths(Path::new("data/")).0, Path::new("data.cert.pem"));
    }

    #[test]
    fn a_generated_pair_is_reused_and_loads() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let first = acceptor(&TlsSource::SelfSigned, &dir, addr).unwrap();
        let pem = std::fs::read(&first.certificate).unwrap();
        let second = acceptor(&TlsSource::SelfSigned, &dir, addr).unwrap();
        assert_eq!(first.certificate, second.certificate);
        assert_eq!(std::fs::read(&second.certificate).unwrap(), pem, "the pair is reused, not regenerated");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let (_, key) = self_signed_paths(&dir);
            assert_eq!(std::fs::metadata(key).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn unreadable_pem_files_are_usage_errors_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let cert = tmp.path().join("cert.pem");
        std::fs::write(&cert, "not a certificate").unwrap();
        let source = TlsSource::Files { cert: cert.clone(), key: tmp.path().join("missing.pem") };
        let Err(ServeError::Usage(msg)) = acceptor(&source, tmp.path(), "127.0.0.1:0".parse().unwrap()) else {
            panic!("expected a usage error");
        };
        assert!(msg.contains("cert.pem"), "{msg}");
    }
}
