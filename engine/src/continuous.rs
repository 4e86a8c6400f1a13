//! Continuous batching, for tasks that produce their answer step by step
//! (text generation): the worker keeps a set of running streams and, at
//! every step, feeds each of them its next tokens in one batch. Requests
//! join the batch between steps, and a finished, stopped or abandoned one
//! leaves it at once, so a long generation never holds a short one back.
//!
//! Each step has a budget of `max_batch_tokens`: streams that decode one
//! token each come first, then waiting prompts take what is left, in
//! chunks, so a long prompt never stalls the running streams for more
//! than a step (with more decoding streams than the budget, a step takes
//! one token each and one prompt token more). At most `max_batch_size`
//! streams run at once (fewer if the task's memory holds fewer: its
//! `max_streams`); more wait in the queue (bounded by `max_queue`, then 429).
//!
//! A `StepTask` is served through the same `Submit`/`PredictionStream`
//! path as any `Task`: partial outputs go out as each step makes them.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::mpsc;
use wick_types::{Endpoint, Values};

use crate::bundle::Serving;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::stream::{Event, Events, Sink};
use crate::task::{AnyTask, Prepared, Reply, Submit, endpoint_names, without_panics};
use crate::worker::{Closable, Line, Work, Worker};

/// A task that runs step by step over many streams at once.
pub trait StepTask: Send + Sync + 'static {
    type Endpoint: Copy + Eq + Debug + Send + Sync + 'static;
    /// One request after `prepare` (e.g. its prompt's tokens and its
    /// sampling parameters). Cloned to run the same request again (bench).
    type Request: Clone + Send + 'static;
    /// A running request's state (its KV cache, sampler, text so far).
    type Stream: Send + 'static;

    fn endpoints(&self) -> Vec<(Self::Endpoint, Endpoint)>;

    /// Per-request work before queueing, off the worker (tokenizing,
    /// checking the request fits the context). `size` is its prompt length.
    fn prepare(&self, endpoint: Self::Endpoint, inputs: Values) -> Result<Prepared<Self::Request>>;

    /// The most streams the task can hold at once (e.g. what its memory
    /// budget for KV caches allows); `max_batch_size` caps it further.
    fn max_streams(&self) -> Option<usize> {
        None
    }

    /// Makes the running state of a request taken into the batch.
    fn start(&self, endpoint: Self::Endpoint, request: Self::Request) -> Self::Stream;

    /// Tokens the stream would feed at its next step: what is left of its
    /// prompt, or one.
    fn wants(&self, stream: &Self::Stream) -> usize;

    /// One step: each stream feeds the number of tokens it is granted
    /// (at least one, at most what it wants). Returns, per stream, its
    /// partial output (if any) and, when it has finished, its final one.
    fn step(&self, batch: &mut [(&mut Self::Stream, usize)]) -> Result<Vec<Stepped>>;
}

/// What one step made of one stream.
#[derive(Debug, Default)]
pub struct Stepped {
    /// Output to send now (e.g. `{"text": "next words"}`).
    pub partial: Option<Values>,
    /// The stream's end, and it leaves the batch: its final outputs, or
    /// why this stream failed. A failure here ends this stream alone;
    /// an `Err` from `step` itself ends every stream of the step.
    pub done: Option<Result<Values>>,
    /// Tokens it generated in this step (for `wick_generated_tokens_total`).
    pub generated: usize,
}

/// A `StepTask` as the engine keeps any task (`AnyTask`).
pub struct Stepping<T: StepTask>(pub T);

impl<T: StepTask> AnyTask for Stepping<T> {
    fn signatures(&self) -> Vec<Endpoint> {
        self.0.endpoints().into_iter().map(|(_, e)| e).collect()
    }

