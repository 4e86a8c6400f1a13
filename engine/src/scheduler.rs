//! The scheduler of one model version: a bounded queue, a batcher and a
//! worker thread that owns the model.
//!
//! Requests arrive already prepared (tokenized) by the caller. The worker
//! takes what is queued — at once when it was idle; while it was busy,
//! requests gather, and once free it holds the batch open at most
//! `max_batch_delay_ms` for it to fill. A batch is split by endpoint and,
//! sorted by size, into forward passes of similar length, so short texts are
//! not padded to long ones. A full queue refuses at once (429); a request
//! whose client went away or whose deadline passed is dropped unrun; a
//! panic in the task fails that pass's requests and the worker goes on.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use wick_types::Values;

use crate::bundle::Serving;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::task::{Prepared, Task};

pub type Reply = oneshot::Receiver<Result<Vec<Values>>>;

pub struct Scheduler {
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
}

struct Shared {
    model: String,
    version: String,
    task: Arc<dyn Task>,
    metrics: Arc<Metrics>,
    max_batch_size: usize,
    max_delay: Duration,
    max_queue: usize,
    queue: Mutex<Queue>,
    wake: Condvar,
}

struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
    /// When the worker last finished a batch: a job queued before it was
    /// waiting on a busy worker.
    last_finished: Instant,
}

struct Job {
    endpoint: String,
    items: Vec<Prepared>,
    enqueued: Instant,
    deadline: Instant,
    reply: oneshot::Sender<Result<Vec<Values>>>,
}

