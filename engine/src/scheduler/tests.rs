//! The scheduler with a fake task that records its batches: batching under
//! load, the queue bound, deadlines, dropped clients, and panics.

use std::sync::atomic::{AtomicUsize, Ordering};

use wick_types::{Endpoint, Value};

use super::*;

/// Answers `{"n": n}` for input `{"n": n}` after `delay`; panics on n < 0.
struct Echo {
    delay: Duration,
    batches: Mutex<Vec<usize>>,
    runs: AtomicUsize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Only;

impl Task for Echo {
    type Endpoint = Only;
    type Request = Values;

    fn endpoints(&self) -> Vec<(Only, Endpoint)> {
        Vec::new()
    }

    fn prepare(&self, _endpoint: Only, inputs: Values) -> Result<Prepared<Values>> {
        Ok(Prepared::new(inputs, 1))
    }

    fn run(&self, _endpoint: Only, batch: &[Item<Values>]) -> Result<Vec<Values>> {
        std::thread::sleep(self.delay);
        self.runs.fetch_add(batch.len(), Ordering::SeqCst);
        self.batches.lock().unwrap().push(batch.len());
        if batch
            .iter()
            .any(|v| v.request["n"].as_number().is_some_and(|n| n < 0.0))
        {
            panic!("negative input");
        }
        Ok(batch.iter().map(|item| item.request.clone()).collect())
    }
}

/// Emits `{"chunk": i}` for i in 0..n, 5 ms apart, unless its caller
/// went away; counts what it emitted.
struct Count {
    n: usize,
    emitted: AtomicUsize,
}

impl Task for Count {
    type Endpoint = Only;
    type Request = ();

    fn endpoints(&self) -> Vec<(Only, Endpoint)> {
        Vec::new()
    }

    fn prepare(&self, _endpoint: Only, _inputs: Values) -> Result<Prepared<()>> {
        Ok(Prepared::new((), 1))
    }

