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

impl Task for Echo {
    fn endpoints(&self) -> Vec<Endpoint> {
        Vec::new()
    }

    fn predict(&self, _endpoint: &str, batch: &[Values]) -> Result<Vec<Values>> {
        std::thread::sleep(self.delay);
        self.runs.fetch_add(batch.len(), Ordering::SeqCst);
        self.batches.lock().unwrap().push(batch.len());
        if batch
            .iter()
            .any(|v| v["n"].as_number().is_some_and(|n| n < 0.0))
        {
            panic!("negative input");
        }
        Ok(batch.to_vec())
    }
}

fn echo(delay_ms: u64) -> Arc<Echo> {
    Arc::new(Echo {
        delay: Duration::from_millis(delay_ms),
        batches: Mutex::new(Vec::new()),
        runs: AtomicUsize::new(0),
    })
}

fn scheduler(task: Arc<Echo>, max_batch_size: usize, max_queue: usize) -> Scheduler {
    let serving = Serving {
        max_batch_size,
        max_batch_delay_ms: 20,
        max_queue,
        ..Serving::default()
    };
    Scheduler::start("echo", "1", task, &serving, Arc::new(Metrics::default())).unwrap()
}

fn item(n: f64, size: usize) -> Prepared {
    Prepared {
        inputs: Values::from([("n".to_string(), Value::Number(n))]),
        size,
        work: None,
    }
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
                .submit("e", vec![item(n as f64, 1)], later())
                .unwrap()
        })
        .collect();
    for (n, reply) in replies.into_iter().enumerate() {
        let answer = reply.await.unwrap().unwrap();
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
    let reply = scheduler.submit("e", vec![item(1.0, 1)], later()).unwrap();
    reply.await.unwrap().unwrap();
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
        match scheduler.submit("e", vec![item(n as f64, 1)], later()) {
            Ok(reply) => accepted.push(reply),
            Err(Error::Overloaded { .. }) => refused += 1,
            Err(other) => panic!("{other}"),
        }
    }
    assert!(refused >= 6, "refused {refused}");
    for reply in accepted {
        reply.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn dropped_clients_and_expired_requests_do_not_run() {
    let task = echo(60);
    let scheduler = scheduler(task.clone(), 1, 64);
    let busy = scheduler.submit("e", vec![item(0.0, 1)], later()).unwrap();
    let gone = scheduler.submit("e", vec![item(1.0, 1)], later()).unwrap();
    drop(gone);
    let expired = scheduler
        .submit(
            "e",
            vec![item(2.0, 1)],
            Instant::now() + Duration::from_millis(5),
        )
        .unwrap();
    busy.await.unwrap().unwrap();
    assert!(matches!(expired.await.unwrap(), Err(Error::Timeout)));
    let last = scheduler.submit("e", vec![item(3.0, 1)], later()).unwrap();
    last.await.unwrap().unwrap();
    assert_eq!(
        task.runs.load(Ordering::SeqCst),
        2,
        "only live requests ran"
    );
    let text = scheduler.shared.metrics.render(&[]);
    assert!(text.contains("reason=\"cancelled\"} 1"), "{text}");
    assert!(text.contains("reason=\"deadline\"} 1"), "{text}");
}

#[tokio::test]
async fn a_panic_fails_its_pass_and_the_worker_keeps_serving() {
    let scheduler = scheduler(echo(0), 4, 64);
    let failed = scheduler.submit("e", vec![item(-1.0, 1)], later()).unwrap();
    let error = failed.await.unwrap().unwrap_err();
    assert!(error.to_string().contains("negative input"), "{error}");
    let fine = scheduler.submit("e", vec![item(5.0, 1)], later()).unwrap();
    assert_eq!(fine.await.unwrap().unwrap()[0]["n"], Value::Number(5.0));
}

#[test]
fn passes_group_similar_lengths_and_respect_the_batch_size() {
    let entries: Vec<Entry> = [10, 12, 14, 100, 110, 120, 130, 140]
        .iter()
        .enumerate()
        .map(|(n, size)| (n, 0, item(n as f64, *size)))
        .collect();
    let sizes: Vec<Vec<usize>> = passes(entries, 3)
        .iter()
        .map(|pass| pass.iter().map(|e| e.2.size).collect())
        .collect();
    assert_eq!(
        sizes,
        vec![vec![10, 12, 14], vec![100, 110, 120], vec![130, 140]]
    );
}