    fn prepared<'a>(
        &'a self,
        endpoint: &str,
        batch: &[Values],
    ) -> Result<Box<dyn FnMut() -> Result<Vec<Values>> + 'a>> {
        let endpoints = self.0.endpoints();
        let Some(&(value, _)) = endpoints.iter().find(|(_, e)| e.name == endpoint) else {
            return Err(Error::UnknownEndpoint {
                model: std::any::type_name::<T>().to_string(),
                endpoint: endpoint.to_string(),
                known: endpoint_names(endpoints.iter().map(|(_, e)| e)),
            });
        };
        let requests = batch
            .iter()
            .map(|inputs| Ok(without_panics(|| self.0.prepare(value, inputs.clone()))?.request))
            .collect::<Result<Vec<_>>>()?;
        // Runs every request to its end together, as the worker would with
        // no budget limit.
        Ok(Box::new(move || {
            let mut streams: Vec<Option<T::Stream>> = requests
                .iter()
                .map(|request| Some(self.0.start(value, request.clone())))
                .collect();
            let mut outputs: Vec<Option<Values>> = streams.iter().map(|_| None).collect();
            loop {
                let mut places = Vec::new();
                let mut batch = Vec::new();
                for (place, stream) in streams.iter_mut().enumerate() {
                    if let Some(stream) = stream {
                        let wants = self.0.wants(stream);
                        places.push(place);
                        batch.push((stream, wants));
                    }
                }
                if batch.is_empty() {
                    return Ok(outputs.into_iter().map(Option::unwrap_or_default).collect());
                }
                let stepped = self.0.step(&mut batch)?;
                drop(batch);
                for (place, stepped) in places.into_iter().zip(stepped) {
                    if let Some(done) = stepped.done {
                        outputs[place] = Some(done?);
                        streams[place] = None;
                    }
                }
            }
        }))
    }

    fn schedule(
        self: Arc<Self>,
        model: &str,
        version: &str,
        serving: &Serving,
        metrics: Arc<Metrics>,
    ) -> Result<Box<dyn Submit>> {
        Ok(Box::new(Continuous::start(
            model, version, self, serving, metrics,
        )?))
    }
}

pub struct Continuous<T: StepTask> {
    worker: Worker<Shared<T>>,
}

struct Shared<T: StepTask> {
    model: String,
    version: String,
    task: Arc<Stepping<T>>,
    endpoints: Vec<T::Endpoint>,
    metrics: Arc<Metrics>,
    max_streams: usize,
    max_step_tokens: usize,
    max_queue: usize,
    line: Line<Queue<T>>,
}

struct Queue<T: StepTask> {
    waiting: VecDeque<Waiting<T>>,
    closed: bool,
}

/// A request's input waiting for a place in the batch.
struct Waiting<T: StepTask> {
    endpoint: T::Endpoint,
    /// Which of the request's inputs it is.
    place: usize,
    request: T::Request,
    deadline: Instant,
    sink: Sink,
    answers: Arc<Answers>,
}

/// A stream in the batch.
struct Running<T: StepTask> {
    stream: T::Stream,
    place: usize,
    sink: Sink,
    answers: Arc<Answers>,
}

/// The final outputs of a request's inputs (most requests have one): the
/// request is answered once the last of them finishes.
struct Answers {
    state: Mutex<AnswerState>,
    events: Events,
}

struct AnswerState {
    outputs: Vec<Option<Values>>,
    left: usize,
    settled: bool,
}

impl Answers {
    fn state(&self) -> MutexGuard<'_, AnswerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn finish(&self, place: usize, outputs: Values) {
        let mut state = self.state();
        if state.settled {
            return;
        }
        state.outputs[place] = Some(outputs);
        state.left -= 1;
        if state.left == 0 {
            state.settled = true;
            let outputs = state
                .outputs
                .iter_mut()
                .map(|o| o.take().unwrap_or_default())
                .collect();
            let _ = self.events.send(Event::Done(Ok(outputs)));
        }
    }

    fn fail(&self, error: Error) {
        let mut state = self.state();
        if !state.settled {
            state.settled = true;
            let _ = self.events.send(Event::Done(Err(error)));
        }
    }

    fn settled(&self) -> bool {
        self.state().settled
    }
}

