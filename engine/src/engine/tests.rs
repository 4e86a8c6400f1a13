//! The engine with toy tasks: examples checked at load, endpoint names,
//! unloading while requests run, signatures a new version must keep.

use wick_types::{Field, Kind};

use super::*;
use crate::task::{Item, Prepared, Task};

/// A task whose one endpoint has the name it was made with.
struct Named(&'static str);

impl Task for Named {
    type Endpoint = ();
    type Request = ();

    fn endpoints(&self) -> Vec<((), Endpoint)> {
        vec![(
            (),
            Endpoint {
                name: self.0.into(),
                description: String::new(),
                inputs: Vec::new(),
                outputs: vec![Field::new("score", Kind::Score)],
                streams: false,
            },
        )]
    }

    fn prepare(&self, _: (), _: Values) -> Result<Prepared<()>> {
        Ok(Prepared::new((), 1))
    }

    fn run(&self, _: (), batch: &[Item<()>]) -> Result<Vec<Values>> {
        Ok(batch.iter().map(|_| Values::new()).collect())
    }
}

fn manifest(name: &str) -> Manifest {
    toml::from_str(&format!(
        "name = \"{name}\"\nversion = \"1\"\ntask = \"toy\"\n[files]\n"
    ))
    .unwrap()
}

/// A task with one image input.
struct Looks;

impl Task for Looks {
    type Endpoint = ();
    type Request = ();

    fn endpoints(&self) -> Vec<((), Endpoint)> {
        vec![(
            (),
            Endpoint {
                name: "look".into(),
                description: String::new(),
                inputs: vec![Field::new("image", Kind::Image { max_bytes: None })],
                outputs: vec![Field::new("score", Kind::Score)],
                streams: false,
            },
        )]
    }

    fn prepare(&self, _: (), _: Values) -> Result<Prepared<()>> {
        Ok(Prepared::new((), 1))
    }

    fn run(&self, _: (), batch: &[Item<()>]) -> Result<Vec<Values>> {
        Ok(batch.iter().map(|_| Values::new()).collect())
    }
}

#[test]
fn image_examples_name_listed_bundle_files_of_their_media_type() {
    let with_example = |image: &str, listed: &str| -> Manifest {
        toml::from_str(&format!(
            "name = \"m\"\nversion = \"1\"\ntask = \"toy\"\n\
             [[examples.look]]\nimage = \"{image}\"\n\
             [files]\n\"{listed}\" = \"{}\"\n",
            "a".repeat(64)
        ))
        .unwrap()
    };
    let dir = Path::new("/bundles/m");
    let engine = Engine::new();
    let manifest = with_example("examples/cat.png", "examples/cat.png");
    engine
        .add_model_from(&manifest, Arc::new(Looks), Some(dir), false)
        .unwrap();
    let file = engine.example_file("m", "examples/cat.png").unwrap();
    assert_eq!(file.path, dir.join("examples/cat.png"));
    assert_eq!(file.media_type, "image/png");
    assert!(engine.example_file("m", "model.safetensors").is_none());
    let refused = [
        (
            with_example("examples/cat.png", "other.png"),
            Some(dir),
            "does not list",
        ),
        (
            with_example("notes.txt", "notes.txt"),
            Some(dir),
            "not an image",
        ),
        (
            with_example("examples/cat.png", "examples/cat.png"),
            None,
            "bundle folder",
        ),
    ];
    for (manifest, dir, message) in refused {
        let error = Engine::new()
            .add_model_from(&manifest, Arc::new(Looks), dir, false)
            .unwrap_err();
        assert!(error.to_string().contains(message), "{error}");
    }
}

#[test]
fn endpoints_named_like_routes_or_not_plain_are_refused_at_load() {
    for bad in ["feedback", "api", "", "a/b", "has space"] {
        let engine = Engine::new();
        let error = engine
            .add_model(&manifest("m"), Arc::new(Named(bad)))
            .unwrap_err();
        assert!(
            matches!(&error, Error::Load { message, .. } if message.contains("endpoint name")),
            "{bad}: {error}"
        );
    }
    let engine = Engine::new();
    engine
        .add_model(&manifest("m"), Arc::new(Named("score_it")))
        .unwrap();
    assert_eq!(engine.models().len(), 1);
}

/// A task whose one endpoint takes a while.
struct Slow;

impl Task for Slow {
    type Endpoint = ();
    type Request = ();

    fn endpoints(&self) -> Vec<((), Endpoint)> {
        Named("score_it").endpoints()
    }

    fn prepare(&self, _: (), _: Values) -> Result<Prepared<()>> {
        Ok(Prepared::new((), 1))
    }

    fn run(&self, _: (), batch: &[Item<()>]) -> Result<Vec<Values>> {
        std::thread::sleep(Duration::from_millis(300));
        Ok(batch.iter().map(|_| Values::new()).collect())
    }
}

fn versioned(version: &str) -> Manifest {
    let mut manifest = manifest("m");
    manifest.version = version.to_string();
    manifest
}

#[tokio::test]
async fn an_unloaded_version_finishes_what_it_took_and_new_requests_go_elsewhere() {
    let engine = Arc::new(Engine::new());
    engine.add_model(&versioned("1"), Arc::new(Slow)).unwrap();
    engine.add_model(&versioned("2"), Arc::new(Slow)).unwrap();
    assert_eq!(engine.model("m").unwrap().versions, ["1", "2"]);
    let taken = {
        let engine = engine.clone();
        tokio::spawn(async move {
            engine
                .predict("m", &Route::any(), "score_it", vec![JsonObject::new()])
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    engine.change_routing("m", |r| r.promote("2")).unwrap();
    let status = engine.unload("m", "1").unwrap();
    assert_eq!(status.versions.len(), 1);
    let answered = taken.await.unwrap().unwrap();
    assert_eq!(answered.version, "1", "the request it took finished");
    let next = engine
        .predict("m", &Route::any(), "score_it", vec![JsonObject::new()])
        .await
        .unwrap();
    assert_eq!(next.version, "2");
    let pinned = engine
        .predict(
            "m",
            &Route::pinned(Some("1")),
            "score_it",
            vec![JsonObject::new()],
        )
        .await;
    assert!(matches!(pinned, Err(Error::UnknownVersion { .. })));
    // The last version with traffic cannot go; a version twice cannot load.
    assert!(matches!(engine.unload("m", "2"), Err(Error::Rollout(_))));
    let twice = engine.add_model(&versioned("2"), Arc::new(Slow));
    assert!(matches!(twice, Err(Error::Load { .. })));
}

#[test]
fn a_version_that_would_break_clients_is_refused_unless_forced() {
    let engine = Engine::new();
    engine
        .add_model(&versioned("1"), Arc::new(Named("score_it")))
        .unwrap();
    let renamed = engine.add_model(&versioned("2"), Arc::new(Named("other")));
    assert!(
        matches!(&renamed, Err(Error::Incompatible { why, .. }) if why.contains("score_it")),
        "{renamed:?}"
    );
    assert_eq!(engine.model("m").unwrap().versions, ["1"]);
    engine
        .add_model_from(&versioned("2"), Arc::new(Named("other")), None, true)
        .unwrap();
    assert_eq!(engine.model("m").unwrap().versions, ["1", "2"]);
    assert_eq!(
        engine.model("m").unwrap().version,
        "1",
        "the serving one describes it"
    );
}
