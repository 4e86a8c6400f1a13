//! `wick bundle`: make a bundle from a Hugging Face folder or hub id.

use anyhow::Context;
use wick_engine::source::{Source, bundle_from_source};

use crate::cli::BundleArgs;

pub fn run(args: BundleArgs, tasks: wick_engine::Registry) -> anyhow::Result<()> {
    let source = Source::parse(&args.source);
    let task = match &args.task {
        Some(task) => task.as_str(),
        None => source
            .detect_task()
            .with_context(|| format!("which task serves {}", args.source))?,
    };
    let bundle = bundle_from_source(
        &source,
        tasks.find(task)?,
        &args.name,
        &args.version,
        &args.out_dir,
    )
    .with_context(|| format!("cannot make a bundle from {}", args.source))?;
    println!(
        "bundle {} {} ({}) written to {}",
        bundle.manifest.name,
        bundle.manifest.version,
        bundle.manifest.task,
        bundle.dir.display()
    );
    for (file, hash) in &bundle.manifest.files {
        let size = std::fs::metadata(bundle.dir.join(file))
            .map(|m| m.len())
            .unwrap_or(0);
        println!("  {file:<32} {size:>12} bytes  sha256 {hash}");
    }
    println!("serve it with: wick serve {}", bundle.dir.display());
    Ok(())
}
