//! Gradio's queue, as its clients use it (`sse_v3`): `POST
//! /gradio_api/queue/join` starts a run and answers its `event_id`; one
//! `GET /gradio_api/queue/data?session_hash=` per session streams every
//! run's messages — `estimation`, `process_starts`, `process_generating`
//! (the whole outputs first, then edits of them), `process_completed` —
//! and `close_stream` once the session has nothing left running.
//! `POST /gradio_api/cancel` stops a run: its stream is dropped, which
//! stops decoding within a step. A session whose stream goes away takes its
//! runs with it, and a run starts only once its session's stream is read:
//! joins whose caller never listens (300 queued chats once kept a real
//! user waiting 36 s) are dropped after `LISTEN_WAIT` without any work. A
//! session has at most `PER_SESSION` runs at once.
//!
//! The engine does the queueing and batching; "estimation" reports this
//! queue's size and rank 0, since requests are batched rather than served
//! in line.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::watch;
use tokio::task::AbortHandle;
use wick_types::ErrorCode;

use super::{Caller, Gradio, Pending, Step, endpoints, values};
use crate::api_error::{ApiError, typed_body};

/// How long a session's messages wait for its stream to be read.
const UNREAD: Duration = Duration::from_secs(300);
/// How long a run waits for its session's stream before it is dropped.
const LISTEN_WAIT: Duration = Duration::from_secs(30);
/// Runs of one session at once, at most.
const PER_SESSION: usize = 32;
/// Sessions at once, at most.
const MAX_SESSIONS: usize = 4096;

#[derive(Default)]
pub struct Queue {
    sessions: Mutex<HashMap<String, Session>>,
}

struct Session {
    sender: UnboundedSender<Value>,
    /// Taken by the session's stream while it is read.
    receiver: Option<UnboundedReceiver<Value>>,
    /// Set once the stream is read: the session's runs wait for it.
    listening: watch::Sender<bool>,
    /// The runs not completed yet, by event id.
    running: HashMap<String, AbortHandle>,
    since: Instant,
}

impl Queue {
    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends a run: it leaves the session's running set and its last message
    /// is sent, in one step, so the stream never sees the set empty before
    /// the message or the message before the set is empty.
    fn complete(&self, session_hash: &str, event_id: &str, message: Value) {
        let mut sessions = self.sessions();
        if let Some(session) = sessions.get_mut(session_hash)
            && session.running.remove(event_id).is_some()
        {
            let _ = session.sender.send(message);
        }
    }

    fn send(&self, session_hash: &str, message: Value) {
        if let Some(session) = self.sessions().get(session_hash) {
            let _ = session.sender.send(message);
        }
    }
}

#[derive(Deserialize)]
pub struct JoinBody {
    #[serde(default)]
    data: Vec<Value>,
    fn_index: Option<usize>,
    session_hash: Option<String>,
}

pub async fn join(
    State(gradio): State<Gradio>,
    headers: HeaderMap,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body: JoinBody = typed_body(&headers, body)?;
    let session_hash = body
        .session_hash
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid_input("session_hash", "the body names no session_hash"))?;
    let fn_index = body
        .fn_index
        .ok_or_else(|| ApiError::invalid_input("fn_index", "the body names no fn_index"))?;
    let api = endpoints(&gradio.engine)
        .into_iter()
        .find(|api| api.fn_index == fn_index)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no fn_index {fn_index}; GET /config lists the dependencies"
            ))
        })?;
    let event_id = uuid::Uuid::now_v7().simple().to_string();
    let queue = gradio.queue.clone();
    let mut sessions = queue.sessions();
    // A session whose stream nobody opened goes, with its runs.
    sessions.retain(|_, s| {
        let unread = s.receiver.is_some() && s.since.elapsed() > UNREAD;
        if unread {
            s.running.values().for_each(AbortHandle::abort);
        }
        !unread
    });
    let queue_size = 1 + sessions.values().map(|s| s.running.len()).sum::<usize>();
    if !sessions.contains_key(&session_hash) && sessions.len() >= MAX_SESSIONS {
        return Err(ApiError::new(
            ErrorCode::Overloaded,
            "too many Gradio sessions are open; try again shortly",
        ));
    }
    let session = sessions.entry(session_hash.clone()).or_insert_with(|| {
        let (sender, receiver) = unbounded_channel();
        Session {
            sender,
            receiver: Some(receiver),
            listening: watch::Sender::new(false),
            running: HashMap::new(),
            since: Instant::now(),
        }
    });
    if session.running.len() >= PER_SESSION {
        return Err(ApiError::new(
            ErrorCode::Overloaded,
            format!("a session runs at most {PER_SESSION} events at once; wait for one to end"),
        ));
    }
    let _ = session.sender.send(json!({
        "msg": "estimation", "event_id": event_id,
        "rank": 0, "queue_size": queue_size, "rank_eta": null,
    }));
    let task = tokio::spawn(run(
        gradio.clone(),
        session_hash,
        event_id.clone(),
        caller.pending(api, body.data),
        session.listening.subscribe(),
    ));
    session
        .running
        .insert(event_id.clone(), task.abort_handle());
    Ok(Json(json!({"event_id": event_id})))
}

