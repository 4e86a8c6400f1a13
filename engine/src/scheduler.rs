//! The scheduler of one model version: a bounded queue, a batcher and a
//! worker thread that owns the model.
//!
//! Requests are prepared (tokenized) by `Submit::submit` on the caller's
//! thread — the engine calls it off the async runtime — and queued with the
//! channel their answer goes back on (`stream`). The worker
//! takes what is queued — at once when it was idle; while it was busy,
//! requests gather, and once free it holds the batch open at most
//! `max_batch_delay_ms` for it to fill. Each batch takes a fair share of
//! every waiting request, by count and by work (`take_fairly`; at most
//! `max_batch_tokens` in all): what is left of a big request
//! waits behind the others, so a small one is answered within a pass or
//! two, not after all of a big one's. A batch is split by endpoint and,
//! sorted by size, into forward passes of similar length, so short texts are
//! not padded to long ones, and each pass is bounded by `max_batch_tokens`
//! too, so no single pass holds the worker long. A full queue refuses at once (429); a request
//! whose client went away or whose deadline passed is dropped unrun; a
//! panic in the task fails that pass's requests and the worker goes on.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use wick_types::{Endpoint, Values};

use crate::bundle::Serving;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::stream::{Event, Events, Sink};
use crate::task::{AnyTask, Item, Prepared, Reply, Submit, Task, endpoint_names, prepare};
use crate::worker::{Closable, Line, Work, Worker};

/// A `Task` as the engine keeps any task: served by this scheduler.
impl<T: Task> AnyTask for T {
    fn signatures(&self) -> Vec<Endpoint> {
        Task::endpoints(self).into_iter().map(|(_, e)| e).collect()
    }

