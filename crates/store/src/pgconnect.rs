//! Connecting to the database that holds the log: plain, or over TLS when the connection
//! string asks for it with `sslmode=require`.
//!
//! Over TLS the server's certificate is always verified, against the certificates of
//! `sslrootcert=FILE` (PEM; libpq's name for it) when the connection string gives one, else
//! against the system's trusted roots. The client library does not know `sslrootcert`, so it
//! is taken out of the string before the rest is parsed.

use std::sync::Arc;

use postgres::config::SslMode;
use postgres::{Client, NoTls};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::error::StoreError;

fn refused(detail: String) -> StoreError {
    StoreError::Upstream(format!("cannot connect to the database: {detail}"))
}

/// The client's error with its causes: "error performing TLS handshake" alone does not say
/// that the certificate was not trusted.
fn chain(e: &postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Connects to `url` (a `postgres://` URL or a key=value string).
pub(crate) fn connect(url: &str) -> Result<Client, StoreError> {
    let (rest, root_file) = take_root_cert(url);
    let config: postgres::Config = rest
        .parse()
        .map_err(|e: postgres::Error| refused(chain(&e)))?;
    if config.get_ssl_mode() != SslMode::Require {
        return config.connect(NoTls).map_err(|e| refused(chain(&e)));
    }
    let mut roots = rustls::RootCertStore::empty();
    match &root_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| refused(format!("sslrootcert {path}: {e}")))?;
            for cert in certs {
                let cert = cert.map_err(|e| refused(format!("sslrootcert {path}: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| refused(format!("sslrootcert {path}: {e}")))?;
            }
        }
        None => {
            // Certificates the system store cannot parse are passed over, as browsers do.
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| refused(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config
        .connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
        .map_err(|e| refused(chain(&e)))
}

/// Splits `sslrootcert` off a connection string: URL query parameter or key=value pair.
fn take_root_cert(url: &str) -> (String, Option<String>) {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_string(), None);
        };
        let mut root = None;
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| match pair.strip_prefix("sslrootcert=") {
                Some(value) => {
                    root = Some(percent_decoded(value));
                    false
                }
                None => true,
            })
            .collect();
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return (rest, root);
    }
    let mut root = None;
    let kept: Vec<&str> = url
        .split_whitespace()
        .filter(|pair| match pair.strip_prefix("sslrootcert=") {
            Some(value) => {
                root = Some(value.to_string());
                false
            }
            None => true,
        })
        .collect();
    (kept.join(" "), root)
}

fn percent_decoded(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = || std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok();
        match (bytes[i], hex().and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::take_root_cert;

    #[test]
    fn sslrootcert_is_taken_out_of_urls_and_key_value_strings() {
        assert_eq!(
            take_root_cert("postgres://u@h/db?sslmode=require&sslrootcert=%2Fetc%2Fca.pem"),
            (
                "postgres://u@h/db?sslmode=require".to_string(),
                Some("/etc/ca.pem".to_string())
            )
        );
        assert_eq!(
            take_root_cert("postgres://u@h/db?sslrootcert=/ca.pem"),
            ("postgres://u@h/db".to_string(), Some("/ca.pem".to_string()))
        );
        assert_eq!(
            take_root_cert("host=h sslrootcert=/ca.pem sslmode=require"),
            (
                "host=h sslmode=require".to_string(),
                Some("/ca.pem".to_string())
            )
        );
        assert_eq!(
            take_root_cert("postgres://u@h/db"),
            ("postgres://u@h/db".to_string(), None)
        );
    }
}
