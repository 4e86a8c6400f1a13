//! `Demo`: a model served from plain functions, as Gradio's `Interface`
//! serves one. Each endpoint is a closure over typed inputs and outputs;
//! they become one `Task` whose requests Wick queues, batches and streams
//! like any other.

use std::any::Any;
use std::fmt::Display;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use wick_engine::{Engine, Item, Manifest, Prepared, Task};
use wick_server::Server;
use wick_types::{Endpoint, Values};

use wick_fields::{Inputs, Outputs};

/// A model made of functions, and how it is shown. Build it, then
/// `launch()` it (or take its `server()` to set options first).
///
/// The functions run on the model's worker thread, never on the async
/// runtime: load the model once before, and move it into them.
pub struct Demo {
    manifest: Manifest,
    handlers: Vec<Box<dyn Handler>>,
    batched: bool,
}

impl Demo {
    /// A model named `name` (its URL: `/m/{name}`), version `1`, with no
    /// endpoints yet.
    pub fn new(name: &str) -> Demo {
        let mut manifest = Manifest::new(name, "1").task("demo");
        // A plain function takes one request: each runs alone, so one
        // request's error is never another's.
        manifest.serving.max_batch_size = 1;
        Demo {
            manifest,
            handlers: Vec::new(),
            batched: false,
        }
    }

    /// Changes the model's card (see `Manifest`'s setters: `title`,
    /// `description`, `article`, `flag_options`, `serving`…), e.g.
    /// `.manifest(|m| m.title("Sentiment").description("…"))`.
    pub fn manifest(mut self, change: impl FnOnce(Manifest) -> Manifest) -> Demo {
        self.manifest = change(self.manifest);
        self
    }

    /// The page's title (the model's name by default).
    pub fn title(self, title: &str) -> Demo {
        self.manifest(|m| m.title(title))
    }

    /// A Markdown description shown under the title.
    pub fn description(self, description: &str) -> Demo {
        self.manifest(|m| m.description(description))
    }

    /// An example for `endpoint`, as the JSON API takes its inputs
    /// (`{"text": "…"}`); checked against the signature when served.
    pub fn example(self, endpoint: &str, inputs: serde_json::Value) -> Demo {
        self.manifest(|m| m.example(endpoint, inputs))
    }

    /// An endpoint answered by `run`, one request at a time.
    pub fn endpoint<I, O, E>(
        self,
        name: &str,
        run: impl Fn(I) -> Result<O, E> + Send + Sync + 'static,
    ) -> Demo
    where
        I: Inputs,
        O: Outputs,
        E: Display,
    {
        self.add(OneByOne {
            signature: signature::<I, O>(name, false),
            run: move |inputs: I, _: &Emitter<O>| run(inputs),
            types: PhantomData,
        })
    }

    /// An endpoint answered a batch at a time: `run` gets up to
    /// `max_batch` requests that arrived together (of similar size: the
    /// characters of their text) and answers each, in order. Batching is
    /// set per model: the largest `max_batch` of its endpoints.
    pub fn batched<I, O, E>(
        mut self,
        name: &str,
        max_batch: usize,
        run: impl Fn(Vec<I>) -> Result<Vec<O>, E> + Send + Sync + 'static,
    ) -> Demo
    where
        I: Inputs,
        O: Outputs,
        E: Display,
    {
        let serving = &mut self.manifest.serving;
        serving.max_batch_size = if self.batched {
            serving.max_batch_size.max(max_batch.max(1))
        } else {
            max_batch.max(1)
        };
        self.batched = true;
        self.add(Batched {
            signature: signature::<I, O>(name, false),
            run,
            types: PhantomData,
        })
    }

    /// An endpoint whose outputs grow while `run` works: each
    /// `emitter.send(piece)` reaches the caller at once (a text piece is
    /// appended to the text so far), and `run` returns the whole answer.
    /// `send` returns false once the caller went away: stop then.
    pub fn streaming<I, O, E>(
        self,
        name: &str,
        run: impl Fn(I, &Emitter<O>) -> Result<O, E> + Send + Sync + 'static,
    ) -> Demo
    where
        I: Inputs,
        O: Outputs,
        E: Display,
    {
        self.add(OneByOne {
            signature: signature::<I, O>(name, true),
            run,
            types: PhantomData,
        })
    }

    fn add(mut self, handler: impl Handler) -> Demo {
        self.handlers.push(Box::new(handler));
        self
    }

    /// An engine serving this model (with Wick's own tasks known too, for
    /// bundles loaded beside it). Fails when an endpoint name repeats or
    /// an example does not fit its signature.
    pub fn engine(self) -> wick_engine::Result<Engine> {
        let engine = Engine::new();
        let task = Functions {
            handlers: self.handlers,
        };
        engine.add_model(&self.manifest, Arc::new(task))?;
        Ok(engine)
    }

    /// The server for this model, with every option at `wick serve`'s
    /// default (port 7860 or `$PORT`, all protocols, feedback in SQLite
    /// under `./wick-data`); change them before `serve()` or `launch()`.
    pub fn server(self) -> wick_engine::Result<Server> {
        Ok(Server::new(self.engine()?))
    }

    /// Serves the model until SIGINT or SIGTERM, as `wick serve` would:
    /// starts the async runtime and logging, then drains and stops.
    pub fn launch(self) -> anyhow::Result<()> {
        self.server()?.launch()
    }
}

