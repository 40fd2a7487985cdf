//! The server's background threads: the watcher, which follows commits
//! made by other processes (the CLI on the box); the flusher, which writes
//! usage, activity and failed-authentication summaries off the request
//! path; and the notifier, which sends key expiry warnings.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;

use super::{expiry, retention, App};
use crate::creds::{Follower, Usage};
use crate::domain::audit::{Action, Actor};
use crate::ops::{anchor, audit_key, handshake};
use crate::store::{audit, keys, sessions, tokens, workspaces, StoreError};

/// A thread that runs until dropped.
struct Worker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    fn spawn(name: &str, run: impl FnOnce(Arc<AtomicBool>) + Send + 'static) -> std::io::Result<Worker> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new().name(name.into()).spawn(move || run(s))?;
        Ok(Worker {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it; true the first time.
    fn halt(&mut self) -> bool {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take() {
            Some(t) => {
                t.thread().unpark();
                let _ = t.join();
                true
            }
            None => false,
        }
    }
}

/// Applies commits made by other processes to the credential map, and
/// records what it has applied for the CLI to wait on (ops/handshake.rs).
pub struct Watch(Worker);

impl Watch {
    pub fn start(app: Arc<App>, mut follower: Follower) -> anyhow::Result<Watch> {
        let dir = app.settings.data_dir.clone();
        let mut recorded = app.creds.seen_seq();
        handshake::record(&dir, recorded).context("writing serve.synced")?;
        let worker = Worker::spawn("watcher", move |stop| {
            let mut failing = false;
            while !stop.load(Ordering::Relaxed) {
                std::thread::park_timeout(handshake::WATCH_INTERVAL);
                let res = follower.follow(&app.db, &app.creds).and_then(|seq| {
                    if seq != recorded {
                        handshake::record(&dir, seq).map_err(|e| StoreError::Other(e.to_string()))?;
                        recorded = seq;
                    }
                    Ok(())
                });
                app.following.store(res.is_ok(), Ordering::Relaxed);
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
        Ok(Watch(worker))
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.0.halt();
    }
}

/// Writes in-memory `last_used_at` values and summarises failed
/// authentications into the audit trail, off the request path; and once
/// more when stopped.
pub struct Flusher {
    worker: Worker,
    /// Expiry warnings, sent over the network: on a thread of their own.
    notifier: Worker,
    app: Arc<App>,
}

impl Flusher {
    pub fn start(app: Arc<App>) -> anyhow::Result<Flusher> {
        let st = app.clone();
        let worker = Worker::spawn("flusher", move |stop| {
            let mut last_summary = Instant::now();
            let mut witness = Witness::default();
            let (mut last_sweep, mut sweeping): (Option<Instant>, bool) = (None, false);
            while !stop.load(Ordering::Relaxed) {
                std::thread::park_timeout(st.settings.flush_interval);
                flush_usage(&st);
                flush_beats(&st);
                super::activity::flush(&st);
                witness.keep(&st);
                if sweeping || last_sweep.is_none_or(|t| t.elapsed() >= retention::EVERY) {
                    if !sweeping {
                        last_sweep = Some(Instant::now());
                    }
                    sweeping = match retention::sweep(&st, retention::PER_TICK) {
                        Ok(s) => !s.done,
                        Err(e) => {
                            tracing::warn!(error = %e.message, "retention sweep failed; retrying at the next");
                            false
                        }
                    };
                }
                if last_summary.elapsed() >= st.settings.failure_audit_interval {
                    summarise_failures(&st);
                    // After the flush above, so no last use is lost.
                    st.creds.prune_expired(st.now());
                    last_summary = Instant::now();
                }
            }
        })
        .context("starting the flusher thread")?;
        let st = app.clone();
        let notifier = Worker::spawn("notifier", move |stop| {
            while !stop.load(Ordering::Relaxed) {
                if let Err(e) = expiry::notify(&st) {
                    tracing::warn!(error = %e.message, "key expiry warnings failed; retrying in a minute");
                }
                std::thread::park_timeout(expiry::EVERY);
            }
        })
        .context("starting the notifier thread")?;
        Ok(Flusher { worker, notifier, app })
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.notifier.halt();
        if self.worker.halt() {
            flush_usage(&self.app);
            flush_beats(&self.app);
            super::activity::flush(&self.app);
            summarise_failures(&self.app);
            Witness::default().keep(&self.app);
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Keeps the audit anchor up with the trail (within a flush interval of
/// each commit), and seals with a rotated audit key once the file has one.
#[derive(Default)]
struct Witness {
    generation: Option<u64>,
    key_file: Option<(std::time::SystemTime, u64)>,
}

impl Witness {
    fn keep(&mut self, app: &App) {
        let path = audit_key::path(&app.settings.data_dir, app.settings.audit_key_file.as_deref());
        if let Some(keys) = audit_key::reload_if_changed(&path, &mut self.key_file) {
            if keys.current().0 != app.db.audit_keys().current().0 {
                tracing::info!(key = keys.current().0, "sealing the audit trail with a rotated key");
            }
            app.db.set_audit_keys(keys);
        }
        let generation = app.db.generation();
        if self.generation == Some(generation) {
            return;
        }
        match anchor::record(&app.db, &app.settings.data_dir) {
            Ok(_) => self.generation = Some(generation),
            Err(e) => tracing::warn!(error = %e, "could not write the audit anchor; retrying"),
        }
    }
}

pub fn flush_usage(app: &App) {
    let used = app.creds.take_unflushed();
    if used.is_empty() {
        return;
    }
    let res = app.db.write(&app.clock, |ctx| {
        for u in &used {
            match *u {
                Usage::Key(id, at) => keys::touch(ctx, id, at)?,
                Usage::Token(id, at) => tokens::touch(ctx, id, at)?,
                Usage::Session(id, at) => sessions::touch(ctx, id, at)?,
            }
        }
        Ok(())
    });
    if let Err(e) = res {
        tracing::warn!(error = %e, "could not record key usage");
    }
}

/// Writes the heartbeats held in memory (see beats.rs), all in one
/// transaction; forgets those of workspaces that are gone.
pub fn flush_beats(app: &App) {
    let dirty = app.beats.take_dirty();
    if dirty.is_empty() {
        return;
    }
    let res = app.db.write(&app.clock, |ctx| {
        let mut gone = Vec::new();
        for (id, beat) in &dirty {
            if !workspaces::record_beat(ctx, *id, beat)? && workspaces::get(ctx, *id)?.is_none() {
                gone.push(*id);
            }
        }
        Ok(gone)
    });
    match res {
        Ok(gone) => app.beats.forget(&gone),
        Err(e) => {
            tracing::warn!(error = %e, "could not record heartbeats; retrying");
            app.beats.unwritten(&dirty);
        }
    }
}

fn summarise_failures(app: &App) {
    let pending = app.failures.take_pending();
    if pending.is_empty() {
        return;
    }
    let res = app.db.write(&app.clock, |ctx| {
        for (client, count, why) in &pending {
            let actor = Actor {
                name: "anonymous".into(),
                client: Some(client.clone()),
                via: None,
            };
            let reasons: serde_json::Map<String, serde_json::Value> =
                why.iter().map(|(f, n)| (f.as_str().to_string(), json!(n))).collect();
            let detail = json!({ "count": count, "reasons": reasons });
            audit::append(ctx, &actor, Action::AuthFailed, None, detail)?;
        }
        Ok(())
    });
    if let Err(e) = res {
        tracing::warn!(error = %e, "could not record failed authentications");
    }
}
