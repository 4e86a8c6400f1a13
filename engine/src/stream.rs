//! The one way outputs travel back from a model's worker to its caller:
//! partial outputs while a task runs (tokens, transcript segments), then
//! the final answer. Every adapter reads a `PredictionStream` — the JSON
//! API's SSE and the UI's streaming server function relay each partial
//! output; a plain prediction waits for the final one.
//!
//! The channel doubles as cancellation: when the caller drops its stream
//! (a client disconnected), the worker sees the channel closed, skips the
//! request if it has not started, and the task learns it through
//! `Item::cancelled` / `Item::emit` if it has.

use std::time::{Duration, Instant};

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::{oneshot, watch};
use wick_types::{ErrorCode, Values};

use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// What the worker sends for one request.
pub enum Event {
    /// The worker took the request into a batch: its wait in the queue is
    /// over (sent once per batch it runs in; the first counts).
    Started,
    /// A partial output of input `index` of the request.
    Partial { index: usize, outputs: Values },
    /// The final outputs, one per input, or why there are none.
    Done(Result<Vec<Values>>),
}

pub type Events = UnboundedSender<Event>;

/// A task's handle on one input's caller.
#[derive(Clone)]
pub(crate) struct Sink {
    to: Option<(Events, usize)>,
}

impl Sink {
    /// Input `index` of the request whose events go to `events`.
    pub(crate) fn new(events: Events, index: usize) -> Sink {
        Sink {
            to: Some((events, index)),
        }
    }

    /// No caller: partial outputs go nowhere, nothing is ever cancelled.
    pub(crate) fn none() -> Sink {
        Sink { to: None }
    }

    pub(crate) fn emit(&self, outputs: Values) -> bool {
        match &self.to {
            None => true,
            Some((events, index)) => events
                .send(Event::Partial {
                    index: *index,
                    outputs,
                })
                .is_ok(),
        }
    }

    /// Tells the caller its request runs now (continuous batching: the
    /// stream joined the batch).
    pub(crate) fn started(&self) {
        if let Some((events, _)) = &self.to {
            let _ = events.send(Event::Started);
        }
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.to
            .as_ref()
            .is_some_and(|(events, _)| events.is_closed())
    }
}

/// What a prediction returns: one set of outputs per set of inputs.
#[derive(Clone, Debug)]
pub struct Prediction {
    pub model: String,
    pub version: String,
    pub outputs: Vec<Values>,
    pub duration: Duration,
    /// Where the duration went.
    pub timings: Timings,
}

/// What a caller reads from a `PredictionStream`.
#[derive(Clone, Debug)]
pub enum Update {
    /// A partial output of input `index` (0 for a single request).
    Partial { index: usize, outputs: Values },
    /// The final answer; nothing follows it.
    Finished(Prediction),
}

/// One request's answer as it is produced. Dropping it cancels the
/// request. Each request is counted in the metrics once, by outcome:
/// `ok`, the error's code, or `cancelled` when dropped before the end.
pub struct PredictionStream {
    events: UnboundedReceiver<Event>,
    /// Until the first event arrives, the request may wait at most until
    /// then (queueing); once it runs, it runs to its end.
    deadline: Option<Instant>,
    /// The version's `request_timeout_ms`.
    timeout: Duration,
    record: Record,
    done: bool,
    /// Who also wants the final outputs (a shadow comparing its own).
    tap: Option<oneshot::Sender<Vec<Values>>>,
    /// Set when the server stops for good (`Engine::stop_streams`).
    stopping: Option<watch::Receiver<bool>>,
}

/// What the stream waited for first.
enum Woke {
    Event(Option<Event>),
    Deadline,
    Stopping,
}

impl PredictionStream {
    pub(crate) fn new(
        events: UnboundedReceiver<Event>,
        deadline: Instant,
        timeout: Duration,
        mut record: Record,
    ) -> Self {
        record.queued();
        PredictionStream {
            events,
            deadline: Some(deadline),
            timeout,
            record,
            done: false,
            tap: None,
            stopping: None,
        }
    }

    /// Ends the stream with `Unavailable` once `stopping` turns true.
    pub(crate) fn end_when(&mut self, stopping: watch::Receiver<bool>) {
        self.stopping = Some(stopping);
    }

    /// The final outputs, once they come, also go to the returned receiver;
    /// it sees its sender dropped when the request fails or is dropped.
    pub(crate) fn tap(&mut self) -> oneshot::Receiver<Vec<Values>> {
        let (sender, receiver) = oneshot::channel();
        self.tap = Some(sender);
        receiver
    }

    /// The version that answers.
    pub fn version(&self) -> &str {
        &self.record.version
    }

    /// When the request reached the engine.
    pub fn started(&self) -> Instant {
        self.record.started
    }