    fn run(&self, _endpoint: Only, batch: &[Item<()>]) -> Result<Vec<Values>> {
        for item in batch {
            for i in 0..self.n {
                if item.cancelled() {
                    break;
                }
                let chunk = Values::from([("chunk".to_string(), Value::Number(i as f64))]);
                if !item.emit(chunk) {
                    break;
                }
                self.emitted.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Ok(batch.iter().map(|_| Values::new()).collect())
    }
}

/// Reads a request's events to its final answer.
async fn answer(mut reply: Reply) -> Result<Vec<Values>> {
    loop {
        match reply.recv().await {
            Some(Event::Done(done)) => return done,
            Some(Event::Partial { .. } | Event::Started) => {}
            None => return Err(Error::Unavailable("no answer".into())),
        }
    }
}

fn echo(delay_ms: u64) -> Arc<Echo> {
    Arc::new(Echo {
        delay: Duration::from_millis(delay_ms),
        batches: Mutex::new(Vec::new()),
        runs: AtomicUsize::new(0),
    })
}

fn scheduler<T: Task>(task: Arc<T>, max_batch_size: usize, max_queue: usize) -> Scheduler<T> {
    scheduler_with(
        task,
        Serving {
            max_batch_size,
            max_batch_delay_ms: 20,
            max_queue,
            ..Serving::default()
        },
    )
}

fn scheduler_with<T: Task>(task: Arc<T>, serving: Serving) -> Scheduler<T> {
    Scheduler::start("echo", "1", task, &serving, Arc::new(Metrics::default())).unwrap()
}

fn item(n: f64, size: usize) -> Prepared<Values> {
    Prepared::new(Values::from([("n".to_string(), Value::Number(n))]), size)
}

fn later() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

#[tokio::test]
async fn concurrent_requests_share_forward_passes_and_get_their_own_answers() {
    let task = echo(20);
    let scheduler = scheduler(task.clone(), 8, 64);
    let replies: Vec<Reply> = (0..17)
        .map(|n| {
            scheduler
                .enqueue(Only, vec![item(n as f64, 1)], later())
                .unwrap()
        })
        .collect();
    for (n, reply) in replies.into_iter().enumerate() {
        let answer = answer(reply).await.unwrap();
        assert_eq!(answer[0]["n"], Value::Number(n as f64));
    }
    let batches = task.batches.lock().unwrap().clone();
    assert_eq!(batches.iter().sum::<usize>(), 17);
    assert!(batches.iter().all(|b| *b <= 8), "{batches:?}");
    assert!(batches.len() <= 4, "17 requests in {batches:?}");
}

#[tokio::test]
async fn an_idle_worker_runs_a_lone_request_at_once() {
    let scheduler = scheduler(echo(0), 8, 64);
    tokio::time::sleep(Duration::from_millis(30)).await;
    let started = Instant::now();
    let reply = scheduler
        .enqueue(Only, vec![item(1.0, 1)], later())
        .unwrap();
    answer(reply).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(15),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_full_queue_refuses_at_once() {
    let scheduler = scheduler(echo(50), 1, 2);
    let mut accepted = Vec::new();
    let mut refused = 0;
    for n in 0..10 {
        match scheduler.enqueue(Only, vec![item(n as f64, 1)], later()) {
            Ok(reply) => accepted.push(reply),
            Err(Error::Overloaded { .. }) => refused += 1,
            Err(other) => panic!("{other}"),
        }
    }
    assert!(refused >= 6, "refused {refused}");
    for reply in accepted {
        answer(reply).await.unwrap();
    }
}

#[tokio::test]
async fn dropped_clients_and_expired_requests_do_not_run() {
    let task = echo(60);
    let scheduler = scheduler(task.clone(), 1, 64);
    let busy = scheduler
        .enqueue(Only, vec![item(0.0, 1)], later())
        .unwrap();
    let gone = scheduler
        .enqueue(Only, vec![item(1.0, 1)], later())
        .unwrap();
    drop(gone);
    let expired = scheduler
        .enqueue(
            Only,
            vec![item(2.0, 1)],
            Instant::now() + Duration::from_millis(5),
        )
        .unwrap();
    answer(busy).await.unwrap();
    assert!(matches!(answer(expired).await, Err(Error::Timeout)));
    let last = scheduler
        .enqueue(Only, vec![item(3.0, 1)], later())
        .unwrap();
    answer(last).await.unwrap();
    assert_eq!(
        task.runs.load(Ordering::SeqCst),
        2,
        "only live requests ran"
    );
    let text = scheduler.worker.shared.metrics.render(&[]);
    assert!(text.contains("reason=\"cancelled\"} 1"), "{text}");
    assert!(text.contains("reason=\"deadline\"} 1"), "{text}");
}

#[tokio::test]
async fn a_panic_fails_its_pass_and_the_worker_keeps_serving() {
    let scheduler = scheduler(echo(0), 4, 64);
    let failed = scheduler
        .enqueue(Only, vec![item(-1.0, 1)], later())
        .unwrap();
    let error = answer(failed).await.unwrap_err();
    assert!(error.to_string().contains("negative input"), "{error}");
    let fine = scheduler
        .enqueue(Only, vec![item(5.0, 1)], later())
        .unwrap();
    assert_eq!(answer(fine).await.unwrap()[0]["n"], Value::Number(5.0));
}

#[test]
fn passes_group_similar_lengths_and_respect_the_batch_size() {
    let entries: Vec<Entry<()>> = [10, 12, 14, 100, 110, 120, 130, 140]
        .iter()
        .enumerate()
        .map(|(n, size)| Entry {
            job: n,
            position: 0,
            size: *size,
            item: Item::new((), Sink::none()),
        })
        .collect();
    let cut = |max: usize, budget: usize| -> Vec<Vec<usize>> {
        let entries: Vec<Entry<()>> = entries
            .iter()
            .map(|e| Entry {
                job: e.job,
                position: 0,
                size: e.size,
                item: Item::new((), Sink::none()),
            })
            .collect();
        passes(entries, max, budget)
            .iter()
            .map(|pass| pass.iter().map(|e| e.size).collect())
            .collect()
    };
    assert_eq!(
        cut(3, 4096),
        vec![vec![10, 12, 14], vec![100, 110, 120], vec![130, 140]]
    );
    // A budget of 250 padded tokens: two texts of ~110, one of 130 or 140.
    assert_eq!(
        cut(3, 250),
        vec![
            vec![10, 12, 14],
            vec![100, 110],
            vec![120],
            vec![130],
            vec![140]
        ]
    );
    // One input over the budget still runs, alone.
    assert_eq!(
        cut(8, 50),
        vec![
            vec![10, 12, 14],
            vec![100],
            vec![110],
            vec![120],
            vec![130],
            vec![140]
        ]
    );
}

#[tokio::test]
async fn a_stream_carries_partial_outputs_and_stops_when_its_caller_leaves() {
    let task = Arc::new(Count {
        n: 200,
        emitted: AtomicUsize::new(0),
    });
    let leaving = scheduler(task.clone(), 4, 64);
    // Read to the end: every chunk, in order, then the final answer.
    let whole = Arc::new(Count {
        n: 5,
        emitted: AtomicUsize::new(0),
    });
    let five = scheduler(whole.clone(), 4, 64);
    let mut reply = five
        .enqueue(Only, vec![Prepared::new((), 1)], later())
        .unwrap();
    let mut chunks = Vec::new();
    loop {
        match reply.recv().await.unwrap() {
            Event::Partial { index, outputs } => {
                assert_eq!(index, 0);
                chunks.push(outputs["chunk"].as_number().unwrap());
            }
            Event::Done(done) => {
                assert_eq!(done.unwrap().len(), 1);
                break;
            }
            Event::Started => {}
        }
    }
    assert_eq!(chunks, vec![0.0, 1.0, 2.0, 3.0, 4.0]);

    // Leave after three chunks: the task stops within a chunk or two.
    let mut reply = leaving
        .enqueue(Only, vec![Prepared::new((), 1)], later())
        .unwrap();
    assert!(matches!(reply.recv().await, Some(Event::Started)));
    for _ in 0..3 {
        assert!(matches!(reply.recv().await, Some(Event::Partial { .. })));
    }
    drop(reply);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let emitted = task.emitted.load(Ordering::SeqCst);
    assert!((3..=5).contains(&emitted), "emitted {emitted} of 200");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(task.emitted.load(Ordering::SeqCst), emitted, "it stopped");
}

#[tokio::test]
async fn a_big_request_past_its_deadline_stops_between_passes() {
    // Ten inputs, two per pass, 40 ms a pass: 200 ms of work against a
    // 100 ms deadline.
    let task = echo(40);
    let scheduler = scheduler(task.clone(), 2, 64);
    let big = (0..10).map(|n| item(n as f64, 1)).collect();
    let reply = scheduler
        .enqueue(Only, big, Instant::now() + Duration::from_millis(100))
        .unwrap();
    assert!(matches!(answer(reply).await, Err(Error::Timeout)));
    // The worker is free for the next request at once, not after the
    // abandoned passes.
    let started = Instant::now();
    let next = scheduler
        .enqueue(Only, vec![item(0.0, 1)], later())
        .unwrap();
    answer(next).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
    let ran = task.runs.load(Ordering::SeqCst);
    assert!(
        ran <= 7,
        "{ran} inputs ran: the leftover passes were not skipped"
    );
    let text = scheduler.worker.shared.metrics.render(&[]);
    assert!(text.contains("reason=\"deadline\"} 1"), "{text}");
}

#[tokio::test]
async fn a_big_request_whose_client_left_stops_between_passes() {
    let task = echo(30);
    let scheduler = scheduler(task.clone(), 2, 64);
    let big = (0..10).map(|n| item(n as f64, 1)).collect();
    let reply = scheduler.enqueue(Only, big, later()).unwrap();
    tokio::time::sleep(Duration::from_millis(45)).await;
    drop(reply);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ran = task.runs.load(Ordering::SeqCst);
    assert!(ran <= 6, "{ran} inputs ran after the client left");
    let text = scheduler.worker.shared.metrics.render(&[]);
    assert!(text.contains("reason=\"cancelled\"} 1"), "{text}");
}

#[tokio::test]
async fn a_small_request_is_not_stuck_behind_the_passes_of_a_big_one() {
    // Two inputs a pass, 40 ms each: the big request alone needs 5 passes.
    let task = echo(40);
    let scheduler = scheduler(task.clone(), 2, 64);
    let big = scheduler
        .enqueue(Only, (0..10).map(|n| item(n as f64, 1)).collect(), later())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let started = Instant::now();
    let small = scheduler
        .enqueue(Only, vec![item(99.0, 1)], later())
        .unwrap();
    let small = answer(small).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(small[0]["n"], Value::Number(99.0));
    assert!(
        waited < Duration::from_millis(120),
        "the small request waited {waited:?}, behind the big one's passes"
    );
    // The big one still gets every answer, in its own order.
    let answers = answer(big).await.unwrap();
    let numbers: Vec<f64> = answers
        .iter()
        .map(|a| a["n"].as_number().unwrap())
        .collect();
    assert_eq!(numbers, (0..10).map(f64::from).collect::<Vec<_>>());
}

#[tokio::test]
async fn forward_passes_take_no_more_work_than_max_batch_tokens() {
    // Inputs of size 100 and a budget of 250 tokens: passes of two, even
    // though 32 inputs would fit by count. (That the batch is bounded too
    // is the latency test below.)
    let task = echo(10);
    let scheduler = scheduler_with(
        task.clone(),
        Serving {
            max_batch_size: 32,
            max_batch_tokens: 250,
            ..Serving::default()
        },
    );
    let big = scheduler
        .enqueue(Only, (0..6).map(|n| item(n as f64, 100)).collect(), later())
        .unwrap();
    assert_eq!(answer(big).await.unwrap().len(), 6);
    assert_eq!(*task.batches.lock().unwrap(), vec![2, 2, 2]);
    // One input over the budget still runs, alone.
    let huge = scheduler
        .enqueue(Only, vec![item(1.0, 1000)], later())
        .unwrap();
    assert_eq!(answer(huge).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_small_request_waits_one_budgeted_batch_not_a_whole_big_one() {
    // Ten long inputs fit max_batch_size at once, but only two fit the
    // token budget: a small request that arrives meanwhile waits for one
    // 40 ms pass, not the five a batch of all ten would take.
    let task = echo(40);
    let scheduler = scheduler_with(
        task.clone(),
        Serving {
            max_batch_size: 32,
            max_batch_tokens: 200,
            max_batch_delay_ms: 0,
            ..Serving::default()
        },
    );
    let big = scheduler
        .enqueue(
            Only,
            (0..10).map(|n| item(n as f64, 100)).collect(),
            later(),
        )
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let started = Instant::now();
    let small = scheduler
        .enqueue(Only, vec![item(99.0, 5)], later())
        .unwrap();
    answer(small).await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_millis(130),
        "the small request waited {waited:?}, behind the big one's whole batch"
    );
    assert_eq!(answer(big).await.unwrap().len(), 10);
}
