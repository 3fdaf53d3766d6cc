//! Mutual TLS between cells (data-sovereignty issue, item 7). When cells run as separate
//! processes (`reelm serve --region <id>`), everything that crosses from one cell to another —
//! public reads, gateway deliveries, requests forwarded to a person's home cell — travels over
//! HTTPS where BOTH sides present a certificate of the deployment's own CA.
//!
//! `reelm certs init` makes that CA (`<data_dir>/certs/ca-cert.pem` and `ca-key.pem`) and one
//! certificate per region (`<data_dir>/regions/<id>/keys/cell-cert.pem` and `cell-key.pem`),
//! valid for the name `<id>.cell.reelm` as both server and client. A cell accepts a peer only
//! when its certificate chains to the CA, and learns the peer's region from the name the
//! certificate is valid for ([`peer_region`]); a client connects only to a server whose
//! certificate is valid for the region it meant to reach. Private keys are written with mode
//! 0600; the CA key is needed only to issue certificates and belongs offline afterwards.

use reelm_core::RegionId;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("cannot make a certificate: {0}")]
    Generate(String),
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// The TLS name of a region's cell: what its certificate is valid for and what a client
/// checks. Not resolved through DNS; the address comes from the region's `cell_addr`.
pub fn cell_name(region: &RegionId) -> String {
    format!("{}.cell.reelm", region.as_str())
}

fn ca_cert_path(data_dir: &Path) -> PathBuf {
    data_dir.join("certs").join("ca-cert.pem")
}

fn ca_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("certs").join("ca-key.pem")
}

fn cell_cert_path(data_dir: &Path, region: &RegionId) -> PathBuf {
    crate::Cell::keys_dir(data_dir, region).join("cell-cert.pem")
}

fn cell_key_path(data_dir: &Path, region: &RegionId) -> PathBuf {
    crate::Cell::keys_dir(data_dir, region).join("cell-key.pem")
}

/// What `reelm certs init` did for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Made {
    pub path: PathBuf,
    /// False when the file existed and was kept.
    pub created: bool,
}

/// The CA's parameters. Rebuilt identically whenever the CA signs (rcgen needs the issuer's
/// name and key, not its certificate), so the issuer of every region certificate is the
/// subject of `ca-cert.pem`.
fn ca_params() -> Result<rcgen::CertificateParams, TlsError> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "reelm cell CA");
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    Ok(params)
}

/// Makes the deployment's CA (unless it exists) and a certificate for every region in
/// `regions` that has none (every region with `force`). Returns what it wrote or kept.
pub fn init(data_dir: &Path, regions: &[RegionId], force: bool) -> Result<Vec<Made>, TlsError> {
    let mut made = Vec::new();
    let gen_err = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let (ca_cert, ca_key) = (ca_cert_path(data_dir), ca_key_path(data_dir));
    let ca_keypair = if ca_key.exists() && ca_cert.exists() {
        made.push(Made {
            path: ca_cert.clone(),
            created: false,
        });
        let pem = read(&ca_key)?;
        rcgen::KeyPair::from_pem(&pem).map_err(|e| TlsError::File {
            path: ca_key.clone(),
            message: format!("not a private key: {e}"),
        })?
    } else {
        let key = rcgen::KeyPair::generate().map_err(gen_err)?;
        let cert = ca_params()?.self_signed(&key).map_err(gen_err)?;
        write(&ca_key, key.serialize_pem().as_bytes(), true)?;
        write(&ca_cert, cert.pem().as_bytes(), false)?;
        made.push(Made {
            path: ca_cert.clone(),
            created: true,
        });
        key
    };
    let issuer = rcgen::Issuer::new(ca_params()?, &ca_keypair);
    for region in regions {
        let (cert_path, key_path) = (
            cell_cert_path(data_dir, region),
            cell_key_path(data_dir, region),
        );
        if !force && cert_path.exists() && key_path.exists() {
            made.push(Made {
                path: cert_path,
                created: false,
            });
            continue;
        }
        let mut params = rcgen::CertificateParams::new(vec![cell_name(region)]).map_err(gen_err)?;
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("reelm cell {}", region.as_str()),
        );
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(825);
        let key = rcgen::KeyPair::generate().map_err(gen_err)?;
        let cert = params.signed_by(&key, &issuer).map_err(gen_err)?;
        write(&key_path, key.serialize_pem().as_bytes(), true)?;
        write(&cert_path, cert.pem().as_bytes(), false)?;
        made.push(Made {
            path: cert_path,
            created: true,
        });
    }
    Ok(made)
}

