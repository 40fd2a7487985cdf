//! The real binary: `mint-key`, `list-keys`, `revoke-key`, `audit verify`,
//! and `serve` as a child process.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_molecule-tenant");

pub(crate) fn run(args: &[&str], data_dir: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("MOLECULE_KEY_LABEL")
        .output()
        .expect("run the binary")
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub(crate) struct Serve {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Serve {
    pub(crate) fn start(data_dir: &Path) -> Serve {
        Serve::start_with(data_dir, &[], "http")
    }

    /// With more flags (`--tls-cert …`), spoken to over `scheme`.
    pub(crate) fn start_with(data_dir: &Path, extra: &[&str], scheme: &str) -> Serve {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let port = loop {
            let line = lines.next().expect("serve exited before listening").unwrap();
            if let Some(rest) = line.split("\"port\":").nth(1) {
                break rest
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .unwrap()
                    .parse::<u16>()
                    .unwrap();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Serve {
            child,
            base: format!("{scheme}://127.0.0.1:{port}"),
        }
    }

    pub(crate) fn status(&self, path: &str, token: &str) -> u16 {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .unwrap()
            .status()
            .as_u16()
    }

    pub(crate) fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("serve did not stop on SIGTERM");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn mint_key_prints_only_the_token_on_stdout() {
    let dir = TempDir::new().unwrap();
    let o = run(
        &[
            "mint-key",
            "--label",
            "me",
            "--role",
            "read-only",
            "--expires-in",
            "30d",
        ],
        &dir.path().join("d"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1);
    let token = out.trim_end();
    assert!(token.starts_with("mol_org_") && token.len() == 57, "{token}");
    assert!(!stderr(&o).contains(token), "details only, never the token, on stderr");
    assert!(stderr(&o).contains("read-only"));
}

#[test]
fn login_url_prints_a_one_time_link_that_a_running_server_honours_once() {
    let dir = TempDir::new().unwrap();
    let d = dir.path().join("d");
    let serve = Serve::start(&d);
    let o = run(&["login-url", "--base-url", &format!("{}/", serve.base)], &d);
    assert!(o.status.success(), "{}", stderr(&o));
    let link = stdout(&o).trim_end().to_string();
    assert!(
        link.starts_with(&format!("{}/login?code=mol_login_", serve.base)),
        "{link}"
    );
    assert!(stderr(&o).contains("works once"));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    // Fetching the link spends nothing; the page's POST does, once.
    assert_eq!(agent.get(&link).call().unwrap().status(), 200);
    let code = link.split("code=").nth(1).unwrap();
    let spend = || {
        agent
            .post(format!("{}/login", serve.base))
            .header("X-Molecule-UI", "1")
            .send_json(serde_json::json!({ "code": code }))
            .unwrap()
    };
    let first = spend();
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("set-cookie").is_some());
    assert_eq!(spend().status(), 400);

    for (args, flag) in [
        (&["login-url", "--base-url", "ftp://x"][..], "--base-url"),
        (&["login-url", "--base-url", "http://h/path"][..], "--base-url"),
        (&["login-url", "--ttl", "2h"][..], "--ttl"),
        (&["login-url", "--ttl", "0s"][..], "--ttl"),
    ] {
        let o = run(args, &d);
        assert!(!o.status.success(), "{args:?}");
        assert!(stderr(&o).contains(flag), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty());
    }
}

#[test]
fn end_sessions_on_the_box_signs_every_browser_out_at_once() {
    let dir = TempDir::new().unwrap();
    let d = dir.path().join("d");
    let token = stdout(&run(&["mint-key", "--label", "a"], &d)).trim().to_string();
    let serve = Serve::start(&d);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let r = agent
        .post(format!("{}/org/sessions", serve.base))
        .header("Authorization", format!("Bearer {token}"))
        .send_empty()
        .unwrap();
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let whoami = || {
        agent
            .get(format!("{}/org/whoami", serve.base))
            .header("Cookie", &cookie)
            .call()
            .unwrap()
            .status()
    };
    assert_eq!(whoami(), 200);
    let o = run(&["end-sessions"], &d);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("ended 1 browser session"), "{}", stderr(&o));
    assert_eq!(whoami(), 401, "refused on the very next request");
    assert_eq!(serve.status("/org/whoami", &token), 200, "keys are untouched");
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused_and_the_first_keeps_serving() {
    let dir = TempDir::new().unwrap();
    let d = dir.path().join("d");
    let token = stdout(&run(&["mint-key", "--label", "a"], &d)).trim().to_string();
    let serve = Serve::start(&d);
    let o = run(&["serve", "--listen", "127.0.0.1:0"], &d);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("one server per data dir"), "{}", stderr(&o));
    assert_eq!(serve.status("/org/whoami", &token), 200);
}

#[test]
fn cli_errors_name_the_flag_and_its_environment_variable() {
    let dir = TempDir::new().unwrap();
    let d = dir.path().join("d");
    let cases: [(&[&str], &str, &str); 5] = [
        (&["mint-key"], "--label", "MOLECULE_KEY_LABEL"),
        (
            &["mint-key", "--label", "x", "--role", "owner"],
            "--role",
            "MOLECULE_KEY_ROLE",
        ),
        (
            &["mint-key", "--label", "x", "--expires-in", "soonish"],
            "--expires-in",
            "MOLECULE_KEY_EXPIRES_IN",
        ),
        (
            &["mint-key", "--label", "x", "--workspace", "nope"],
            "--workspace",
            "MOLECULE_KEY_WORKSPACES",
        ),
        (&["list-keys"], "--data-dir", "MOLECULE_DATA_DIR"),
    ];
    for (args, flag, env) in cases {
        let o = run(args, &d);
        assert!(!o.status.success(), "{args:?}");
        let err = stderr(&o);
        assert!(err.contains(flag) && err.contains(env), "{args:?}: {err}");
        assert!(stdout(&o).is_empty(), "{args:?}");
    }
    let o = Command::new(BIN)
        .args(["serve", "--idle-after", "forever", "--data-dir"])
        .arg(&d)
        .output()
        .unwrap();
    assert!(
        stderr(&o).contains("--idle-after") && stderr(&o).contains("MOLECULE_IDLE_AFTER"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn every_flag_has_help_text_and_an_env_var() {
    for cmd in ["serve", "mint-key", "list-keys", "revoke-key"] {
        let o = Command::new(BIN).args([cmd, "--help"]).output().unwrap();
        let help = stdout(&o);
        let flags = help.lines().filter(|l| l.trim_start().starts_with("--")).count();
        // clap wraps long lines; compare on the text with whitespace collapsed.
        let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
        let documented = flat.matches("[env: MOLECULE_").count();
        assert!(
            flags > 0 && documented >= flags,
            "{cmd}: {flags} flags, {documented} env vars:\n{help}"
        );
    }
}

#[test]
fn mint_and_revoke_on_the_box_take_effect_on_a_running_server_at_once() {
    let dir = TempDir::new().unwrap();
    let d = dir.path().join("data");
    let first = stdout(&run(&["mint-key", "--label", "bootstrap"], &d))
        .trim()
        .to_string();
    let serve = Serve::start(&d);
    assert_eq!(serve.status("/workspaces", &first), 200);

    let second = run(&["mint-key", "--label", "while-running"], &d);
    assert!(second.status.success(), "{}", stderr(&second));
    let second = stdout(&second).trim().to_string();
    assert_eq!(
        serve.status("/workspaces", &second),
        200,
        "a CLI-minted key works on the next request"
    );

    let listed = stdout(&run(&["list-keys"], &d));
    assert!(listed.contains("bootstrap") && listed.contains("while-running"));
    assert!(!listed.contains(&first) && !listed.contains(&second));

    let revoke = run(&["revoke-key", &second[..16]], &d);
    assert!(revoke.status.success(), "{}", stderr(&revoke));
    assert_eq!(
        serve.status("/workspaces", &second),
        401,
        "a CLI revoke bites on the next request"
    );
    assert_eq!(serve.status("/workspaces", &first), 200);

    let status = serve.terminate();
    assert!(status.success(), "graceful shutdown on SIGTERM: {status:?}");
    let json = stdout(&run(&["list-keys", "--json"], &d));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["count"], 1);
    assert!(
        v["tokens"][0]["last_used_at"].is_string(),
        "usage is written down on shutdown"
    );
    let verify = run(&["audit", "verify"], &d);
    assert!(stdout(&verify).contains("intact"), "{}", stdout(&verify));
}

#[test]
fn revoke_key_takes_an_exact_id_prefix_or_token_and_never_echoes_a_token() {
    let dir = TempDir::new().unwrap();
    let d = dir.path().join("d");
    let a = stdout(&run(&["mint-key", "--label", "a"], &d)).trim().to_string();
    let b = stdout(&run(&["mint-key", "--label", "b"], &d)).trim().to_string();
    for partial in ["mol_org_", &a[..12], "something", &a[..a.len() - 1]] {
        let o = run(&["revoke-key", partial], &d);
        assert!(!o.status.success(), "{partial}");
        assert!(stderr(&o).contains("16-character prefix"), "{}", stderr(&o));
        assert!(!stderr(&o).contains(&a[8..20]), "the argument is not echoed");
    }
    let o = run(&["revoke-key", "mol_org_zzzzzzzz"], &d);
    assert!(stderr(&o).contains("no live org key"), "{}", stderr(&o));
    assert_eq!(
        stdout(&run(&["list-keys", "--json"], &d)).matches("\"id\"").count(),
        2,
        "nothing revoked"
    );

    let o = run(&["revoke-key", &b], &d);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains(&b), "the token is never printed");
    let o = run(&["revoke-key", &a[..16]], &d);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&run(&["list-keys", "--json"], &d)).matches("\"id\"").count(), 0);
}

#[test]
fn every_cli_mint_and_revoke_is_seen_by_the_very_next_request() {
    let dir = TempDir::new().unwrap();
    let d = dir.path().join("data");
    let admin = stdout(&run(&["mint-key", "--label", "admin"], &d)).trim().to_string();
    let serve = Serve::start(&d);
    assert_eq!(serve.status("/org/whoami", &admin), 200);
    for i in 0..20 {
        let token = stdout(&run(&["mint-key", "--label", &format!("k{i}")], &d))
            .trim()
            .to_string();
        assert_eq!(
            serve.status("/org/whoami", &token),
            200,
            "round {i}: a CLI mint works at once"
        );
        assert!(run(&["revoke-key", &token], &d).status.success());
        assert_ne!(
            serve.status("/org/whoami", &token),
            200,
            "round {i}: a CLI revoke bites at once"
        );
        assert_eq!(serve.status("/org/whoami", &admin), 200);
    }
}
