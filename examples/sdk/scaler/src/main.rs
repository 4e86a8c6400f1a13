//! Your own `wick`: Wick's whole command line over its tasks and one of
//! yours. `scale` multiplies a number by the factor in its bundle's
//! `factor.txt`, so
//!
//! ```sh
//! scaler bundle --task scale --name scaler --version 1 ./source ./scaler-1
//! scaler serve ./scaler-1 --admin-token secret
//! scaler rollout --token secret load ./scaler-2
//! ```
//!
//! bundle it (with the file's SHA-256 in `wick.toml`), serve it and load a
//! second version live, as `wick` does for its own tasks.

use std::sync::Arc;

use wick::{Endpoint, Field, Item, Kind, Prepared, Task, TaskDefaults, TaskKind, Value, Values};

/// `x` times the bundle's factor.
struct Scale {
    factor: f64,
}

impl Task for Scale {
    type Endpoint = ();
    type Request = f64;

    fn endpoints(&self) -> Vec<((), Endpoint)> {
        let x = Kind::Number {
            min: None,
            max: None,
            step: None,
        };
        let endpoint = Endpoint {
            name: "scale".into(),
            description: "x times the bundle's factor.".into(),
            inputs: vec![Field::new("x", x)],
            outputs: vec![Field::new("y", Kind::Score)],
            streams: false,
        };
        vec![((), endpoint)]
    }

    fn prepare(&self, _: (), inputs: Values) -> wick::Result<Prepared<f64>> {
        let x = inputs.get("x").and_then(Value::as_number).unwrap_or(0.0);
        Ok(Prepared::new(x, 1))
    }

    fn run(&self, _: (), batch: &[Item<f64>]) -> wick::Result<Vec<Values>> {
        let answer = |x: f64| Values::from([("y".to_string(), Value::Number(x * self.factor))]);
        Ok(batch.iter().map(|item| answer(item.request)).collect())
    }
}

/// How bundles of `scale` are made and loaded.
static SCALE: TaskKind = TaskKind {
    name: "scale",
    required_files: &["factor.txt"],
    optional_files: &[],
    defaults: |_source| Ok(TaskDefaults::default()),
    derive: None,
    load: |bundle, _device| {
        let path = bundle.dir.join("factor.txt");
        let text = std::fs::read_to_string(&path).map_err(wick::Error::io(&path))?;
        let factor = text.trim().parse().map_err(|_| wick::Error::Load {
            model: bundle.manifest.name.clone(),
            message: format!("factor.txt holds no number: {text:?}"),
        })?;
        Ok(Arc::new(Scale { factor }))
    },
};

fn main() -> anyhow::Result<()> {
    wick::main_with(wick::builtin_tasks().with(&SCALE))
}
