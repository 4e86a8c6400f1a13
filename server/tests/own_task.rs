//! A task of the user's own in bundles, through the library: registered
//! beside Wick's (`Registry::with`), its bundle is hash-checked and served
//! by the entry point (`Server`), and a second version is loaded live with
//! `wick rollout load`, then answers when pinned.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::{Value as Json, json};
use wick_engine::tasks::builtin;
use wick_engine::{Bundle, Engine, Item, Manifest, Prepared, Task, TaskKind};
use wick_types::{Endpoint, Field, Kind, Value, Values};

/// `scale`: x times the factor in the bundle's `factor.txt`.
struct Scale {
    factor: f64,
}

impl Task for Scale {
    type Endpoint = ();
    type Request = f64;

    fn endpoints(&self) -> Vec<((), Endpoint)> {
        let number = Kind::Number {
            min: None,
            max: None,
            step: None,
        };
        vec![(
            (),
            Endpoint {
                name: "scale".into(),
                description: "x times the bundle's factor.".into(),
                inputs: vec![Field::new("x", number)],
                outputs: vec![Field::new("y", Kind::Score)],
                streams: false,
            },
        )]
    }

    fn prepare(&self, _: (), inputs: Values) -> wick_engine::Result<Prepared<f64>> {
        Ok(Prepared::new(inputs["x"].as_number().unwrap_or(0.0), 1))
    }

    fn run(&self, _: (), batch: &[Item<f64>]) -> wick_engine::Result<Vec<Values>> {
        Ok(batch
            .iter()
            .map(|item| Values::from([("y".into(), Value::Number(item.request * self.factor))]))
            .collect())
    }
}

static SCALE: TaskKind = TaskKind {
    name: "scale",
    required_files: &["factor.txt"],
    optional_files: &[],
    defaults: |_| Ok(Default::default()),
    derive: None,
    load: |bundle, _device| {
        let path = bundle.dir.join("factor.txt");
        let text = std::fs::read_to_string(&path).map_err(wick_engine::Error::io(&path))?;
        let factor = text.trim().parse().map_err(|_| wick_engine::Error::Load {
            model: bundle.manifest.name.clone(),
            message: format!("factor.txt holds no number: {text:?}"),
        })?;
        Ok(Arc::new(Scale { factor }))
    },
};

/// A bundle of `scale` whose factor is `factor`.
fn bundle(root: &Path, version: &str, factor: &str) -> PathBuf {
    let source = root.join(format!("source-{version}"));
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("factor.txt"), factor).unwrap();
    let files = BTreeMap::from([("factor.txt".to_string(), source.join("factor.txt"))]);
    let manifest = Manifest::new("scaler", version)
        .task("scale")
        .title("Scaler")
        .example("scale", json!({"x": 2}));
    let dir = root.join(format!("scaler-{version}"));
    Bundle::create(&dir, manifest, &files).unwrap();
    dir
}

#[tokio::test]
async fn a_bundle_of_your_own_task_is_checked_served_and_rolled_out() {
    let root = tempfile::tempdir().unwrap();
    let first = bundle(root.path(), "1", "2");
    let second = bundle(root.path(), "2", "3");

    // Without the task registered, the bundle is refused by name.
    let refused = Engine::new().load(&Bundle::open(&first).unwrap(), false);
    let message = refused.unwrap_err().to_string();
    assert!(message.contains("scale"), "{message}");

    // A bundle whose file changed after bundling never loads.
    let tampered = bundle(root.path(), "9", "2");
    std::fs::write(tampered.join("factor.txt"), "5").unwrap();
    assert!(Bundle::open(&tampered).is_err());

    let engine = Engine::with_tasks(builtin().with(&SCALE));
    engine.load(&Bundle::open(&first).unwrap(), false).unwrap();
    let (listening, address) = tokio::sync::oneshot::channel();
    let server = wick_server::Server::new(engine)
        .host("127.0.0.1")
        .port(0)
        .data_dir(root.path().join("data"))
        .admin_token("admin-secret")
        .on_listening(move |address| {
            let _ = listening.send(address);
        });
    tokio::spawn(server.serve());
    let base = format!("http://{}", address.await.unwrap());
    let client = reqwest::Client::new();
    let scale = |version: Option<&'static str>| {
        let mut request = client
            .post(format!("{base}/api/models/scaler/scale"))
            .json(&json!({"inputs": {"x": 7}}));
        if let Some(version) = version {
            request = request.header("x-wick-version", version);
        }
        async move { request.send().await.unwrap().json::<Json>().await.unwrap() }
    };
    assert_eq!(scale(None).await["outputs"]["y"], 14.0);

    // The CLI's rollout client asks this server to load version 2.
    let base_for_cli = base.clone();
    let second_dir = second.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_wick"))
            .args([
                "rollout",
                "--url",
                &base_for_cli,
                "--token",
                "admin-secret",
                "load",
            ])
            .arg(&second_dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    let pinned = scale(Some("2")).await;
    assert_eq!(pinned["outputs"]["y"], 21.0, "{pinned}");
    assert_eq!(pinned["version"], "2");
    // Loaded with no traffic: unpinned requests still go to version 1.
    assert_eq!(scale(None).await["outputs"]["y"], 14.0);
}