/// Runs one event, once its session's stream is read, and sends its
/// messages to its session.
async fn run(
    gradio: Gradio,
    session_hash: String,
    event_id: String,
    pending: Pending,
    mut listening: watch::Receiver<bool>,
) {
    let queue = &gradio.queue;
    let failed = |message: String| {
        json!({
            "msg": "process_completed", "event_id": event_id,
            "output": {"error": message}, "success": false, "title": "Error",
        })
    };
    let heard = tokio::time::timeout(LISTEN_WAIT, listening.wait_for(|listening| *listening));
    if !matches!(heard.await, Ok(Ok(_))) {
        let message = "nobody read the session's stream (GET /gradio_api/queue/data)";
        return queue.complete(&session_hash, &event_id, failed(message.into()));
    }
    let started = Instant::now();
    let mut run = match gradio.start(pending).await {
        Ok(run) => run,
        Err(message) => return queue.complete(&session_hash, &event_id, failed(message)),
    };
    queue.send(
        &session_hash,
        json!({"msg": "process_starts", "event_id": event_id, "eta": null}),
    );
    let mut previous: Option<Vec<Value>> = None;
    while let Some(step) = run.next().await {
        match step {
            Step::Generating(outputs) => {
                let data: Vec<Value> = match &previous {
                    None => outputs.clone(),
                    Some(old) => old
                        .iter()
                        .zip(&outputs)
                        .map(|(old, new)| values::diff(old, new))
                        .collect(),
                };
                previous = Some(outputs);
                queue.send(
                    &session_hash,
                    json!({
                        "msg": "process_generating", "event_id": event_id,
                        "output": {"data": data, "is_generating": true},
                        "success": true,
                    }),
                );
            }
            Step::Complete(outputs) => {
                let message = json!({
                    "msg": "process_completed", "event_id": event_id,
                    "output": {
                        "data": outputs, "is_generating": false,
                        "duration": started.elapsed().as_secs_f64(),
                    },
                    "success": true,
                });
                return queue.complete(&session_hash, &event_id, message);
            }
            Step::Error(message) => {
                return queue.complete(&session_hash, &event_id, failed(message));
            }
        }
    }
    queue.complete(
        &session_hash,
        &event_id,
        failed("the run ended without an answer".into()),
    );
}

#[derive(Deserialize)]
pub struct DataQuery {
    session_hash: String,
}

