//! Building and running the HTTP server, and its background flusher.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use actix_web::dev::{Server, ServerHandle, Service};
use actix_web::{web, App, HttpMessage, HttpServer};
use anyhow::Context;
use serde_json::json;

use crate::auth::{AuthFailures, Caller};
use crate::clock::Clock;
use crate::db::audit::{self, Actor};
use crate::db::{keys, sessions, tokens, Db};
use crate::routes;
use crate::state::{AppState, Settings};
use crate::token::TokenKind;

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    flusher: Flusher,
    _watch: Watch,
    /// Last, so it is released only after everything else has stopped.
    _serve_lock: std::fs::File,
}

/// Takes the data dir's lock exclusively. A CLI command may hold it shared
/// for an instant (to see whether a server runs), so a few tries are made.
fn lock_data_dir(lock: &std::fs::File, dir: &std::path::Path) -> anyhow::Result<()> {
    for _ in 0..50 {
        match lock.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) => std::thread::sleep(std::time::Duration::from_millis(20)),
            Err(std::fs::TryLockError::Error(e)) => return Err(e).context("locking the data dir"),
        }
    }
    anyhow::bail!(
        "another molecule-tenant serve is using {} (--data-dir / MOLECULE_DATA_DIR); one server per data dir",
        dir.display()
    )
}