/// The TLS settings of one cell: as a server (its certificate; peers must present one of
/// the CA) and as a client (the same certificate; servers must present one of the CA).
#[derive(Clone)]
pub struct CellTls {
    pub server: Arc<rustls::ServerConfig>,
    pub client: rustls::ClientConfig,
}

impl std::fmt::Debug for CellTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CellTls").finish_non_exhaustive()
    }
}

impl CellTls {
    /// Loads the CA certificate and `region`'s certificate and key from the data dir.
    pub fn load(data_dir: &Path, region: &RegionId) -> Result<CellTls, TlsError> {
        let hint = "; run `reelm certs init` first";
        let missing = |path: PathBuf| TlsError::File {
            message: format!("missing{hint}"),
            path,
        };
        let ca_path = ca_cert_path(data_dir);
        let cert_path = cell_cert_path(data_dir, region);
        let key_path = cell_key_path(data_dir, region);
        for path in [&ca_path, &cert_path, &key_path] {
            if !path.exists() {
                return Err(missing(path.clone()));
            }
        }
        let pem_err = |path: &Path| {
            let path = path.to_path_buf();
            move |e: rustls::pki_types::pem::Error| TlsError::File {
                path,
                message: format!("not PEM: {e}"),
            }
        };
        let ca = CertificateDer::from_pem_file(&ca_path).map_err(pem_err(&ca_path))?;
        let cert = CertificateDer::from_pem_file(&cert_path).map_err(pem_err(&cert_path))?;
        let key = PrivateKeyDer::from_pem_file(&key_path).map_err(pem_err(&key_path))?;
        let mut roots = RootCertStore::empty();
        roots
            .add(ca)
            .map_err(|e| TlsError::Config(format!("CA certificate: {e}")))?;
        let roots = Arc::new(roots);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config_err = |e: rustls::Error| TlsError::Config(e.to_string());
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            roots.clone(),
            provider.clone(),
        )
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))?;
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(config_err)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![cert.clone()], key.clone_key())
            .map_err(config_err)?;
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(config_err)?
            .with_root_certificates(roots)
            .with_client_auth_cert(vec![cert], key)
            .map_err(config_err)?;
        Ok(CellTls {
            server: Arc::new(server),
            client,
        })
    }
}

/// The region whose cell name the peer's (already CA-verified) certificate is valid for.
pub fn peer_region(cert: &CertificateDer<'_>, regions: &[RegionId]) -> Option<RegionId> {
    let ee = webpki::EndEntityCert::try_from(cert).ok()?;
    regions.iter().find_map(|r| {
        let name = ServerName::try_from(cell_name(r)).ok()?;
        ee.verify_is_valid_for_subject_name(&name)
            .ok()
            .map(|()| r.clone())
    })
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|e| TlsError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Writes a file, replacing it; `secret` files get mode 0600.
fn write(path: &Path, bytes: &[u8], secret: bool) -> Result<(), TlsError> {
    let err = |e: std::io::Error| TlsError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    use std::io::Write;
    opts.open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions() -> Vec<RegionId> {
        ["us", "eu"]
            .iter()
            .map(|r| RegionId::new(r).expect("valid"))
            .collect()
    }

    #[test]
    fn init_makes_a_ca_and_region_certificates_that_name_their_region() {
        let dir = tempfile::tempdir().expect("temp dir");
        let regions = regions();
        let made = init(dir.path(), &regions, false).expect("init");
        assert_eq!(made.len(), 3);
        assert!(made.iter().all(|m| m.created));
        // Again: everything is kept.
        let again = init(dir.path(), &regions, false).expect("init again");
        assert!(again.iter().all(|m| !m.created));
        for r in &regions {
            let tls = CellTls::load(dir.path(), r).expect("load");
            drop(tls);
            let der = CertificateDer::from_pem_file(cell_cert_path(dir.path(), r)).expect("pem");
            assert_eq!(peer_region(&der, &regions).as_ref(), Some(r));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(ca_key_path(dir.path()))
                .expect("ca key")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn loading_without_certificates_says_what_to_run() {
        let dir = tempfile::tempdir().expect("temp dir");
        let err = CellTls::load(dir.path(), &regions()[0]).expect_err("no certs");
        assert!(err.to_string().contains("reelm certs init"), "{err}");
    }
}
