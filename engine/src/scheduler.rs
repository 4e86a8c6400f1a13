//! The scheduler of one model version: a bounded queue, a batcher and a
//! worker thread that owns the model.
//!
//! Requests are prepared (tokenized) by `Submit::submit` on the caller's
//! thread — the engine calls it off the async runtime — and queued with the
//! channel their answer goes back on (`stream`). The worker
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

use tokio::sync::mpsc;
use wick_types::Values;

use crate::bundle::Serving;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::stream::{Event, Events, Sink};
use crate::task::{Item, Prepared, Task, prepare};

/// The events of one request, as the worker sends them.
pub type Reply = mpsc::UnboundedReceiver<Event>;

/// A scheduler of any task, as the engine keeps it.
pub trait Submit: Send + Sync {
    /// Prepares `inputs` (already checked against the signature) for the
    /// task's endpoint number `endpoint` and queues them; refuses at once
    /// when the queue is full. Preparing is CPU work: call it off the
    /// async runtime.
    fn submit(&self, endpoint: usize, inputs: Vec<Values>, deadline: Instant) -> Result<Reply>;

    /// Requests waiting for the worker now.
    fn depth(&self) -> usize;
}

pub struct Scheduler<T: Task> {
    shared: Arc<Shared<T>>,
    worker: Option<JoinHandle<()>>,
}

struct Shared<T: Task> {
    model: String,
    version: String,
    task: Arc<T>,
    /// The task's endpoints, by their number in the model's list.
    endpoints: Vec<T::Endpoint>,
    metrics: Arc<Metrics>,
    max_batch_size: usize,
    max_delay: Duration,
    max_queue: usize,
    queue: Mutex<Queue<T>>,
    wake: Condvar,
}

struct Queue<T: Task> {
    jobs: VecDeque<Job<T>>,
    closed: bool,
    /// When the worker last finished a batch: a job queued before it was
    /// waiting on a busy worker.
    last_finished: Instant,
}

struct Job<T: Task> {
    endpoint: T::Endpoint,
    items: Vec<Prepared<T::Request>>,
    enqueued: Instant,
    deadline: Instant,
    events: Events,
}

