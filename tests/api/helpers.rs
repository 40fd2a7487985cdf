//! Spawns the real server in-process on port 0 with a temp data dir, and
//! talks to it over HTTP.

use std::sync::mpsc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::web::Data;
use molecule_tenant::clock::Clock;
use molecule_tenant::domain::keys::NewKey;
use molecule_tenant::domain::role::Role;
use molecule_tenant::domain::token::{generate, TokenKind};
use molecule_tenant::http::server::Application;
use molecule_tenant::service::App as AppState;
use molecule_tenant::settings::Settings;
use molecule_tenant::store::keys;
use serde_json::{json, Value};
use tempfile::TempDir;

pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub www_authenticate: Option<String>,
    pub headers: std::collections::BTreeMap<String, String>,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

pub struct TestApp {
    pub base: String,
    /// An unbound admin key seeded like the CLI does.
    pub admin: String,
    pub clock: Clock,
    pub state: Data<AppState>,
    pub dir: TempDir,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    agent: ureq::Agent,
}

pub fn spawn_app() -> TestApp {
    spawn_with(|_| {})
}

pub fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::new("127.0.0.1:0", dir.path().join("data"));
    settings.workers = 2;
    tweak(&mut settings);
    let clock = Clock::default();
    let (tx, rx) = mpsc::channel();
    let server_clock = clock.clone();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let app = Application::build(settings, server_clock).expect("build app");
            tx.send((app.port(), app.handle(), app.state())).expect("send");
            app.run_until_stopped().await
        })
    });
    let (port, handle, state) = rx.recv_timeout(Duration::from_secs(30)).expect("server start");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut app = TestApp {
        base: format!("http://127.0.0.1:{port}"),
        admin: String::new(),
        clock,
        state,
        dir,
        handle,
        thread: Some(thread),
        agent,
    };
    app.admin = app.seed_key("seed-admin", Role::Admin, &[], None);
    app
}

impl TestApp {
    /// Stops the server and waits until it has let go of the data dir (one
    /// server per data dir), keeping the dir for another to open.
    pub fn stop_server(&mut self) {
        drop(self.handle.stop(false));
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread").expect("server");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sends the stop command at once; nothing needs to await it.
        drop(self.handle.stop(false));
    }
}

