//! HTTPS: the S3 listener behind `--tls-cert` / `--tls-key`, and a certificate swapped by
//! SIGHUP without a restart.

use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::support::Server;

/// A self-signed certificate for 127.0.0.1 and localhost, written as PEM files; returns
/// its DER form for a client to trust.
fn write_cert(dir: &Path, name: &str) -> CertificateDer<'static> {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    cert.der().clone()
}

/// One HTTP/1.1 GET over TLS, trusting only `trusted`; answers the response and the
/// certificate the server presented.
async fn get(
    address: &str,
    path: &str,
    trusted: &CertificateDer<'static>,
) -> Result<(String, Vec<u8>), String> {
    let mut roots = RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(address).await.map_err(|e| e.to_string())?;
    let mut tls = connector
        .connect(ServerName::IpAddress(tcp.peer_addr().unwrap().ip().into()), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let presented = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    tls.write_all(format!("GET {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    Ok((text, presented))
}

#[tokio::test]
async fn https_serves_s3_and_reloads_its_certificate_on_sighup() {
    let temp = tempfile::tempdir().unwrap();
    let first = write_cert(temp.path(), "first");
    let cert = temp.path().join("cert.pem");
    let key = temp.path().join("key.pem");
    let server = Server::start_in(
        temp.path(),
        &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()],
    );
    assert!(server.endpoint.starts_with("https://"), "{}", server.endpoint);

    let (health, presented) = get(&server.address, "/_rucket/health/live", &first).await.unwrap();
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert_eq!(presented, first.to_vec());
    // The S3 API answers over TLS too (an unsigned ListBuckets is refused in S3's words).
    let (s3, _) = get(&server.address, "/", &first).await.unwrap();
    assert!(s3.starts_with("HTTP/1.1 403") && s3.contains("<Code>AccessDenied</Code>"), "{s3}");
    // A client that does not trust the certificate gets no answer.
    let elsewhere = tempfile::tempdir().unwrap();
    let stranger = write_cert(elsewhere.path(), "stranger");
    assert!(get(&server.address, "/_rucket/health/live", &stranger).await.is_err());

    // A broken file on SIGHUP keeps the old certificate in use.
    std::fs::write(&cert, "not a certificate").unwrap();
    server.signal(nix::sys::signal::Signal::SIGHUP);
    let log = temp.path().join("server.log");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("could not reload the TLS certificate")
    {
        assert!(tokio::time::Instant::now() < deadline, "the failed reload was never logged");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (health, presented) = get(&server.address, "/_rucket/health/live", &first).await.unwrap();
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert_eq!(presented, first.to_vec(), "the old certificate is still served");
    let second = write_cert(temp.path(), "second");
    server.signal(nix::sys::signal::Signal::SIGHUP);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Ok((health, presented)) = get(&server.address, "/_rucket/health/live", &second).await {
            assert!(health.starts_with("HTTP/1.1 200"), "{health}");
            assert_eq!(presented, second.to_vec());
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the new certificate was never served");
        tokio::task::yield_now().await;
    }
}