    /// How long the answering version lets a request take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The next update; `None` after the final answer or an error.
    pub async fn next(&mut self) -> Option<Result<Update>> {
        if self.done {
            return None;
        }
        loop {
            let event = match self.wake().await {
                Woke::Event(Some(event)) => event,
                Woke::Event(None) => {
                    let error = Error::Unavailable("the model's worker stopped".into());
                    return Some(Err(self.fail(error)));
                }
                Woke::Deadline => return Some(Err(self.fail(Error::Timeout))),
                Woke::Stopping => {
                    let error =
                        Error::Unavailable("the server is shutting down; retry shortly".into());
                    return Some(Err(self.fail(error)));
                }
            };
            match event {
                // Still bounded by the deadline: it covers the queue and,
                // for a task that streams nothing, its run.
                Event::Started => self.record.running(),
                Event::Partial { index, outputs } => {
                    self.deadline = None;
                    return Some(Ok(Update::Partial { index, outputs }));
                }
                Event::Done(Ok(outputs)) => {
                    self.done = true;
                    if let Some(tap) = self.tap.take() {
                        let _ = tap.send(outputs.clone());
                    }
                    return Some(Ok(Update::Finished(self.record.finish(outputs))));
                }
                Event::Done(Err(error)) => return Some(Err(self.fail(error))),
            }
        }
    }

    /// Waits for the next event, the deadline (until the first update) or
    /// the server's stop, whichever comes first.
    async fn wake(&mut self) -> Woke {
        let deadline = self.deadline;
        let (events, stopping) = (&mut self.events, &mut self.stopping);
        let event = async {
            match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline.into(), events.recv())
                    .await
                    .map_or(Woke::Deadline, Woke::Event),
                None => Woke::Event(events.recv().await),
            }
        };
        let stopping = async {
            // A stream with no signal, or whose engine is gone, waits only
            // for its events.
            let stopped = match stopping {
                Some(stopping) => stopping.wait_for(|stop| *stop).await.is_ok(),
                None => false,
            };
            if !stopped {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            biased;
            woke = event => woke,
            () = stopping => Woke::Stopping,
        }
    }

    /// The stream as a `futures::Stream` of its updates, for adapters to
    /// map into their wire format: partial outputs, then the final answer
    /// or an error, then its end. Dropping it cancels the request.
    pub fn updates(self) -> impl futures_util::Stream<Item = Result<Update>> + Send + 'static {
        futures_util::stream::unfold(self, |mut stream| async move {
            let update = stream.next().await?;
            Some((update, stream))
        })
    }

    /// Reads to the end, passing over partial outputs.
    pub async fn finish(&mut self) -> Result<Prediction> {
        while let Some(update) = self.next().await {
            if let Update::Finished(prediction) = update? {
                return Ok(prediction);
            }
        }
        Err(Error::Unavailable("the prediction already ended".into()))
    }

    /// Ends the stream with `error`, counted as its code.
    pub(crate) fn fail(&mut self, error: Error) -> Error {
        self.done = true;
        self.record.outcome(error.code());
        error
    }
}

/// Counts one request once: by its outcome, or as cancelled when dropped
/// unrecorded.
pub(crate) struct Record {
    metrics: std::sync::Arc<Metrics>,
    model: String,
    pub(crate) version: String,
    endpoint: String,
    pub(crate) started: Instant,
    /// When it was queued (checked and prepared), and when the worker took
    /// it: the edges of `Timings`' phases.
    queued: Option<Instant>,
    running: Option<Instant>,
    recorded: bool,
}

/// Where a request's time went, as `Server-Timing` reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Timings {
    /// Checking the inputs and the task's `prepare` (tokenizing, decoding).
    pub prepare: Duration,
    /// Waiting in the queue for the worker.
    pub queue: Duration,
    /// On the worker, to the final answer.
    pub run: Duration,
}

impl Record {
    /// A request to `endpoint` of `model`@`version`, starting now.
    pub(crate) fn start(
        metrics: std::sync::Arc<Metrics>,
        model: &str,
        version: &str,
        endpoint: &str,
    ) -> Record {
        Record {
            metrics,
            model: model.to_string(),
            version: version.to_string(),
            endpoint: endpoint.to_string(),
            started: Instant::now(),
            queued: None,
            running: None,
            recorded: false,
        }
    }

    pub(crate) fn outcome(&mut self, code: ErrorCode) {
        self.count(code.as_str());
    }

    /// The request is in the queue: checking and preparing are over.
    pub(crate) fn queued(&mut self) {
        self.queued.get_or_insert_with(Instant::now);
    }

    /// The worker took the request.
    fn running(&mut self) {
        self.running.get_or_insert_with(Instant::now);
    }

    fn finish(&mut self, outputs: Vec<Values>) -> Prediction {
        let duration = self.count("ok");
        let now = self.started + duration;
        let queued = self.queued.unwrap_or(self.started);
        let running = self.running.unwrap_or(queued);
        Prediction {
            model: self.model.clone(),
            version: self.version.clone(),
            outputs,
            duration,
            timings: Timings {
                prepare: queued - self.started,
                queue: running.saturating_duration_since(queued),
                run: now.saturating_duration_since(running),
            },
        }
    }

    fn count(&mut self, outcome: &str) -> Duration {
        let duration = self.started.elapsed();
        if !self.recorded {
            self.recorded = true;
            self.metrics.request(
                &self.model,
                &self.version,
                &self.endpoint,
                outcome,
                duration.as_secs_f64(),
            );
        }
        duration
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        self.count(ErrorCode::Cancelled.as_str());
    }
}
