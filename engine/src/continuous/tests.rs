//! Continuous batching with a fake task whose streams have a prompt to
//! feed and a number of tokens to produce: joining between steps, short
//! streams finishing before long ones, the step budget, the stream
//! limit, and callers that leave.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use wick_types::Value;

use super::*;
use crate::stream::Event;

/// A request: feed `prompt` tokens, then produce `tokens`, one per step.
#[derive(Clone, Debug)]
struct Job {
    name: &'static str,
    prompt: usize,
    tokens: usize,
}

struct Fake {
    /// Every step: (name, granted) per stream.
    steps: Mutex<Vec<Vec<(&'static str, usize)>>>,
    produced: AtomicUsize,
    delay: Duration,
    /// The most streams the fake says it can hold.
    cap: Option<usize>,
}

struct Running {
    job: Job,
    fed: usize,
    produced: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Only;

impl StepTask for Fake {
    type Endpoint = Only;
    type Request = Job;
    type Stream = Running;

    fn max_streams(&self) -> Option<usize> {
        self.cap
    }

    fn endpoints(&self) -> Vec<(Only, Endpoint)> {
        vec![(
            Only,
            Endpoint {
                name: "generate".into(),
                description: String::new(),
                inputs: Vec::new(),
                outputs: Vec::new(),
                streams: false,
            },
        )]
    }

    fn prepare(&self, _endpoint: Only, inputs: Values) -> Result<Prepared<Job>> {
        let number = |key: &str| match inputs.get(key) {
            Some(Value::Number(n)) => *n as usize,
            _ => 0,
        };
        let name = match inputs.get("name").and_then(Value::as_text) {
            Some("long") => "long",
            Some("short") => "short",
            Some("fails") => "fails",
            _ => "other",
        };
        let job = Job {
            name,
            prompt: number("prompt"),
            tokens: number("tokens"),
        };
        Ok(Prepared::new(job, number("prompt")))
    }

    fn start(&self, _endpoint: Only, job: Job) -> Running {
        Running {
            job,
            fed: 0,
            produced: 0,
        }
    }

    fn wants(&self, stream: &Running) -> usize {
        (stream.job.prompt - stream.fed).max(1)
    }

