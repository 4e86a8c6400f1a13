//! `wick feedback export`: the stored flags as CSV or JSON lines, from the
//! same store `wick serve` writes.

use std::io::Write;
use std::time::SystemTime;

use anyhow::Context;
use wick_feedback::{Filter, StoreConfig, parse_since, write_export};

use crate::cli::{ExportArgs, FeedbackArgs, FeedbackCommand};

pub fn run(args: FeedbackArgs) -> anyhow::Result<()> {
    match args.command {
        FeedbackCommand::Export(args) => export(args),
    }
}

fn export(args: ExportArgs) -> anyhow::Result<()> {
    let since = args
        .since
        .as_deref()
        .map(|text| parse_since(text, SystemTime::now()))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    // Exporting from a folder that has no store is a mistake in the path,
    // not an empty export: say so rather than create an empty database.
    let config = super::store_config(&args.store)?;
    if let StoreConfig::Sqlite(path) = &config
        && !path.is_file()
    {
        anyhow::bail!(
            "no feedback store at {}: pass the --data-dir that `wick serve` used",
            path.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let flags = runtime.block_on(async {
        let store = super::open_store(&config).await?;
        let flags = store
            .list(&Filter {
                model: args.model,
                since,
                newest: None,
            })
            .await
            .context("cannot read the feedback store");
        store.close().await;
        flags
    })?;
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    write_export(&flags, args.format, &mut out).context("cannot write the export")?;
    out.flush().context("cannot write the export")?;
    if let Some(path) = &args.output {
        eprintln!("wrote {} flags to {}", flags.len(), path.display());
    }
    Ok(())
}