    fn prepared<'a>(
        &'a self,
        endpoint: &str,
        batch: &[Values],
    ) -> Result<Box<dyn FnMut() -> Result<Vec<Values>> + 'a>> {
        let endpoints = Task::endpoints(self);
        let Some((value, _)) = endpoints.iter().find(|(_, e)| e.name == endpoint) else {
            return Err(Error::UnknownEndpoint {
                model: std::any::type_name::<T>().to_string(),
                endpoint: endpoint.to_string(),
                known: endpoint_names(endpoints.iter().map(|(_, e)| e)),
            });
        };
        let value = *value;
        let items = batch
            .iter()
            .map(|inputs| {
                let prepared = prepare(self, value, inputs.clone())?;
                Ok(Item::new(prepared.request, Sink::none()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(move || self.run(value, &items)))
    }

    fn schedule(
        self: Arc<Self>,
        model: &str,
        version: &str,
        serving: &crate::bundle::Serving,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Result<Box<dyn Submit>> {
        let scheduler = Scheduler::start(model, version, self, serving, metrics)?;
        Ok(Box::new(scheduler))
    }
}

pub struct Scheduler<T: Task> {
    worker: Worker<Shared<T>>,
}

struct Shared<T: Task> {
    model: String,
    version: String,
    task: Arc<T>,
    /// The task's endpoints, by their number in the model's list.
    endpoints: Vec<T::Endpoint>,
    metrics: Arc<Metrics>,
    max_batch_size: usize,
    max_batch_tokens: usize,
    max_delay: Duration,
    max_queue: usize,
    line: Line<Queue<T>>,
}

struct Queue<T: Task> {
    jobs: VecDeque<Job<T>>,
    closed: bool,
    /// When the worker last finished a batch: a job queued before it was
    /// waiting on a busy worker.
    last_finished: Instant,
}

/// A request, or the part of it not yet run: a big request is taken a share
/// at a time, its rest queued behind the others, so small requests are not
/// stuck behind every pass of a big one. Its parts share `answers`.
struct Job<T: Task> {
    endpoint: T::Endpoint,
    /// Inputs not yet run, with their place in the request.
    items: Vec<(usize, Prepared<T::Request>)>,
    enqueued: Instant,
    deadline: Instant,
    events: Events,
    answers: Arc<Mutex<Answers>>,
}

/// What a request's passes have answered so far.
struct Answers {
    outputs: Vec<Option<Values>>,
    /// Inputs still to answer.
    left: usize,
    /// Already answered with an error (or dropped): its other parts skip.
    settled: bool,
}

impl<T: Task> Job<T> {
    /// The first `count` inputs, and the rest as a job of its own.
    fn split(mut self, count: usize) -> (Job<T>, Option<Job<T>>) {
        if count >= self.items.len() {
            return (self, None);
        }
        let rest = Job {
            endpoint: self.endpoint,
            items: self.items.split_off(count),
            enqueued: self.enqueued,
            deadline: self.deadline,
            events: self.events.clone(),
            answers: self.answers.clone(),
        };
        (self, Some(rest))
    }

    fn answers(&self) -> MutexGuard<'_, Answers> {
        self.answers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T: Task> Scheduler<T> {
    pub fn start(
        model: &str,
        version: &str,
        task: Arc<T>,
        serving: &Serving,
        metrics: Arc<Metrics>,
    ) -> Result<Scheduler<T>> {
        let shared = Shared {
            model: model.to_string(),
            version: version.to_string(),
            endpoints: task.endpoints().into_iter().map(|(e, _)| e).collect(),
            task,
            metrics,
            max_batch_size: serving.max_batch_size.max(1),
            max_batch_tokens: serving.max_batch_tokens.max(1),
            max_delay: Duration::from_millis(serving.max_batch_delay_ms),
            max_queue: serving.max_queue.max(1),
            line: Line::new(Queue {
                jobs: VecDeque::new(),
                closed: false,
                last_finished: Instant::now(),
            }),
        };
        Ok(Scheduler {
            worker: Worker::start(model, shared)?,
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
        let mut queue = self.worker.shared.lock();
        if queue.jobs.len() >= self.worker.shared.max_queue {
            return Err(Error::Overloaded {
                model: self.worker.shared.model.clone(),
                queued: queue.jobs.len(),
            });
        }
        let answers = Arc::new(Mutex::new(Answers {
            outputs: vec![None; items.len()],
            left: items.len(),
            settled: false,
        }));
        queue.jobs.push_back(Job {
            endpoint,
            items: items.into_iter().enumerate().collect(),
            enqueued: Instant::now(),
            deadline,
            events,
            answers,
        });
        drop(queue);
        self.worker.shared.line.wake.notify_one();
        Ok(reply)
    }
}

impl<T: Task> Submit for Scheduler<T> {
    fn submit(&self, endpoint: usize, inputs: Vec<Values>, deadline: Instant) -> Result<Reply> {
        let endpoint = *self.worker.shared.endpoints.get(endpoint).ok_or_else(|| {
            Error::Inference(format!("the task has no endpoint number {endpoint}"))
        })?;
        // A full queue refuses before any preparing is spent on it.
        let queued = self.depth();
        if queued >= self.worker.shared.max_queue {
            return Err(Error::Overloaded {
                model: self.worker.shared.model.clone(),
                queued,
            });
        }
        let items = inputs
            .into_iter()
            .map(|values| prepare(&*self.worker.shared.task, endpoint, values))
            .collect::<Result<Vec<_>>>()?;
        self.enqueue(endpoint, items, deadline)
    }

    fn depth(&self) -> usize {
        self.worker.shared.lock().jobs.len()
    }
}

impl<T: Task> Closable for Queue<T> {
    fn close(&mut self) {
        self.closed = true;
    }
}

impl<T: Task> Work for Shared<T> {
    type Queue = Queue<T>;

    fn line(&self) -> &Line<Queue<T>> {
        &self.line
    }

    fn work(&self) {
        let mut last_trim = Instant::now();
        while let Some(jobs) = self.next_batch() {
            self.run(jobs);
            let idle = {
                let mut queue = self.lock();
                queue.last_finished = Instant::now();
                queue.jobs.is_empty()
            };
            // A burst of big batches leaves the allocator holding its peak;
            // give it back once the worker has nothing queued.
            if idle && last_trim.elapsed() >= Duration::from_secs(1) {
                return_free_memory();
                last_trim = Instant::now();
            }
        }
    }
}

impl<T: Task> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, Queue<T>> {
        self.line.lock()
    }

    /// Waits for work, then takes up to `max_batch_size` inputs of it.
    fn next_batch(&self) -> Option<Vec<Job<T>>> {
        let mut queue = self.lock();
        while queue.jobs.is_empty() {
            if queue.closed {
                return None;
            }
            queue = self.line.wait(queue);
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
                    .line
                    .wake
                    .wait_timeout(queue, until - now)
                    .map(|(guard, _)| guard)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
        }
        Some(take_fairly(
            &mut queue.jobs,
            self.max_batch_size,
            self.max_batch_tokens,
        ))
    }

    fn run(&self, jobs: Vec<Job<T>>) {
        let now = Instant::now();
        let mut live: Vec<Job<T>> = jobs
            .into_iter()
            .filter(|job| !self.settled(job, now))
            .collect();
        for job in &live {
            let _ = job.events.send(Event::Started);
        }
        let mut endpoints: Vec<T::Endpoint> = Vec::new();
        for job in &live {
            if !endpoints.contains(&job.endpoint) {
                endpoints.push(job.endpoint);
            }
        }
        let mut answered: Vec<Vec<(usize, Values)>> = live.iter().map(|_| Vec::new()).collect();
        let mut failures: Vec<Option<Error>> = live.iter().map(|_| None).collect();
        for endpoint in endpoints {
            // Every input of this endpoint, shortest first.
            let mut entries: Vec<Entry<T::Request>> = Vec::new();
            for (index, job) in live.iter_mut().enumerate() {
                if job.endpoint == endpoint {
                    let events = job.events.clone();
                    entries.extend(std::mem::take(&mut job.items).into_iter().map(
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
            for pass in passes(entries, self.max_batch_size, self.max_batch_tokens) {
                // A big client batch runs in several passes: between them,
                // the rest of a request that timed out or whose client left
                // is skipped, so it cannot hold the worker.
                let now = Instant::now();
                let mut places = Vec::with_capacity(pass.len());
                let mut items = Vec::with_capacity(pass.len());
                for entry in pass {
                    if failures[entry.job].is_none() && !self.settled(&live[entry.job], now) {
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
                            answered[job].push((position, answer));
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
        for ((job, answered), failure) in live.iter().zip(answered).zip(failures) {
            settle(job, answered, failure);
        }
    }

    /// Whether `job`'s request is answered already (an earlier part failed
    /// or was dropped) or must be dropped now — answering it then, once.
    fn settled(&self, job: &Job<T>, now: Instant) -> bool {
        let mut answers = job.answers();
        if answers.settled {
            return true;
        }
        match self.abandoned(job, now) {
            Some(error) => {
                answers.settled = true;
                let _ = job.events.send(Event::Done(Err(error)));
                true
            }
            None => false,
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

/// Hands the allocator's free memory back to the system. glibc's malloc
/// keeps freed memory of its arenas (one per thread that allocated) for
/// reuse; after a burst of large requests that is hundreds of MB of RSS
/// that no request uses. Elsewhere there is nothing to do.
fn return_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of glibc's own heaps;
    // it reads and writes no memory the program owns.
    unsafe {
        libc::malloc_trim(0);
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

/// Splits inputs sorted by size into forward passes of at most `max`
/// inputs and `budget` of padded work (inputs × the longest; a pass always
/// takes at least one input), starting a new pass where padding to the
/// longest would waste more than about a third of the work.
fn passes<R>(entries: Vec<Entry<R>>, max: usize, budget: usize) -> Vec<Vec<Entry<R>>> {
    let mut passes: Vec<Vec<Entry<R>>> = Vec::new();
    let mut shortest = 0;
    for entry in entries {
        let size = entry.size;
        let fits = passes.last().is_some_and(|pass| {
            pass.len() < max
                && size <= shortest + shortest / 2 + 8
                && (pass.len() + 1) * size <= budget
        });
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

/// Takes at most `max` inputs and about `budget` of work (the inputs'
/// sizes; at least one input) from `jobs` for the next batch: first a fair
/// share of each waiting request, then more of them in order to fill the
/// batch. What is left of a request goes behind the others. Bounding the
/// batch's work bounds how long a request that arrives during it waits.
fn take_fairly<T: Task>(jobs: &mut VecDeque<Job<T>>, max: usize, budget: usize) -> Vec<Job<T>> {
    let share = (max / jobs.len().max(1)).max(1);
    let mut taken = Vec::new();
    let mut rests = Vec::new();
    let (mut count, mut cost) = (0, 0);
    // How many of `job`'s next inputs fit in `room` more inputs, `allowance`
    // more work and the batch's budget, with `taken` inputs of `cost`
    // already in the batch; and the cost then. A job's first input fits
    // whatever the allowance (while the budget has room, or the batch is
    // empty), so every waiting request moves.
    let fitting = |job: &Job<T>, room: usize, allowance: usize, taken: usize, cost: usize| {
        let (mut fits, mut used) = (0, cost);
        for (_, item) in job.items.iter().take(room) {
            let over_budget = used + item.size > budget;
            let over_allowance = used + item.size > cost + allowance;
            if (taken + fits > 0 && over_budget) || (fits > 0 && over_allowance) {
                break;
            }
            used += item.size;
            fits += 1;
        }
        (fits, used)
    };
    let share_of_budget = (budget / jobs.len().max(1)).max(1);
    while count < max {
        let Some(job) = jobs.pop_front() else { break };
        let room = share.min(max - count);
        let (fits, used) = fitting(&job, room, share_of_budget, count, cost);
        if fits == 0 {
            // Its next input does not fit what is left: it leads the next batch.
            rests.insert(0, job);
            continue;
        }
        let (part, rest) = job.split(fits);
        count += fits;
        cost = used;
        taken.push(part);
        rests.extend(rest);
    }
    jobs.extend(rests);
    while count < max {
        let Some(job) = jobs.pop_front() else { break };
        let (fits, used) = fitting(&job, max - count, budget, count, cost);
        if fits == 0 {
            jobs.push_front(job);
            break;
        }
        let (part, rest) = job.split(fits);
        count += fits;
        cost = used;
        taken.push(part);
        if let Some(rest) = rest {
            jobs.push_front(rest);
        }
    }
    taken
}

/// Records a part's answers; the request is answered when its last input is,
/// or at once on a failure.
fn settle<T: Task>(job: &Job<T>, answered: Vec<(usize, Values)>, failure: Option<Error>) {
    let mut answers = job.answers();
    if answers.settled {
        return;
    }
    if let Some(error) = failure {
        answers.settled = true;
        let _ = job.events.send(Event::Done(Err(error)));
        return;
    }
    for (position, values) in answered {
        if let Some(slot) = answers.outputs.get_mut(position)
            && slot.replace(values).is_none()
        {
            answers.left -= 1;
        }
    }
    if answers.left == 0 {
        answers.settled = true;
        let outputs = std::mem::take(&mut answers.outputs)
            .into_iter()
            .collect::<Option<Vec<Values>>>()
            .ok_or_else(|| Error::Inference("an input got no answer".into()));
        let _ = job.events.send(Event::Done(outputs));
    }
}

#[cfg(test)]
mod tests;