impl<T: StepTask> Continuous<T> {
    pub fn start(
        model: &str,
        version: &str,
        task: Arc<Stepping<T>>,
        serving: &Serving,
        metrics: Arc<Metrics>,
    ) -> Result<Continuous<T>> {
        let max_streams = task
            .0
            .max_streams()
            .map_or(serving.max_batch_size, |cap| {
                cap.min(serving.max_batch_size)
            })
            .max(1);
        let shared = Shared {
            model: model.to_string(),
            version: version.to_string(),
            endpoints: task.0.endpoints().into_iter().map(|(e, _)| e).collect(),
            task,
            metrics,
            max_streams,
            max_step_tokens: serving.max_batch_tokens.max(1),
            max_queue: serving.max_queue.max(1),
            line: Line::new(Queue {
                waiting: VecDeque::new(),
                closed: false,
            }),
        };
        Ok(Continuous {
            worker: Worker::start(model, shared)?,
        })
    }
}

impl<T: StepTask> Submit for Continuous<T> {
    fn submit(&self, endpoint: usize, inputs: Vec<Values>, deadline: Instant) -> Result<Reply> {
        let endpoint = *self.worker.shared.endpoints.get(endpoint).ok_or_else(|| {
            Error::Inference(format!("the task has no endpoint number {endpoint}"))
        })?;
        let queued = self.depth();
        if queued + inputs.len() > self.worker.shared.max_queue {
            return Err(Error::Overloaded {
                model: self.worker.shared.model.clone(),
                queued,
            });
        }
        let task = &self.worker.shared.task.0;
        let requests = inputs
            .into_iter()
            .map(|values| Ok(without_panics(|| task.prepare(endpoint, values))?.request))
            .collect::<Result<Vec<_>>>()?;
        let (events, reply) = mpsc::unbounded_channel();
        let answers = Arc::new(Answers {
            state: Mutex::new(AnswerState {
                outputs: requests.iter().map(|_| None).collect(),
                left: requests.len(),
                settled: false,
            }),
            events: events.clone(),
        });
        let mut queue = self.worker.shared.lock();
        for (place, request) in requests.into_iter().enumerate() {
            queue.waiting.push_back(Waiting {
                endpoint,
                place,
                request,
                deadline,
                sink: Sink::new(events.clone(), place),
                answers: answers.clone(),
            });
        }
        drop(queue);
        self.worker.shared.line.wake.notify_one();
        Ok(reply)
    }

    fn depth(&self) -> usize {
        self.worker.shared.lock().waiting.len()
    }
}

impl<T: StepTask> Closable for Queue<T> {
    fn close(&mut self) {
        self.closed = true;
    }
}

impl<T: StepTask> Work for Shared<T> {
    type Queue = Queue<T>;

    fn line(&self) -> &Line<Queue<T>> {
        &self.line
    }

    fn work(&self) {
        let mut running: Vec<Running<T>> = Vec::new();
        loop {
            if !self.admit(&mut running) {
                return;
            }
            // A caller that went away (Stop, a closed tab) frees its place
            // before the next step.
            running.retain(|stream| {
                if stream.sink.cancelled() {
                    self.metrics
                        .dropped(&self.model, &self.version, "cancelled");
                    return false;
                }
                !stream.answers.settled()
            });
            if running.is_empty() {
                continue;
            }
            self.step(&mut running);
        }
    }
}