impl Scheduler {
    pub fn start(
        model: &str,
        version: &str,
        task: Arc<dyn Task>,
        serving: &Serving,
        metrics: Arc<Metrics>,
    ) -> Result<Scheduler> {
        let shared = Arc::new(Shared {
            model: model.to_string(),
            version: version.to_string(),
            task,
            metrics,
            max_batch_size: serving.max_batch_size.max(1),
            max_delay: Duration::from_millis(serving.max_batch_delay_ms),
            max_queue: serving.max_queue.max(1),
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                closed: false,
                last_finished: Instant::now(),
            }),
            wake: Condvar::new(),
        });
        let worker = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("wick-{model}"))
                .spawn(move || shared.work())
                .map_err(|e| Error::Load {
                    model: model.to_string(),
                    message: format!("cannot start its worker thread: {e}"),
                })?
        };
        Ok(Scheduler {
            shared,
            worker: Some(worker),
        })
    }

    /// Queues a request; refuses at once when the queue is full.
    pub fn submit(&self, endpoint: &str, items: Vec<Prepared>, deadline: Instant) -> Result<Reply> {
        let (sender, receiver) = oneshot::channel();
        let mut queue = self.shared.lock();
        if queue.jobs.len() >= self.shared.max_queue {
            return Err(Error::Overloaded {
                model: self.shared.model.clone(),
                queued: queue.jobs.len(),
            });
        }
        queue.jobs.push_back(Job {
            endpoint: endpoint.to_string(),
            items,
            enqueued: Instant::now(),
            deadline,
            reply: sender,
        });
        drop(queue);
        self.shared.wake.notify_one();
        Ok(receiver)
    }

    /// Requests waiting for the worker now.
    pub fn depth(&self) -> usize {
        self.shared.lock().jobs.len()
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_all();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn work(&self) {
        while let Some(jobs) = self.next_batch() {
            self.run(jobs);
            self.lock().last_finished = Instant::now();
        }
    }

    /// Waits for work, then takes up to `max_batch_size` inputs of it.
    fn next_batch(&self) -> Option<Vec<Job>> {
        let mut queue = self.lock();
        while queue.jobs.is_empty() {
            if queue.closed {
                return None;
            }
            queue = self.wake.wait(queue).unwrap_or_else(|e| e.into_inner());
        }
        let oldest = queue.jobs.front().map(|job| job.enqueued)?;
        if oldest < queue.last_finished {
            // It waited on a busy worker: load is high and the clients just
            // answered are likely sending again. Hold the batch open for at
            // most the delay, counted from when the worker became free.
            let until = queue.last_finished + self.max_delay;
            while inputs(&queue.jobs) < self.max_batch_size && !queue.closed {
                let now = Instant::now();
                if now >= until {
                    break;
                }
                queue = self
                    .wake
                    .wait_timeout(queue, until - now)
                    .map(|(guard, _)| guard)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
        }
        let mut taken = Vec::new();
        let mut count = 0;
        while let Some(job) = queue.jobs.front() {
            if !taken.is_empty() && count + job.items.len() > self.max_batch_size {
                break;
            }
            count += job.items.len();
            taken.extend(queue.jobs.pop_front());
        }
        Some(taken)
    }

    fn run(&self, jobs: Vec<Job>) {
        let now = Instant::now();
        let mut live = Vec::with_capacity(jobs.len());
        for job in jobs {
            if job.reply.is_closed() {
                self.metrics
                    .dropped(&self.model, &self.version, "cancelled");
                tracing::debug!(model = %self.model, "dropped a request whose client went away");
            } else if now > job.deadline {
                self.metrics.dropped(&self.model, &self.version, "deadline");
                let _ = job.reply.send(Err(Error::Timeout));
            } else {
                live.push(job);
            }
        }
        let mut endpoints: Vec<String> = live.iter().map(|job| job.endpoint.clone()).collect();
        endpoints.sort();
        endpoints.dedup();
        let mut outputs: Vec<Vec<Option<Values>>> =
            live.iter().map(|job| vec![None; job.items.len()]).collect();
        let mut failures: Vec<Option<String>> = vec![None; live.len()];
        for endpoint in &endpoints {
            // Every input of this endpoint, shortest first.
            let mut entries: Vec<Entry> = Vec::new();
            for (index, job) in live.iter_mut().enumerate() {
                if &job.endpoint == endpoint {
                    entries.extend(
                        std::mem::take(&mut job.items)
                            .into_iter()
                            .enumerate()
                            .map(|(position, item)| (index, position, item)),
                    );
                }
            }
            entries.sort_by_key(|(_, _, item)| item.size);
            for pass in passes(entries, self.max_batch_size) {
                let (places, items): (Vec<(usize, usize)>, Vec<Prepared>) = pass
                    .into_iter()
                    .map(|(job, position, item)| ((job, position), item))
                    .unzip();
                match self.forward(endpoint, &items) {
                    Ok(answers) => {
                        for ((job, position), answer) in places.into_iter().zip(answers) {
                            outputs[job][position] = Some(answer);
                        }
                    }
                    Err(message) => {
                        for (job, _) in places {
                            failures[job].get_or_insert_with(|| message.clone());
                        }
                    }
                }
            }
        }
        for ((job, answers), failure) in live.into_iter().zip(outputs).zip(failures) {
            let result = match failure {
                Some(message) => Err(Error::Inference(message)),
                None => answers
                    .into_iter()
                    .collect::<Option<Vec<Values>>>()
                    .ok_or_else(|| Error::Inference("an input got no answer".into())),
            };
            let _ = job.reply.send(result);
        }
    }

    /// One forward pass; a panic or an error fails only this pass.
    fn forward(
        &self,
        endpoint: &str,
        items: &[Prepared],
    ) -> std::result::Result<Vec<Values>, String> {
        let started = Instant::now();
        let answered = catch_unwind(AssertUnwindSafe(|| {
            self.task.predict_prepared(endpoint, items)
        }));
        self.metrics.batch(
            &self.model,
            &self.version,
            items.len(),
            started.elapsed().as_secs_f64(),
        );
        match answered {
            Ok(Ok(answers)) if answers.len() == items.len() => Ok(answers),
            Ok(Ok(answers)) => Err(format!(
                "the task answered {} outputs for {} inputs",
                answers.len(),
                items.len()
            )),
            Ok(Err(error)) => Err(error.to_string()),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                tracing::error!(model = %self.model, endpoint, "the task panicked: {message}");
                Err(format!("the model failed on this batch (panic: {message})"))
            }
        }
    }
}

/// Inputs waiting in `jobs`.
fn inputs(jobs: &VecDeque<Job>) -> usize {
    jobs.iter().map(|job| job.items.len()).sum()
}

/// (job, position in the job, inputs)
type Entry = (usize, usize, Prepared);

/// Splits inputs sorted by size into forward passes of at most `max`,
/// starting a new pass where padding to the longest would waste more than
/// about a third of the work.
fn passes(entries: Vec<Entry>, max: usize) -> Vec<Vec<Entry>> {
    let mut passes: Vec<Vec<Entry>> = Vec::new();
    let mut shortest = 0;
    for entry in entries {
        let size = entry.2.size;
        let fits = passes
            .last()
            .is_some_and(|pass| pass.len() < max && size <= shortest + shortest / 2 + 8);
        if !fits {
            shortest = size;
            passes.push(Vec::new());
        }
        if let Some(pass) = passes.last_mut() {
            pass.push(entry);
        }
    }
    passes
}

#[cfg(test)]
mod tests;