/// Applies commits made by other processes to the credential map, and
/// records what it has applied for the CLI to wait on (handshake.rs).
struct Watch {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watch {
    fn start(state: Arc<AppState>, mut watcher: crate::db::Watcher) -> anyhow::Result<Watch> {
        let dir = state.settings.data_dir.clone();
        let mut recorded = state.db.creds.seen_seq();
        crate::handshake::record(&dir, recorded).context("writing serve.synced")?;
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("watcher".into())
            .spawn(move || {
                let mut failing = false;
                while !s.load(Ordering::Relaxed) {
                    std::thread::park_timeout(crate::handshake::WATCH_INTERVAL);
                    let res = state.db.watch(&mut watcher).and_then(|seq| {
                        if seq != recorded {
                            crate::handshake::record(&dir, seq)
                                .map_err(|e| crate::db::StoreError::Other(e.to_string()))?;
                            recorded = seq;
                        }
                        Ok(())
                    });
                    state.following.store(res.is_ok(), Ordering::Relaxed);
                    // Said once per outage, not every 2 ms.
                    match res {
                        Err(e) if !failing => {
                            tracing::error!(error = %e, "cannot follow changes made on the box; CLI changes wait");
                            failing = true;
                        }
                        Ok(()) if failing => {
                            tracing::info!("following changes made on the box again");
                            failing = false;
                        }
                        _ => {}
                    }
                }
            })
            .context("starting the watcher thread")?;
        Ok(Watch {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl Application {
    /// Opens the database, loads credentials and binds the listener; the
    /// server starts serving when `run_until_stopped` is awaited.
    pub fn build(settings: Settings, clock: Clock) -> anyhow::Result<Application> {
        crate::data_dir::create(&settings.data_dir)?;
        // One server per data dir, holding this lock while it serves:
        // `restore` refuses to run under it, and the CLI knows from it that
        // a server must confirm its changes (see handshake.rs).
        let serve_lock = crate::backup::serve_lock(&settings.data_dir)?;
        lock_data_dir(&serve_lock, &settings.data_dir)?;
        crate::handshake::forget(&settings.data_dir).context("clearing serve.synced")?;
        let db = Arc::new(Db::open(&settings.data_dir).with_context(|| {
            format!(
                "opening the database in {} (--data-dir / MOLECULE_DATA_DIR)",
                settings.data_dir.display()
            )
        })?);
        let watcher = db.watcher().context("loading credentials")?;
        let (key_path, named) = settings.key_file();
        let keyring = Arc::new(crate::rotation::open_keyring(&db, &key_path, named)?);
        let listener = TcpListener::bind(&settings.listen)
            .with_context(|| format!("binding {} (--listen / MOLECULE_LISTEN)", settings.listen))?;
        let port = listener.local_addr()?.port();
        let writer =
            crate::db::group::GroupWriter::start(db.clone(), clock.clone()).context("starting the writer thread")?;
        let state = web::Data::new(AppState {
            db,
            keyring,
            clock,
            failures: Arc::new(AuthFailures::default()),
            limiter: crate::ratelimit::FailureLimiter::new(settings.failures_per_address, settings.failures_per_token),
            requests: Default::default(),
            following: std::sync::atomic::AtomicBool::new(true),
            writer,
            lists: Default::default(),
            settings: settings.clone(),
        });
        let app_state = state.clone();
        let body_timeout = settings.body_timeout;
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(routes::json_config(app_state.settings.max_body_bytes))
                .app_data(routes::query_config())
                .app_data(routes::path_config())
                .app_data(web::PayloadConfig::new(app_state.settings.max_body_bytes))
                .wrap(routes::json_errors())
                .wrap_fn(move |mut req, srv| {
                    let expired = crate::body_timeout::limit(&mut req, body_timeout);
                    let fut = srv.call(req);
                    async move {
                        let mut res = fut.await?;
                        if expired.is_some_and(|e| e.hit()) {
                            let err = crate::error::ApiError::new(
                                actix_web::http::StatusCode::REQUEST_TIMEOUT,
                                "request_timeout",
                                format!("the request body did not arrive within {} s", body_timeout.as_secs()),
                            );
                            let (req, _) = res.into_parts();
                            let mut body = actix_web::ResponseError::error_response(&err);
                            body.head_mut()
                                .set_connection_type(actix_web::http::ConnectionType::Close);
                            res = actix_web::dev::ServiceResponse::new(req, body.map_into_right_body());
                        }
                        Ok(res)
                    }
                })
                .wrap_fn(move |req, srv| {
                    let (method, started) = (req.method().clone(), Instant::now());
                    let observed = req.app_data::<web::Data<AppState>>().cloned();
                    let fut = srv.call(req);
                    async move {
                        let res = fut.await?;
                        if let Some(st) = observed {
                            let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".into());
                            st.requests.observe(
                                method.as_str(),
                                &route,
                                res.status().as_u16(),
                                started.elapsed().as_secs_f64(),
                            );
                        }
                        let status = res.status().as_u16();
                        if status >= 500 || tracing::enabled!(tracing::Level::DEBUG) {
                            let req = res.request();
                            let caller = req.extensions().get::<Caller>().map(|c| c.0.prefix());
                            let (path, ms) = (req.path(), started.elapsed().as_secs_f64() * 1000.0);
                            if status >= 500 {
                                tracing::error!(%method, %path, status, ms, caller, "request failed");
                            } else {
                                tracing::debug!(%method, %path, status, ms, caller, "request");
                            }
                        }
                        Ok(res)
                    }
                })
                .configure(routes::configure)
                .default_service(web::to(routes::no_route))
        })
        .workers(settings.workers)
        // Storage calls are short and CPU-bound (writes queue on one
        // writer anyway): a few threads per worker keep context switches
        // and per-thread malloc arenas (RSS) down; hundreds would not help.
        .worker_max_blocking_threads(4)
        .shutdown_timeout(10)
        // Stated rather than inherited: a client has 5 s to send its request
        // head (then 408), idle keep-alive connections close after 5 s, and
        // a closing client gets 1 s. Heads over 128 KiB or with more than 96
        // headers are refused by actix-http (431).
        .client_request_timeout(std::time::Duration::from_secs(5))
        .keep_alive(std::time::Duration::from_secs(5))
        .client_disconnect_timeout(std::time::Duration::from_secs(1))
        .listen(listener)?
        .run();
        let flusher = Flusher::start(state.clone().into_inner());
        let watch = Watch::start(state.clone().into_inner(), watcher)?;
        Ok(Application {
            _watch: watch,
            _serve_lock: serve_lock,
            port,
            server,
            state,
            flusher,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGINT/SIGTERM (or `handle().stop()`), then writes the
    /// last usage timestamps.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let out = self.server.await;
        self.flusher.stop();
        out
    }
}

/// Writes in-memory `last_used_at` values and summarises failed
/// authentications into the audit trail, off the request path.
pub struct Flusher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    state: Arc<AppState>,
}

impl Flusher {
    fn start(state: Arc<AppState>) -> Flusher {
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (stop.clone(), state.clone());
        let thread = std::thread::Builder::new()
            .name("flusher".into())
            .spawn(move || {
                let mut last_summary = Instant::now();
                while !s.load(Ordering::Relaxed) {
                    std::thread::park_timeout(st.settings.flush_interval);
                    flush_usage(&st);
                    if last_summary.elapsed() >= st.settings.failure_audit_interval {
                        summarise_failures(&st);
                        // After the flush above, so no last use is lost.
                        st.db.creds.prune_expired(st.now());
                        last_summary = Instant::now();
                    }
                }
            })
            .ok();
        Flusher { stop, thread, state }
    }

    fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
            flush_usage(&self.state);
            summarise_failures(&self.state);
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

pub fn flush_usage(state: &AppState) {
    let used = state.db.creds.take_unflushed();
    if used.is_empty() {
        return;
    }
    let res = state.db.write(&state.clock, |ctx| {
        for u in &used {
            match u.kind {
                TokenKind::Org => keys::touch(ctx, &u.id, u.at)?,
                TokenKind::Workspace => tokens::touch(ctx, &u.id, u.at)?,
                TokenKind::Session => sessions::touch(ctx, &u.id, u.at)?,
                TokenKind::Login => {}
            }
        }
        Ok(())
    });
    if let Err(e) = res {
        tracing::warn!(error = %e, "could not record key usage");
    }
}

fn summarise_failures(state: &AppState) {
    let pending = state.failures.take_pending();
    if pending.is_empty() {
        return;
    }
    let res = state.db.write(&state.clock, |ctx| {
        for (client, count) in &pending {
            let actor = Actor {
                name: "anonymous".into(),
                client: Some(client.clone()),
            };
            audit::append(ctx, &actor, "auth.failed", None, json!({ "count": count }))?;
        }
        Ok(())
    });
    if let Err(e) = res {
        tracing::warn!(error = %e, "could not record failed authentications");
    }
}
