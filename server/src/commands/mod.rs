//! One module per `wick` subcommand.

pub mod bench;
pub mod bundle;
pub mod deploy;
pub mod deploy_k8s;
pub mod feedback;
pub mod forward_bench;
pub mod generation_bench;
pub mod hash_password;
pub mod predict;
pub mod rollout;
pub mod serve;
pub mod workload;

use std::path::Path;

use anyhow::Context;
use wick_engine::{Bundle, Engine, Registry};

use crate::cli::{DeployArgs, DeployCommand, ServingArgs};
pub use crate::store::{open_store, store_config};

/// `wick deploy`: a Hugging Face Space, or Kubernetes/KServe manifests.
pub fn deploy(args: DeployArgs) -> anyhow::Result<()> {
    match args.command {
        DeployCommand::Space(args) => deploy::space(args),
        DeployCommand::K8s(args) => deploy_k8s::run(args),
    }
}

/// Opens (hash-checking every file) and loads each bundle into one engine
/// that knows `tasks`, with `serving` overriding each bundle's `[serving]`
/// settings.
pub fn load_engine(
    bundles: &[impl AsRef<Path>],
    serving: &ServingArgs,
    tasks: Registry,
) -> anyhow::Result<Engine> {
    let engine = Engine::with_tasks(tasks);
    for dir in bundles {
        let dir = dir.as_ref();
        let mut bundle = Bundle::open(dir)
            .with_context(|| format!("cannot open the bundle in {}", dir.display()))?;
        serving.apply(&mut bundle.manifest.serving);
        engine
            .load(&bundle, false)
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