impl<T: Task> Scheduler<T> {
    pub fn start(
        model: &str,
        version: &str,
        task: Arc<T>,
        serving: &Serving,
        metrics: Arc<Metrics>,
    ) -> Result<Scheduler<T>> {
        let shared = Arc::new(Shared {
            model: model.to_string(),
            version: version.to_string(),
            endpoints: task.endpoints().into_iter().map(|(e, _)| e).collect(),
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

    /// Queues prepared requests; refuses at once when the queue is full.
    pub fn enqueue(
        &self,
        endpoint: T::Endpoint,
        items: Vec<Prepared<T::Request>>,
        deadline: Instant,
    ) -> Result<Reply> {
        let (events, reply) = mpsc::unbounded_channel();
        let mut queue = self.shared.lock();
        if queue.jobs.len() >= self.shared.max_queue {
            return Err(Error::Overloaded {
                model: self.shared.model.clone(),
                queued: queue.jobs.len(),
            });
        }
        queue.jobs.push_back(Job {
            endpoint,
            items,
            enqueued: Instant::now(),
            deadline,
            events,
        });
        drop(queue);
        self.shared.wake.notify_one();
        Ok(reply)
    }
}

impl<T: Task> Submit for Scheduler<T> {
    fn submit(&self, endpoint: usize, inputs: Vec<Values>, deadline: Instant) -> Result<Reply> {
        let endpoint = *self.shared.endpoints.get(endpoint).ok_or_else(|| {
            Error::Inference(format!("the task has no endpoint number {endpoint}"))
        })?;
        // A full queue refuses before any preparing is spent on it.
        let queued = self.depth();
        if queued >= self.shared.max_queue {
            return Err(Error::Overloaded {
                model: self.shared.model.clone(),
                queued,
            });
        }
        let items = inputs
            .into_iter()
            .map(|values| prepare(&*self.shared.task, endpoint, values))
            .collect::<Result<Vec<_>>>()?;
        self.enqueue(endpoint, items, deadline)
    }

    fn depth(&self) -> usize {
        self.shared.lock().jobs.len()
    }
}

impl<T: Task> Drop for Scheduler<T> {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_all();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

impl<T: Task> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, Queue<T>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn work(&self) {
        while let Some(jobs) = self.next_batch() {
            self.run(jobs);
            self.lock().last_finished = Instant::now();
        }
    }

    /// Waits for work, then takes up to `max_batch_size` inputs of it.
    fn next_batch(&self) -> Option<Vec<Job<T>>> {
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

    fn run(&self, jobs: Vec<Job<T>>) {
        let now = Instant::now();
        let mut live = Vec::with_capacity(jobs.len());
        for job in jobs {
            match self.abandoned(&job, now) {
                Some(error) => {
                    let _ = job.events.send(Event::Done(Err(error)));
                }
                None => live.push(job),
            }
        }
        let mut endpoints: Vec<T::Endpoint> = Vec::new();
        for job in &live {
            if !endpoints.contains(&job.endpoint) {
                endpoints.push(job.endpoint);
            }
        }
        let mut outputs: Vec<Vec<Option<Values>>> =
            live.iter().map(|job| vec![None; job.items.len()]).collect();
        let mut failures: Vec<Option<Error>> = live.iter().map(|_| None).collect();
        for endpoint in endpoints {
            // Every input of this endpoint, shortest first.
            let mut entries: Vec<Entry<T::Request>> = Vec::new();
            for (index, job) in live.iter_mut().enumerate() {
                if job.endpoint == endpoint {
                    let events = job.events.clone();
                    entries.extend(std::mem::take(&mut job.items).into_iter().enumerate().map(
                        |(position, prepared)| Entry {
                            job: index,
                            position,
                            size: prepared.size,
                            item: Item::new(prepared.request, Sink::new(events.clone(), position)),
                        },
                    ));
                }
            }
            entries.sort_by_key(|entry| entry.size);
            for pass in passes(entries, self.max_batch_size) {
                // A big client batch runs in several passes: between them,
                // the rest of a request that timed out or whose client left
                // is skipped, so it cannot hold the worker.
                let now = Instant::now();
                let mut places = Vec::with_capacity(pass.len());
                let mut items = Vec::with_capacity(pass.len());
                for entry in pass {
                    if failures[entry.job].is_none() {
                        failures[entry.job] = self.abandoned(&live[entry.job], now);
                    }
                    if failures[entry.job].is_none() {
                        places.push((entry.job, entry.position));
                        items.push(entry.item);
                    }
                }
                if items.is_empty() {
                    continue;
                }
                match self.forward(endpoint, &items) {
                    Ok(answers) => {
                        for ((job, position), answer) in places.into_iter().zip(answers) {
                            outputs[job][position] = Some(answer);
                        }
                    }
                    Err(message) => {
                        for (job, _) in places {
                            failures[job].get_or_insert_with(|| Error::Inference(message.clone()));
                        }
                    }
                }
            }
        }
        for ((job, answers), failure) in live.into_iter().zip(outputs).zip(failures) {
            let result = match failure {
                Some(error) => Err(error),
                None => answers
                    .into_iter()
                    .collect::<Option<Vec<Values>>>()
                    .ok_or_else(|| Error::Inference("an input got no answer".into())),
            };
            let _ = job.events.send(Event::Done(result));
        }
    }

    /// Why `job` must not run (on): past its deadline (answered 503, counted
    /// as `deadline` even when its caller already gave up on it for that
    /// reason) or its client gone (`cancelled`). Counted once per job.
    fn abandoned(&self, job: &Job<T>, now: Instant) -> Option<Error> {
        let reason = if now > job.deadline {
            "deadline"
        } else if job.events.is_closed() {
            "cancelled"
        } else {
            return None;
        };
        self.metrics.dropped(&self.model, &self.version, reason);
        tracing::debug!(model = %self.model, reason, "dropped a request");
        Some(match reason {
            "deadline" => Error::Timeout,
            _ => Error::Cancelled,
        })
    }

    /// One forward pass; a panic or an error fails only this pass.
    fn forward(
        &self,
        endpoint: T::Endpoint,
        items: &[Item<T::Request>],
    ) -> std::result::Result<Vec<Values>, String> {
        let started = Instant::now();
        let answered = catch_unwind(AssertUnwindSafe(|| self.task.run(endpoint, items)));
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
                tracing::error!(model = %self.model, ?endpoint, "the task panicked: {message}");
                Err(format!("the model failed on this batch (panic: {message})"))
            }
        }
    }
}

/// Inputs waiting in `jobs`.
fn inputs<T: Task>(jobs: &VecDeque<Job<T>>) -> usize {
    jobs.iter().map(|job| job.items.len()).sum()
}

/// One input of a job, on its way into a forward pass.
struct Entry<R> {
    job: usize,
    /// Its place among the job's inputs.
    position: usize,
    size: usize,
    item: Item<R>,
}

/// Splits inputs sorted by size into forward passes of at most `max`,
/// starting a new pass where padding to the longest would waste more than
/// about a third of the work.
fn passes<R>(entries: Vec<Entry<R>>, max: usize) -> Vec<Vec<Entry<R>>> {
    let mut passes: Vec<Vec<Entry<R>>> = Vec::new();
    let mut shortest = 0;
    for entry in entries {
        let size = entry.size;
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
