//! One module per `wick` subcommand.

pub mod bundle;
pub mod predict;
pub mod serve;

use std::path::Path;

use anyhow::Context;
use wick_engine::{Bundle, Engine};

/// Opens (hash-checking every file) and loads each bundle into one engine.
pub fn load_engine(bundles: &[impl AsRef<Path>], device: Option<&str>) -> anyhow::Result<Engine> {
    let mut engine = Engine::new();
    for dir in bundles {
        let dir = dir.as_ref();
        let mut bundle = Bundle::open(dir)
            .with_context(|| format!("cannot open the bundle in {}", dir.display()))?;
        if let Some(device) = device {
            bundle.manifest.serving.device = device.to_string();
        }
        engine
            .load(&bundle)
            .with_context(|| format!("cannot load the bundle in {}", dir.display()))?;
        tracing::info!(
            model = %bundle.manifest.name,
            version = %bundle.manifest.version,
            task = %bundle.manifest.task,
            "loaded"
        );
    }
    Ok(engine)
}