/// The way back to the caller of a streaming endpoint.
pub struct Emitter<'a, O> {
    item: &'a Item<Pending>,
    outputs: PhantomData<fn(O)>,
}

impl<O: Outputs> Emitter<'_, O> {
    /// Sends a partial output now. False when the caller went away.
    pub fn send(&self, partial: O) -> bool {
        self.item.emit(partial.into_values())
    }

    /// Whether the caller went away.
    pub fn cancelled(&self) -> bool {
        self.item.cancelled()
    }
}

/// A request's inputs after `prepare`, read once by `run`.
type Pending = Mutex<Option<Box<dyn Any + Send>>>;

/// One endpoint of a `Demo`, its types erased.
trait Handler: Send + Sync + 'static {
    fn signature(&self) -> &Endpoint;
    fn prepare(&self, inputs: Values) -> wick_engine::Result<Prepared<Pending>>;
    fn run(&self, batch: &[Item<Pending>]) -> wick_engine::Result<Vec<Values>>;
}

fn signature<I: Inputs, O: Outputs>(name: &str, streams: bool) -> Endpoint {
    Endpoint {
        name: name.to_string(),
        description: I::description().to_string(),
        inputs: I::fields(),
        outputs: O::fields(),
        streams,
    }
}

fn prepare<I: Inputs>(mut inputs: Values) -> wick_engine::Result<Prepared<Pending>> {
    let inputs = I::from_values(&mut inputs)?;
    let size = inputs.size();
    Ok(Prepared::new(Mutex::new(Some(Box::new(inputs))), size))
}

/// The inputs `prepare` made, taken out of the request.
fn take<I: Inputs>(item: &Item<Pending>) -> wick_engine::Result<I> {
    let taken = item
        .request
        .lock()
        .ok()
        .and_then(|mut pending| pending.take());
    taken
        .and_then(|inputs| inputs.downcast::<I>().ok())
        .map(|inputs| *inputs)
        .ok_or_else(|| wick_engine::Error::Inference("a request was run twice".into()))
}

fn failed(error: impl Display) -> wick_engine::Error {
    wick_engine::Error::Inference(wick_engine::first_line(&error.to_string()))
}

struct Batched<I, O, F> {
    signature: Endpoint,
    run: F,
    types: PhantomData<fn(I) -> O>,
}

impl<I, O, E, F> Handler for Batched<I, O, F>
where
    I: Inputs,
    O: Outputs,
    E: Display,
    F: Fn(Vec<I>) -> Result<Vec<O>, E> + Send + Sync + 'static,
{
    fn signature(&self) -> &Endpoint {
        &self.signature
    }
    fn prepare(&self, inputs: Values) -> wick_engine::Result<Prepared<Pending>> {
        prepare::<I>(inputs)
    }
    fn run(&self, batch: &[Item<Pending>]) -> wick_engine::Result<Vec<Values>> {
        let inputs = batch.iter().map(take::<I>).collect::<Result<Vec<I>, _>>()?;
        let outputs = (self.run)(inputs).map_err(failed)?;
        if outputs.len() != batch.len() {
            return Err(wick_engine::Error::Inference(format!(
                "endpoint `{}` answered {} of a batch of {}",
                self.signature.name,
                outputs.len(),
                batch.len()
            )));
        }
        Ok(outputs.into_iter().map(Outputs::into_values).collect())
    }
}

/// A plain or streaming endpoint: each request of a batch in turn, with a
/// way to send partial outputs (a plain function ignores it).
struct OneByOne<I, O, F> {
    signature: Endpoint,
    run: F,
    types: PhantomData<fn(I) -> O>,
}

impl<I, O, E, F> Handler for OneByOne<I, O, F>
where
    I: Inputs,
    O: Outputs,
    E: Display,
    F: Fn(I, &Emitter<O>) -> Result<O, E> + Send + Sync + 'static,
{
    fn signature(&self) -> &Endpoint {
        &self.signature
    }
    fn prepare(&self, inputs: Values) -> wick_engine::Result<Prepared<Pending>> {
        prepare::<I>(inputs)
    }
    fn run(&self, batch: &[Item<Pending>]) -> wick_engine::Result<Vec<Values>> {
        batch
            .iter()
            .map(|item| {
                if item.cancelled() {
                    return Ok(Values::new());
                }
                let emitter = Emitter {
                    item,
                    outputs: PhantomData,
                };
                let outputs = (self.run)(take::<I>(item)?, &emitter).map_err(failed)?;
                Ok(outputs.into_values())
            })
            .collect()
    }
}

/// A `Demo`'s endpoints as one task: the endpoint is its index.
struct Functions {
    handlers: Vec<Box<dyn Handler>>,
}

impl Task for Functions {
    type Endpoint = usize;
    type Request = Pending;

    fn endpoints(&self) -> Vec<(usize, Endpoint)> {
        self.handlers
            .iter()
            .enumerate()
            .map(|(at, handler)| (at, handler.signature().clone()))
            .collect()
    }

    fn prepare(&self, endpoint: usize, inputs: Values) -> wick_engine::Result<Prepared<Pending>> {
        self.handlers[endpoint].prepare(inputs)
    }

    fn run(&self, endpoint: usize, batch: &[Item<Pending>]) -> wick_engine::Result<Vec<Values>> {
        self.handlers[endpoint].run(batch)
    }
}