    fn step(&self, batch: &mut [(&mut Running, usize)]) -> Result<Vec<Stepped>> {
        std::thread::sleep(self.delay);
        self.steps
            .lock()
            .unwrap()
            .push(batch.iter().map(|(s, g)| (s.job.name, *g)).collect());
        Ok(batch
            .iter_mut()
            .map(|(stream, grant)| {
                if stream.fed < stream.job.prompt {
                    stream.fed += *grant;
                    if stream.fed < stream.job.prompt {
                        return Stepped::default();
                    }
                }
                stream.produced += 1;
                self.produced.fetch_add(1, Ordering::SeqCst);
                let n = Value::Number(stream.produced as f64);
                // A job named "fails" cannot make its second token.
                if stream.job.name == "fails" && stream.produced == 2 {
                    let error = Error::Inference("this stream cannot go on".into());
                    return Stepped {
                        done: Some(Err(error)),
                        ..Stepped::default()
                    };
                }
                Stepped {
                    generated: 1,
                    partial: Some(Values::from([("n".to_string(), n.clone())])),
                    done: (stream.produced == stream.job.tokens)
                        .then(|| Ok(Values::from([("n".to_string(), n)]))),
                }
            })
            .collect())
    }
}

fn start(
    max_streams: usize,
    max_step_tokens: usize,
    delay_ms: u64,
) -> (Arc<Stepping<Fake>>, Continuous<Fake>) {
    start_capped(max_streams, max_step_tokens, delay_ms, None)
}

fn start_capped(
    max_streams: usize,
    max_step_tokens: usize,
    delay_ms: u64,
    cap: Option<usize>,
) -> (Arc<Stepping<Fake>>, Continuous<Fake>) {
    let task = Arc::new(Stepping(Fake {
        steps: Mutex::new(Vec::new()),
        produced: AtomicUsize::new(0),
        delay: Duration::from_millis(delay_ms),
        cap,
    }));
    let serving = Serving {
        max_batch_size: max_streams,
        max_batch_tokens: max_step_tokens,
        max_queue: 8,
        ..Serving::default()
    };
    let scheduler = Continuous::start(
        "fake",
        "1",
        task.clone(),
        &serving,
        Arc::new(Metrics::default()),
    )
    .unwrap();
    (task, scheduler)
}

fn job(name: &str, prompt: usize, tokens: usize) -> Vec<Values> {
    vec![Values::from([
        ("name".to_string(), Value::Text(name.into())),
        ("prompt".to_string(), Value::Number(prompt as f64)),
        ("tokens".to_string(), Value::Number(tokens as f64)),
    ])]
}

fn later() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

/// Reads a reply to its end: the partial outputs' count and the final one.
fn finish(reply: &mut Reply) -> (usize, Values) {
    let mut partials = 0;
    loop {
        match reply.blocking_recv().expect("the reply ended early") {
            Event::Partial { .. } => partials += 1,
            Event::Started => {}
            Event::Done(done) => return (partials, done.unwrap().remove(0)),
        }
    }
}

#[test]
fn a_short_request_joins_a_running_long_one_and_finishes_first() {
    let (task, scheduler) = start(4, 64, 2);
    let mut long = scheduler.submit(0, job("long", 4, 60), later()).unwrap();
    // Let the long one run a few steps alone.
    std::thread::sleep(Duration::from_millis(20));
    let mut short = scheduler.submit(0, job("short", 4, 3), later()).unwrap();
    let (partials, done) = finish(&mut short);
    assert_eq!((partials, done["n"].clone()), (3, Value::Number(3.0)));
    let steps_when_short_ended = task.0.steps.lock().unwrap().len();
    let (_, done) = finish(&mut long);
    assert_eq!(done["n"], Value::Number(60.0));
    let steps = task.0.steps.lock().unwrap();
    assert!(
        steps_when_short_ended < steps.len(),
        "the short one ended after the long one"
    );
    // They shared steps: the short one never ran alone while the long one waited.
    assert!(steps.iter().any(|step| step.len() == 2));
}

#[test]
fn long_prompts_are_fed_in_chunks_within_the_step_budget() {
    let (task, scheduler) = start(4, 16, 1);
    let mut decoding = scheduler.submit(0, job("long", 1, 30), later()).unwrap();
    std::thread::sleep(Duration::from_millis(10));
    let mut prompt = scheduler.submit(0, job("short", 50, 1), later()).unwrap();
    finish(&mut prompt);
    finish(&mut decoding);
    let steps = task.0.steps.lock().unwrap();
    for step in steps.iter() {
        let total: usize = step.iter().map(|(_, grant)| grant).sum();
        assert!(total <= 16, "a step took {total} tokens: {step:?}");
    }
    // The decoding stream advanced in every step the prompt was fed in.
    let prompt_steps: Vec<_> = steps
        .iter()
        .filter(|s| s.iter().any(|(n, _)| *n == "short"))
        .collect();
    assert!(prompt_steps.len() >= 4, "{prompt_steps:?}");
    assert!(
        prompt_steps
            .iter()
            .all(|s| s.iter().any(|(n, g)| *n == "long" && *g == 1))
    );
}

/// Four requests through a scheduler of `max_streams`, the task holding
/// `cap`: every one finishes, and no step runs more than `expected`.
fn check_stream_limit(max_streams: usize, cap: Option<usize>, expected: usize) {
    let (task, scheduler) = start_capped(max_streams, 64, 1, cap);
    let mut replies: Vec<_> = (0..4)
        .map(|_| scheduler.submit(0, job("other", 2, 5), later()).unwrap())
        .collect();
    for reply in &mut replies {
        assert_eq!(finish(reply).1["n"], Value::Number(5.0));
    }
    let steps = task.0.steps.lock().unwrap();
    assert!(steps.iter().all(|step| step.len() <= expected));
    assert!(steps.iter().any(|step| step.len() == expected));
}

#[test]
fn at_most_max_streams_run_and_the_rest_wait() {
    check_stream_limit(2, None, 2);
}

#[test]
fn a_task_that_holds_fewer_streams_caps_them_and_the_rest_wait() {
    // A text-generation model whose KV budget holds one stream.
    check_stream_limit(4, Some(1), 1);
}

#[test]
fn a_caller_that_leaves_frees_its_place_within_a_step() {
    let (task, scheduler) = start(4, 64, 2);
    let reply = scheduler
        .submit(0, job("long", 1, 10_000), later())
        .unwrap();
    std::thread::sleep(Duration::from_millis(30));
    drop(reply);
    std::thread::sleep(Duration::from_millis(30));
    let produced = task.0.produced.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        task.0.produced.load(Ordering::SeqCst),
        produced,
        "it kept producing"
    );
    assert!(produced < 100);
    // And the worker still serves others.
    let mut next = scheduler.submit(0, job("short", 1, 2), later()).unwrap();
    assert_eq!(finish(&mut next).1["n"], Value::Number(2.0));
}

#[test]
fn a_stream_that_fails_ends_alone_and_its_neighbours_finish() {
    let (task, scheduler) = start(4, 64, 1);
    let mut long = scheduler.submit(0, job("long", 1, 20), later()).unwrap();
    let mut failing = scheduler.submit(0, job("fails", 1, 20), later()).unwrap();
    let error = loop {
        match failing
            .blocking_recv()
            .expect("the failing reply ended early")
        {
            Event::Partial { .. } | Event::Started => {}
            Event::Done(done) => break done.unwrap_err(),
        }
    };
    assert!(error.to_string().contains("cannot go on"), "{error}");
    assert_eq!(finish(&mut long).1["n"], Value::Number(20.0));
    let steps = task.0.steps.lock().unwrap();
    assert!(
        steps.iter().any(|step| step.len() == 2),
        "they shared steps"
    );
}

#[test]
fn a_request_of_several_inputs_answers_them_in_order() {
    let (_task, scheduler) = start(4, 64, 0);
    let mut inputs = job("other", 1, 7);
    inputs.extend(job("other", 1, 2));
    let mut reply = scheduler.submit(0, inputs, later()).unwrap();
    let outputs = loop {
        if let Some(Event::Done(done)) = reply.blocking_recv() {
            break done.unwrap();
        }
    };
    assert_eq!(outputs[0]["n"], Value::Number(7.0));
    assert_eq!(outputs[1]["n"], Value::Number(2.0));
}
