//! Group commit: the server's writes are queued to one writer thread, which
//! runs every write waiting at that moment in one transaction, each inside
//! its own savepoint, and commits them with a single fsync.
//!
//! Each write is still all-or-nothing: one that fails is rolled back to its
//! savepoint and gets its error, and the others go on. No write is answered
//! before the commit that holds it is durable (`synchronous=FULL`); if that
//! commit fails, every write in it gets the error, and none was
//! acknowledged. Under load, one fsync then serves many writes instead of
//! one; alone, a write costs what it did before.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use rusqlite::TransactionBehavior;
use tokio::sync::oneshot;

use super::{lock, Db, StoreError, WriteCtx};
use crate::clock::Clock;

/// Writes run in one transaction at most; a bulk import queued behind many
/// small writes still waits for only this many.
const MAX_BATCH: usize = 128;

/// Hands a write's outcome back once the batch's commit has (or has not)
/// made it durable.
type Deliver = Box<dyn FnOnce(Option<&str>) + Send>;

/// Runs a write (or, given an error, does not); says whether it succeeded,
/// and how to answer.
type Run = Box<dyn FnOnce(Result<&mut WriteCtx, StoreError>) -> (bool, Deliver) + Send>;

struct Job {
    run: Run,
    /// A dry run: rolled back to its savepoint even when it succeeds.
    rehearse: bool,
}

pub struct GroupWriter {
    queue: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl GroupWriter {
    pub fn start(db: Arc<Db>, clock: Clock) -> std::io::Result<GroupWriter> {
        let (queue, jobs) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new().name("writer".into()).spawn(move || {
            while let Ok(first) = jobs.recv() {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match jobs.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                // A panic outside a job (which is caught where it runs)
                // must not stop the writer: its batch's callers get an
                // error, and the next batch runs.
                if catch_unwind(AssertUnwindSafe(|| run_batch(&db, &clock, batch))).is_err() {
                    tracing::error!("the writer recovered from a panic; that batch's writes were not answered");
                    db.lost_track();
                }
            }
        })?;
        Ok(GroupWriter {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Queues a write and waits (without holding an async worker) for its
    /// durable outcome. The caller's tracing span goes with it.
    pub async fn write<T, E, F>(&self, rehearse: bool, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut WriteCtx) -> Result<T, E> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, E>>();
        let span = tracing::Span::current();
        let run = move |ctx: Result<&mut WriteCtx, StoreError>| -> (bool, Deliver) {
            let out = match ctx {
                Ok(ctx) => span.in_scope(|| f(ctx)),
                Err(e) => Err(E::from(e)),
            };
            let ok = out.is_ok();
            let deliver: Deliver = Box::new(move |commit_failed: Option<&str>| {
                let out = match (out, commit_failed) {
                    (Ok(_), Some(why)) if !rehearse => Err(E::from(StoreError::Other(format!("commit failed: {why}")))),
                    (out, _) => out,
                };
                // The caller may have gone (client disconnected): its write
                // stands or falls with the batch all the same.
                let _ = tx.send(out);
            });
            (ok, deliver)
        };
        let job = Job {
            run: Box::new(run),
            rehearse,
        };
        let queue = self
            .queue
            .as_ref()
            .ok_or(StoreError::Other("the writer has stopped".into()))?;
        queue
            .send(job)
            .map_err(|_| StoreError::Other("the writer thread has stopped".into()))?;
        // A dropped sender means the write panicked and was rolled back.
        rx.await
            .unwrap_or_else(|_| Err(E::from(StoreError::Other("a write failed unexpectedly".into()))))
    }
}

impl Drop for GroupWriter {
    fn drop(&mut self) {
        // Closing the queue ends the thread once the queued writes are done.
        self.queue.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run_batch(db: &Db, clock: &Clock, batch: Vec<Job>) {
    let mut conn = lock(&db.writer);
    let now = clock.now_ms();
    let (delivers, failed, changed) = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Err(e) => {
            // Busy (the CLI holding the lock too long) or worse: every write
            // is answered with it, and none ran.
            let e = StoreError::from(e);
            let why = e.to_string();
            let delivers = batch.into_iter().map(|job| (job.run)(Err(clone_err(&e))).1).collect();
            (delivers, Some(why), false)
        }
        Ok(tx) => {
            let ctx = WriteCtx {
                tx,
                now,
                seq: None,
                audit_keys: db.audit_keys(),
            };
            run_in(ctx, batch, clock)
        }
    };
    if failed.is_none() {
        db.bump_generation();
        if changed {
            db.credentials_committed(&conn);
        }
    }
    drop(conn);
    if let Some(why) = &failed {
        tracing::error!(error = %why, "a group commit failed; none of its writes was acknowledged");
    }
    for deliver in delivers {
        deliver(failed.as_deref());
    }
}

/// Runs each job in its own savepoint, then commits. Returns how to answer
/// each, why the commit failed (if it did), and whether credentials changed.
fn run_in(mut ctx: WriteCtx, batch: Vec<Job>, clock: &Clock) -> (Vec<Deliver>, Option<String>, bool) {
    let mut delivers: Vec<Deliver> = Vec::with_capacity(batch.len());
    let mut broken: Option<String> = None;
    for job in batch {
        if let Some(why) = &broken {
            // The transaction is unusable: this write never ran.
            let err = StoreError::Other(format!("transaction aborted: {why}"));
            delivers.push((job.run)(Err(err)).1);
            continue;
        }
        // Each write is stamped (and its caller's expiry judged) when it
        // runs, not when its batch began.
        ctx.now = clock.now_ms();
        let seq_before = ctx.seq;
        if let Err(e) = ctx.execute("SAVEPOINT job", []) {
            broken = Some(e.to_string());
            delivers.push((job.run)(Err(e.into())).1);
            continue;
        }
        let rehearse = job.rehearse;
        let ran = catch_unwind(AssertUnwindSafe(|| (job.run)(Ok(&mut ctx))));
        let keep = matches!(&ran, Ok((true, _))) && !rehearse;
        let end = if keep {
            ctx.execute("RELEASE job", []).map(drop)
        } else {
            // Undo this write only; its bump of cred_seq is undone with it.
            ctx.seq = seq_before;
            ctx.execute("ROLLBACK TO job", [])
                .and_then(|_| ctx.execute("RELEASE job", []))
                .map(drop)
        };
        if let Err(e) = end {
            broken = Some(e.to_string());
        }
        match ran {
            Ok((_, deliver)) => delivers.push(deliver),
            // Its answer channel went with the panic: the caller gets a 500.
            Err(_) => tracing::error!("a write panicked; it was rolled back"),
        }
    }
    let changed = ctx.seq.is_some();
    let failed = match broken {
        Some(why) => Some(why),
        None => ctx.tx.commit().err().map(|e| e.to_string()),
    };
    (delivers, failed, changed)
}

fn clone_err(e: &StoreError) -> StoreError {
    match e {
        StoreError::Busy => StoreError::Busy,
        other => StoreError::Other(other.to_string()),
    }
}