pub async fn data(State(gradio): State<Gradio>, Query(query): Query<DataQuery>) -> Response {
    let taken = {
        let mut sessions = gradio.queue.sessions();
        sessions.get_mut(&query.session_hash).and_then(|s| {
            let receiver = s.receiver.take()?;
            s.listening.send_replace(true);
            Some((receiver, s.sender.clone()))
        })
    };
    let Some((receiver, sender)) = taken else {
        // As Gradio answers a session it does not know (or one read already).
        let message = json!({
            "msg": "unexpected_error", "event_id": null, "success": false,
            "message": "no such session, or its stream is read already",
            "session_not_found": true,
        });
        let once = futures_util::stream::once(async move {
            Ok::<_, std::convert::Infallible>(message_event(&message))
        });
        return Sse::new(once).into_response();
    };
    let reader = Reader {
        queue: gradio.queue.clone(),
        session_hash: query.session_hash,
        sender,
        receiver,
        closing: false,
        closed: false,
    };
    let events = futures_util::stream::unfold(reader, |mut reader| async move {
        if reader.closed {
            return None;
        }
        if reader.closing {
            reader.closed = true;
            let close = json!({"msg": "close_stream", "event_id": null});
            return Some((
                Ok::<_, std::convert::Infallible>(message_event(&close)),
                reader,
            ));
        }
        let message = reader.receiver.recv().await?;
        if message["msg"] == "process_completed" && reader.nothing_running() {
            reader.closing = true;
        }
        Some((Ok(message_event(&message)), reader))
    });
    Sse::new(events)
        .keep_alive(
            KeepAlive::new()
                .interval(Duration::from_secs(15))
                .event(Event::default().data(json!({"msg": "heartbeat"}).to_string())),
        )
        .into_response()
}

fn message_event(message: &Value) -> Event {
    Event::default().data(message.to_string())
}

/// A session's stream. When it goes away early (the client closed it),
/// the session's runs are stopped and the session is forgotten.
struct Reader {
    queue: Arc<Queue>,
    session_hash: String,
    /// Which session this reads: a later one may reuse the hash.
    sender: UnboundedSender<Value>,
    receiver: UnboundedReceiver<Value>,
    /// The session has nothing left running: `close_stream` comes next.
    closing: bool,
    closed: bool,
}

impl Reader {
    /// Whether the session has no run left; if so it is forgotten, so the
    /// next join opens a new one (and the client a new stream).
    fn nothing_running(&self) -> bool {
        let mut sessions = self.queue.sessions();
        let idle = sessions
            .get(&self.session_hash)
            .is_none_or(|s| s.running.is_empty());
        if idle {
            self.forget(&mut sessions);
        }
        idle
    }

    fn forget(&self, sessions: &mut HashMap<String, Session>) {
        let ours = sessions
            .get(&self.session_hash)
            .is_some_and(|s| s.sender.same_channel(&self.sender));
        if ours && let Some(session) = sessions.remove(&self.session_hash) {
            session.running.values().for_each(AbortHandle::abort);
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if !self.closing {
            self.forget(&mut self.queue.sessions());
        }
    }
}

#[derive(Deserialize)]
pub struct CancelBody {
    session_hash: String,
    event_id: String,
}

/// `POST /gradio_api/cancel`: the run stops, and its stream is told it
/// completed (with no data), as Gradio does.
pub async fn cancel(
    State(gradio): State<Gradio>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body: CancelBody = typed_body(&headers, body)?;
    let mut sessions = gradio.queue.sessions();
    if let Some(session) = sessions.get_mut(&body.session_hash)
        && let Some(task) = session.running.remove(&body.event_id)
    {
        task.abort();
        let _ = session.sender.send(json!({
            "msg": "process_completed", "event_id": body.event_id,
            "output": {}, "success": true,
        }));
    }
    Ok(Json(json!({"success": true})))
}

/// `POST /gradio_api/reset`: the clients call it after a cancel; `cancel`
/// did the work already (Gradio's is a no-op too).
pub async fn reset() -> Json<Value> {
    Json(json!({"success": true}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completing_a_run_sends_its_message_once_and_only_for_running_runs() {
        let queue = Queue::default();
        let (sender, mut receiver) = unbounded_channel();
        let task = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async { tokio::spawn(async {}).abort_handle() });
        queue.sessions().insert(
            "s".into(),
            Session {
                sender,
                receiver: None,
                listening: watch::Sender::new(true),
                running: [("e".to_string(), task)].into(),
                since: Instant::now(),
            },
        );
        queue.complete("s", "e", json!({"n": 1}));
        queue.complete("s", "e", json!({"n": 2}));
        assert_eq!(receiver.try_recv().unwrap(), json!({"n": 1}));
        assert!(receiver.try_recv().is_err());
        assert!(queue.sessions()["s"].running.is_empty());
    }
}