pub fn read_response(mut res: ureq::http::Response<ureq::Body>) -> Resp {
    let status = res.status().as_u16();
    // A header sent several times (Set-Cookie) keeps every value, one per
    // line, in the order sent.
    let mut headers = std::collections::BTreeMap::<String, String>::new();
    for (k, v) in res.headers() {
        let Ok(v) = v.to_str() else { continue };
        headers
            .entry(k.as_str().to_string())
            .and_modify(|all| {
                all.push('\n');
                all.push_str(v);
            })
            .or_insert_with(|| v.to_string());
    }
    let www_authenticate = headers.get("www-authenticate").cloned();
    let text = res.body_mut().read_to_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        body,
        text,
        www_authenticate,
        headers,
    }
}
impl TestApp {
    /// Inserts a key through the storage layer, as `mint-key` does (without
    /// its audit entry).
    pub fn seed_key(&self, name: &str, role: Role, workspaces: &[&str], expires_at: Option<i64>) -> String {
        let new = NewKey {
            name: name.into(),
            role,
            workspaces: workspaces.iter().map(|s| s.parse().expect("a workspace id")).collect(),
            expires_at,
            created_by: "cli".into(),
            limits: Default::default(),
        };
        let minted = generate(TokenKind::Org).expect("RNG");
        self.state
            .db
            .write(self.clock.now_ms(), |ctx| keys::insert(ctx, &new, &minted))
            .expect("seed key");
        minted.plaintext
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn get(&self, path: &str, token: &str) -> Resp {
        let mut req = self.agent.get(self.url(path));
        if !token.is_empty() {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        read_response(req.call().expect("GET"))
    }

    /// A GET with a token and extra headers; the raw body is kept too.
    pub fn get_raw(&self, path: &str, token: &str, headers: &[(&str, &str)]) -> (Resp, Vec<u8>) {
        let mut req = self.agent.get(self.url(path));
        if !token.is_empty() {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut res = req.call().expect("GET");
        let bytes = res.body_mut().read_to_vec().unwrap_or_default();
        let status = res.status().as_u16();
        let mut headers = std::collections::BTreeMap::new();
        for (k, v) in res.headers() {
            headers.insert(k.as_str().to_string(), v.to_str().unwrap_or("").to_string());
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        let resp = Resp {
            status,
            body,
            text,
            www_authenticate: headers.get("www-authenticate").cloned(),
            headers,
        };
        (resp, bytes)
    }

    pub fn get_with_header(&self, path: &str, name: &str, value: &str) -> Resp {
        read_response(self.agent.get(self.url(path)).header(name, value).call().expect("GET"))
    }

    pub fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        let req = self
            .agent
            .post(self.url(path))
            .header("Authorization", format!("Bearer {token}"));
        read_response(req.send_json(&body).expect("POST"))
    }

    pub fn post_empty(&self, path: &str, token: &str) -> Resp {
        let req = self
            .agent
            .post(self.url(path))
            .header("Authorization", format!("Bearer {token}"));
        read_response(req.send_empty().expect("POST"))
    }

    pub fn post_raw(&self, path: &str, token: &str, content_type: &str, body: &[u8]) -> Resp {
        let req = self
            .agent
            .post(self.url(path))
            .header("Authorization", format!("Bearer {token}"))
            .content_type(content_type);
        read_response(req.send(body).expect("POST"))
    }

    pub fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        let req = self
            .agent
            .put(self.url(path))
            .header("Authorization", format!("Bearer {token}"));
        read_response(req.send_json(&body).expect("PUT"))
    }

    pub fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        let req = self
            .agent
            .patch(self.url(path))
            .header("Authorization", format!("Bearer {token}"));
        read_response(req.send_json(&body).expect("PATCH"))
    }

    pub fn delete(&self, path: &str, token: &str) -> Resp {
        let req = self
            .agent
            .delete(self.url(path))
            .header("Authorization", format!("Bearer {token}"));
        read_response(req.call().expect("DELETE"))
    }

    /// Mints an org key over HTTP with the admin key; returns the 201 body.
    pub fn mint(&self, body: Value) -> Value {
        let r = self.post("/org/tokens", &self.admin, body);
        assert_eq!(r.status, 201, "{}", r.text);
        r.body
    }

    pub fn mint_role(&self, role: &str, workspaces: &[&str]) -> String {
        let b = self.mint(json!({"name": format!("{role}-key"), "role": role, "workspaces": workspaces}));
        b["auth_token"].as_str().unwrap().to_string()
    }

    /// Creates a workspace with the admin key; returns (id, workspace token).
    pub fn workspace(&self, name: &str, parent: Option<&str>) -> (String, String) {
        let r = self.post("/workspaces", &self.admin, json!({"name": name, "parent_id": parent}));
        assert_eq!(r.status, 201, "{}", r.text);
        (
            r.body["id"].as_str().unwrap().into(),
            r.body["auth_token"].as_str().unwrap().into(),
        )
    }

    pub fn db_bytes(&self) -> Vec<u8> {
        let dir = self.dir.path().join("data");
        let mut all = Vec::new();
        for f in ["molecule.db", "molecule.db-wal"] {
            all.extend(std::fs::read(dir.join(f)).unwrap_or_default());
        }
        all
    }
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A fixture directory as a template's files map (relative path → text).
pub fn fixture_files(dir: &str) -> std::collections::BTreeMap<String, String> {
    fn walk(root: &std::path::Path, at: &std::path::Path, out: &mut std::collections::BTreeMap<String, String>) {
        for entry in std::fs::read_dir(at).expect("fixture dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                out.insert(rel, std::fs::read_to_string(&path).expect("fixture file"));
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(dir);
    let mut out = std::collections::BTreeMap::new();
    walk(&root, &root, &mut out);
    out
}

impl TestApp {
    /// Registers a plugin over HTTP with one file.
    pub fn plugin(&self, name: &str) {
        let r = self.post(
            "/plugins",
            &self.admin,
            json!({"name": name, "version": "1.0.0", "files": {"plugin.yaml": format!("name: {name}\n")}}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
    }

    /// Rows in a table, read straight from the database.
    pub fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {table}");
        self.state
            .db
            .read(move |c| Ok(c.query_row(&sql, [], |r| r.get(0))?))
            .expect("count")
    }
}

impl TestApp {
    pub fn put_allowlist(&self, names: &[&str]) {
        let req = self
            .agent
            .put(self.url("/org/plugins/allowlist"))
            .header("Authorization", format!("Bearer {}", self.admin));
        let r = read_response(req.send_json(json!({"plugins": names})).expect("PUT"));
        assert_eq!(r.status, 200, "{}", r.text);
    }
}
