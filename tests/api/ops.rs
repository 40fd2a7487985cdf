//! Running it on a box: what `/health` and `healthcheck` report, schema
//! upgrades (a copy kept before migrating; a newer schema refused), and
//! TLS (HTTP/1.1 and HTTP/2, the certificate reloaded on SIGHUP without
//! dropping connections).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use molecule_tenant::store::migrate::SCHEMA_VERSION;
use rusqlite::Connection;
use serde_json::Value;
use tempfile::TempDir;

use crate::cli::{run, stderr, stdout, Serve};

const BIN: &str = env!("CARGO_BIN_EXE_molecule-tenant");

fn healthcheck(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("healthcheck")
        .args(args)
        .env_remove("MOLECULE_HEALTHCHECK_URL")
        .output()
        .unwrap()
}

#[test]
fn health_names_the_version_and_schema_and_healthcheck_exits_by_it() {
    let dir = TempDir::new().unwrap();
    let d = dir.path().join("d");
    let serve = Serve::start(&d);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let body: Value = agent
        .get(format!("{}/health", serve.base))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["schema_version"], SCHEMA_VERSION);
    assert_eq!(body["following"], true);
    let v = Command::new(BIN).arg("--version").output().unwrap();
    assert_eq!(
        stdout(&v).trim(),
        format!("molecule-tenant {}", env!("CARGO_PKG_VERSION"))
    );

    let ok = healthcheck(&["--url", &format!("{}/health", serve.base)]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(stdout(&ok).starts_with("ok: version "), "{}", stdout(&ok));
    // Not the health route, and nothing listening: unhealthy, 1.
    let wrong = healthcheck(&["--url", &format!("{}/nope", serve.base)]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(stderr(&wrong).contains("answered 404"), "{}", stderr(&wrong));
    serve.terminate();
    let down = healthcheck(&["--url", "http://127.0.0.1:9/health", "--timeout", "2s"]);
    assert_eq!(down.status.code(), Some(1));
    assert!(stderr(&down).contains("cannot be reached"), "{}", stderr(&down));
}

#[test]
fn commits_by_other_processes_are_looked_at_and_applied_only_when_they_change_credentials() {
    let dir = TempDir::new().unwrap();
    let d = dir.path().join("d");
    let admin = stdout(&run(&["mint-key", "--label", "admin"], &d)).trim().to_string();
    let serve = Serve::start(&d);
    let followed = |outcome: &str| -> u64 {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let text = agent
            .get(format!("{}/metrics", serve.base))
            .header("Authorization", format!("Bearer {admin}"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let name = format!("molecule_followed_commits_total{{credentials=\"{outcome}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&name))
            .unwrap_or_else(|| panic!("{text}"))
            .parse()
            .unwrap()
    };
    let (unchanged, applied) = (followed("unchanged"), followed("applied"));
    // A replicator's bookkeeping (Litestream keeps such a table): a commit
    // that changes no credential is looked at, not applied.
    let conn = Connection::open(d.join("molecule.db")).unwrap();
    conn.execute_batch("CREATE TABLE _replicator_seq (id INTEGER PRIMARY KEY, seq INTEGER)")
        .unwrap();
    for i in 0..5 {
        conn.execute("INSERT INTO _replicator_seq (seq) VALUES (?1)", [i])
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(followed("unchanged") >= unchanged + 5);
    assert_eq!(followed("applied"), applied);
    // A key minted on the box is applied.
    assert!(run(&["mint-key", "--label", "second"], &d).status.success());
    assert_eq!(followed("applied"), applied + 1);
}

/// Takes a fresh database back to schema version 4, as an earlier release
/// left it.
fn as_version_4(db: &Path) {
    let conn = Connection::open(db).unwrap();
    conn.execute_batch(
        "DROP INDEX workspaces_live; DROP INDEX approvals_pending_by_workspace; DROP INDEX sessions_open;
         DROP TABLE org_policy; DROP TABLE expiry_notices; DROP TABLE cred_activity;
         ALTER TABLE org_keys DROP COLUMN description; ALTER TABLE org_keys DROP COLUMN disabled_at;
         ALTER TABLE org_keys DROP COLUMN allowed_cidrs; ALTER TABLE org_keys DROP COLUMN rate_limit_requests;
         ALTER TABLE org_keys DROP COLUMN rate_limit_seconds; ALTER TABLE org_keys DROP COLUMN last_used_ip;
         ALTER TABLE org_keys DROP COLUMN last_used_user_agent;
         ALTER TABLE workspace_tokens DROP COLUMN last_used_ip;
         ALTER TABLE workspace_tokens DROP COLUMN last_used_user_agent;
         PRAGMA user_version = 4;",
    )
    .unwrap();
}

fn version(db: &Path) -> i64 {
    Connection::open(db)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn an_upgrade_keeps_a_copy_of_the_old_database_and_an_older_binary_refuses_a_newer_one() {
    let dir = TempDir::new().unwrap();
    let d = dir.path().join("d");
    let key = stdout(&run(&["mint-key", "--label", "before-upgrade"], &d))
        .trim()
        .to_string();
    as_version_4(&d.join("molecule.db"));
    // The new binary starts on it: migrated forward, the old one kept.
    let serve = Serve::start(&d);
    assert_eq!(serve.status("/org/whoami", &key), 200);
    serve.terminate();
    assert_eq!(version(&d.join("molecule.db")), SCHEMA_VERSION);
    let kept: Vec<_> = std::fs::read_dir(d.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let name = kept[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("molecule-schema-v4-"), "{name}");
    assert_eq!(version(&kept[0]), 4);
    let old: i64 = Connection::open(&kept[0])
        .unwrap()
        .query_row("SELECT count(*) FROM org_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(old, 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kept[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the copy is owner-only");
    }
    // Nothing more to migrate: no second copy.
    assert!(run(&["list-keys"], &d).status.success());
    assert_eq!(std::fs::read_dir(d.join("backups")).unwrap().count(), 1);

    // A database from a newer binary: refused, in words, untouched.
    Connection::open(d.join("molecule.db"))
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let o = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&d)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains(&format!("schema version {}", SCHEMA_VERSION + 1))
            && err.contains("newer than this binary")
            && err.contains("backups/"),
        "{err}"
    );
    assert_eq!(version(&d.join("molecule.db")), SCHEMA_VERSION + 1);
    assert_eq!(std::fs::read_dir(d.join("backups")).unwrap().count(), 1);
}

/// A self-signed certificate for localhost and 127.0.0.1, by openssl (not
/// a CA: webpki refuses a CA certificate as the server's own).
fn certificate(dir: &Path, name: &str) -> (String, String) {
    let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    let o = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
        ])
        .args([
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (apt-get install openssl)");
    assert!(o.status.success(), "{}", stderr(&o));
    (cert.display().to_string(), key.display().to_string())
}

/// A TLS client trusting only `ca`, on one connection that stays open.
struct Conn(rustls::StreamOwned<rustls::ClientConnection, TcpStream>);

impl Conn {
    fn open(port: u16, ca: &str) -> Conn {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls::pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = "localhost".try_into().unwrap();
        let tls = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        Conn(rustls::StreamOwned::new(
            tls,
            TcpStream::connect(("127.0.0.1", port)).unwrap(),
        ))
    }

    /// `GET /health` on this connection: the status line.
    fn health(&mut self) -> String {
        self.0
            .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        // The body is small JSON: read until its closing brace.
        while !got.ends_with(b"}") {
            let n = self.0.read(&mut buf).unwrap();
            assert!(n > 0, "the connection closed");
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).lines().next().unwrap().to_string()
    }
}

#[test]
fn tls_serves_http1_and_http2_and_a_sighup_swaps_the_certificate_without_dropping_connections() {
    let dir = TempDir::new().unwrap();
    let d = dir.path().join("d");
    let (a_cert, a_key) = certificate(dir.path(), "first");
    let (b_cert, b_key) = certificate(dir.path(), "second");
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::copy(&a_cert, &cert).unwrap();
    std::fs::copy(&a_key, &key).unwrap();
    let flags = ["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()];
    let serve = Serve::start_with(&d, &flags, "https");
    let port: u16 = serve.base.rsplit(':').next().unwrap().parse().unwrap();
    let url = format!("{}/health", serve.base);
    let check = |ca: &str| healthcheck(&["--url", &url, "--ca-cert", ca]).status.code();
    assert_eq!(check(&a_cert), Some(0));
    assert_eq!(check(&b_cert), Some(1), "another certificate is not trusted");
    // Plain http to a TLS port is refused, and the public roots do not
    // vouch for a self-signed certificate.
    assert_eq!(
        healthcheck(&["--url", &format!("http://127.0.0.1:{port}/health"), "--timeout", "2s"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(healthcheck(&["--url", &url]).status.code(), Some(1));
    // HTTP/2 by ALPN (curl asks for it), HTTP/1.1 for those who do not.
    for (flag, want) in [("--http2", "2"), ("--http1.1", "1.1")] {
        let o = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_version}",
                flag,
                "--cacert",
                &a_cert,
                &url,
            ])
            .output()
            .expect("curl");
        assert_eq!(stdout(&o), want, "{flag}: {}", stderr(&o));
    }

    // A connection opened before the swap goes on after it.
    let mut before = Conn::open(port, &a_cert);
    assert_eq!(before.health(), "HTTP/1.1 200 OK");
    std::fs::copy(&b_cert, &cert).unwrap();
    std::fs::copy(&b_key, &key).unwrap();
    let pid = serve.child.id().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    let mut swapped = false;
    for _ in 0..100 {
        if check(&b_cert) == Some(0) {
            swapped = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(swapped, "new handshakes get the new certificate");
    assert_eq!(check(&a_cert), Some(1));
    assert_eq!(before.health(), "HTTP/1.1 200 OK", "the old connection was not dropped");

    // A reload that fails keeps the certificate in use.
    std::fs::write(&cert, "not a certificate").unwrap();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(check(&b_cert), Some(0));
    assert!(serve.terminate().success());
}

#[test]
fn a_command_run_as_another_user_than_the_data_dir_s_owner_is_refused_and_writes_nothing() {
    let dir = TempDir::new().unwrap();
    let d = dir.path().join("d");
    std::fs::create_dir(&d).unwrap();
    // Only root can give the dir away; as anyone else there is no one to be.
    if std::os::unix::fs::chown(&d, Some(65534), Some(65534)).is_err() {
        return;
    }
    let backup = dir.path().join("b.db");
    for args in [
        &["mint-key", "--label", "as-root"][..],
        &["restore", "--from", backup.to_str().unwrap()][..],
        &["serve", "--listen", "127.0.0.1:0"][..],
    ] {
        let o = run(args, &d);
        assert!(!o.status.success(), "{args:?}");
        assert!(stderr(&o).contains("belongs to uid 65534"), "{args:?}: {}", stderr(&o));
        // Not even a lock file: the owner's own server must not be locked out.
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0, "{args:?} wrote nothing");
    }
}
