//! The skeleton both schedulers share (`scheduler` for batches,
//! `continuous` for step-by-step streams): state behind one lock, a
//! condvar that wakes the worker, a thread that owns the model version and
//! works until the state is closed, and a drop that closes it and waits
//! for the worker to finish what it took. Each scheduler keeps only its own
//! queue and its own way of taking work from it.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::error::{Error, Result};

/// A scheduler's state: its queue (`Q`, which knows whether it is
/// closed) behind a lock, and the condvar its worker waits on.
pub(crate) struct Line<Q> {
    queue: Mutex<Q>,
    pub(crate) wake: Condvar,
}

/// A queue the worker stops on once it is closed and drained.
pub(crate) trait Closable {
    fn close(&mut self);
}

impl<Q: Closable> Line<Q> {
    pub(crate) fn new(queue: Q) -> Line<Q> {
        Line {
            queue: Mutex::new(queue),
            wake: Condvar::new(),
        }
    }

    /// The queue; a worker that panicked holding it left it usable.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Q> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits on the condvar with `queue` held.
    pub(crate) fn wait<'a>(&self, queue: MutexGuard<'a, Q>) -> MutexGuard<'a, Q> {
        self.wake.wait(queue).unwrap_or_else(|e| e.into_inner())
    }

    fn close(&self) {
        self.lock().close();
        self.wake.notify_all();
    }
}

/// What a worker owns: a line, and the work done on it.
pub(crate) trait Work: Send + Sync + 'static {
    type Queue: Closable;
    fn line(&self) -> &Line<Self::Queue>;
    /// Runs until the line is closed and drained.
    fn work(&self);
}

/// The worker thread of one model version, over `shared`; closing its
/// line and joining it when dropped.
pub(crate) struct Worker<S: Work> {
    pub(crate) shared: Arc<S>,
    thread: Option<JoinHandle<()>>,
}

impl<S: Work> Worker<S> {
    /// Starts `shared`'s work on its own thread, named for `model`.
    pub(crate) fn start(model: &str, shared: S) -> Result<Worker<S>> {
        let shared = Arc::new(shared);
        let thread = {
            let shared = shared.clone();
            spawn_worker(model, move || shared.work())?
        };
        Ok(Worker {
            shared,
            thread: Some(thread),
        })
    }
}

impl<S: Work> Drop for Worker<S> {
    fn drop(&mut self) {
        self.shared.line().close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The thread that owns a model version and runs its work.
pub(crate) fn spawn_worker(
    model: &str,
    work: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("wick-{model}"))
        .spawn(work)
        .map_err(|e| Error::Load {
            model: model.to_string(),
            message: format!("cannot start its worker thread: {e}"),
        })
}