impl<T: StepTask> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, Queue<T>> {
        self.line.lock()
    }

    /// Takes waiting requests into the batch while it has room; waits
    /// when nothing runs. False once the scheduler closes.
    fn admit(&self, running: &mut Vec<Running<T>>) -> bool {
        let mut queue = self.lock();
        loop {
            // Unloading drains: what runs and what waits still finishes.
            if queue.closed && running.is_empty() && queue.waiting.is_empty() {
                return false;
            }
            let now = Instant::now();
            while running.len() < self.max_streams {
                let Some(waiting) = queue.waiting.pop_front() else {
                    break;
                };
                if waiting.answers.settled() {
                    continue;
                }
                if waiting.sink.cancelled() {
                    self.metrics
                        .dropped(&self.model, &self.version, "cancelled");
                    waiting.answers.fail(Error::Cancelled);
                    continue;
                }
                if now > waiting.deadline {
                    self.metrics.dropped(&self.model, &self.version, "deadline");
                    waiting.answers.fail(Error::Timeout);
                    continue;
                }
                let task = &self.task.0;
                let endpoint = waiting.endpoint;
                let request = waiting.request;
                match catch_unwind(AssertUnwindSafe(|| task.start(endpoint, request))) {
                    Ok(stream) => {
                        waiting.sink.started();
                        running.push(Running {
                            stream,
                            place: waiting.place,
                            sink: waiting.sink,
                            answers: waiting.answers,
                        })
                    }
                    Err(_) => waiting.answers.fail(Error::Inference(
                        "the task panicked starting a stream".into(),
                    )),
                }
            }
            if !running.is_empty() {
                return true;
            }
            queue = self.line.wait(queue);
        }
    }

    /// Grants each stream its tokens within the step's budget — decoding
    /// streams first, one token each, then prompts in chunks — and runs
    /// the step.
    fn step(&self, running: &mut Vec<Running<T>>) {
        let task = &self.task.0;
        let wants: Vec<usize> = running
            .iter()
            .map(|r| task.wants(&r.stream).max(1))
            .collect();
        // Every decoding stream takes its one token; prompts share what is
        // left, oldest first, and at least one prompt token moves each step
        // so that a new request is never starved by many decoding ones.
        let decoding = wants.iter().filter(|&&want| want == 1).count();
        let mut budget = self.max_step_tokens.saturating_sub(decoding).max(1);
        let grants: Vec<usize> = wants
            .iter()
            .map(|&want| {
                if want == 1 {
                    return 1;
                }
                let grant = want.min(budget);
                budget -= grant;
                grant
            })
            .collect();
        let started = Instant::now();
        let mut places = Vec::new();
        let mut batch = Vec::new();
        for (place, (stream, &grant)) in running.iter_mut().zip(&grants).enumerate() {
            if grant > 0 {
                places.push(place);
                batch.push((&mut stream.stream, grant));
            }
        }
        let rows: usize = batch.iter().map(|(_, grant)| grant).sum();
        let stepped = catch_unwind(AssertUnwindSafe(|| task.step(&mut batch)));
        drop(batch);
        self.metrics.batch(
            &self.model,
            &self.version,
            rows,
            started.elapsed().as_secs_f64(),
        );
        let stepped = match stepped {
            Ok(Ok(stepped)) if stepped.len() == places.len() => stepped,
            failed => {
                let message = match failed {
                    Ok(Err(error)) => error.to_string(),
                    Ok(Ok(_)) => "the task answered the wrong number of streams".into(),
                    Err(_) => "the model failed on this step (panic)".into(),
                };
                tracing::error!(model = %self.model, "a generation step failed: {message}");
                for place in places {
                    running[place]
                        .answers
                        .fail(Error::Inference(message.clone()));
                }
                running.retain(|r| !r.answers.settled());
                return;
            }
        };
        let generated = stepped.iter().map(|s| s.generated).sum();
        self.metrics
            .generated(&self.model, &self.version, generated);
        let mut finished = Vec::new();
        for (place, stepped) in places.into_iter().zip(stepped) {
            let stream = &running[place];
            if let Some(partial) = stepped.partial {
                stream.sink.emit(partial);
            }
            match stepped.done {
                Some(Ok(done)) => stream.answers.finish(stream.place, done),
                Some(Err(error)) => {
                    tracing::warn!(model = %self.model, "a stream failed: {error}");
                    stream.answers.fail(error);
                }
                None => continue,
            }
            finished.push(place);
        }
        // In order: the oldest streams keep their first claim on the budget.
        for place in finished.into_iter().rev() {
            running.remove(place);
        }
    }
}

#[cfg(test)]
mod tests;
