//! `wick feedback export`: the stored flags as CSV or JSON lines, from the
//! same store `wick serve` writes, streamed a page at a time; with the
//! images and audio clips they name written beside the export.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context;
use futures_util::StreamExt;
use wick_feedback::{Filter, StoreConfig, export_stream, parse_since, write_files};

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
    let filter = Filter {
        model: args.model,
        version: args.version,
        since,
        newest: None,
    };
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    // Images and audio the flags name go where the export's `files/…`
    // names resolve: a `files` folder beside the output file.
    let files_dir = args.files_dir.clone().or_else(|| {
        let output = args.output.as_ref()?;
        Some(output.parent().unwrap_or(Path::new(".")).join("files"))
    });
    runtime.block_on(async {
        let store = Arc::new(super::open_store(&config).await?);
        let mut chunks = std::pin::pin!(export_stream(store.clone(), filter.clone(), args.format));
        while let Some(chunk) = chunks.next().await {
            out.write_all(&chunk?).context("cannot write the export")?;
        }
        out.flush().context("cannot write the export")?;
        let named = match &files_dir {
            Some(dir) => write_files(&store, &filter, dir).await?,
            None => 0,
        };
        if let (Some(dir), true) = (&files_dir, named > 0) {
            eprintln!(
                "wrote the {named} files the flags name to {}",
                dir.display()
            );
        }
        store.close().await;
        anyhow::Ok(())
    })?;
    if let Some(path) = &args.output {
        eprintln!("wrote the export to {}", path.display());
    }
    Ok(())
}
