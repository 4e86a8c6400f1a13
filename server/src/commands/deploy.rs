//! `wick deploy space`: a Hugging Face Space folder (Docker SDK) that runs
//! the given bundles — a Dockerfile, the Space README with its front
//! matter, a .dockerignore, the bundles, and the `wick` binary.
//!
//! The Dockerfile's build stage either takes a prebuilt binary (build
//! argument `WICK_BINARY`, by default `bin/wick`: this very binary), so the
//! image builds where no Rust image is reachable, or compiles the Wick
//! checkout copied into `wick-src/` (with `--source`) in a Rust image. The
//! runtime's base image is the build argument `BASE_IMAGE`. Both folders
//! always exist, so the same Dockerfile builds either way.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use wick_engine::Bundle;
use wick_engine::bundle::MANIFEST;

use crate::cli::SpaceArgs;

/// Space colours Hugging Face accepts.
const COLOURS: [&str; 8] = [
    "red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray",
];
/// Hugging Face's limit on `short_description`.
const SHORT_DESCRIPTION_CHARS: usize = 60;

/// `wick deploy space`.
pub fn space(args: SpaceArgs) -> anyhow::Result<()> {
    for colour in [&args.color_from, &args.color_to] {
        if !COLOURS.contains(&colour.as_str()) {
            bail!(
                "`{colour}` is not a Space colour; use one of {}",
                COLOURS.join(", ")
            );
        }
    }
    let bundles = open_bundles(&args.bundles)?;
    let out = &args.out_dir;
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for bundle in &bundles {
        copy_bundle(bundle, &out.join("bundles").join(&bundle.manifest.name))?;
    }
    for folder in ["bin", "wick-src"] {
        let path = out.join(folder);
        if path.exists() {
            fs::remove_dir_all(&path)
                .with_context(|| format!("cannot replace {}", path.display()))?;
        }
        fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
    }
    let from_source = match &args.source {
        Some(checkout) => {
            copy_checkout(checkout, &out.join("wick-src"))?;
            true
        }
        None => {
            let binary = match &args.binary {
                Some(path) => path.clone(),
                None => std::env::current_exe().context("cannot find this wick binary")?,
            };
            copy_file(&binary, &out.join("bin/wick"))?;
            false
        }
    };
    let names: Vec<&str> = bundles.iter().map(|b| b.manifest.name.as_str()).collect();
    let feedback_dir = args.feedback_dir.to_string_lossy();
    if !feedback_dir.starts_with('/') || feedback_dir.contains(['"', '\\', '$', '\n']) {
        bail!("--feedback-dir must be a plain absolute path, e.g. /data (got `{feedback_dir}`)");
    }
    write(
        out,
        "Dockerfile",
        &dockerfile(&names, from_source, &feedback_dir),
    )?;
    write(out, "README.md", &readme(&args, &bundles))?;
    write(out, ".dockerignore", "**/.git\n**/wick-data\n**/target\n")?;
    eprintln!(
        "wrote a Space for {} in {} (wick {}); push it with the steps in its README.md",
        names.join(", "),
        out.display(),
        if from_source {
            "built from wick-src/"
        } else {
            "from bin/wick"
        }
    );
    Ok(())
}

/// Opens each bundle folder, checking every file's hash.
pub(crate) fn open_bundles(dirs: &[PathBuf]) -> anyhow::Result<Vec<Bundle>> {
    dirs.iter()
        .map(|dir| {
            Bundle::open(dir)
                .with_context(|| format!("cannot open the bundle in {}", dir.display()))
        })
        .collect()
}

pub(crate) fn write(dir: &Path, name: &str, text: &str) -> anyhow::Result<()> {
    let path = dir.join(name);
    fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn copy_file(from: &Path, to: &Path) -> anyhow::Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    fs::copy(from, to)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// wick.toml and every file it lists (their hashes were just checked).
fn copy_bundle(bundle: &Bundle, to: &Path) -> anyhow::Result<()> {
    if to.exists() {
        fs::remove_dir_all(to).with_context(|| format!("cannot replace {}", to.display()))?;
    }
    copy_file(&bundle.dir.join(MANIFEST), &to.join(MANIFEST))?;
    for file in bundle.manifest.files.keys() {
        copy_file(&bundle.dir.join(file), &to.join(file))?;
    }
    Ok(())
}

/// The files git tracks in a Wick checkout.
fn copy_checkout(checkout: &Path, to: &Path) -> anyhow::Result<()> {
    let listed = Command::new("git")
        .arg("-C")
        .arg(checkout)
        .args(["ls-files", "-z"])
        .output()
        .context("cannot run git to list the checkout's files")?;
    if !listed.status.success() {
        bail!(
            "{} is not a git checkout of Wick: {}",
            checkout.display(),
            String::from_utf8_lossy(&listed.stderr).trim()
        );
    }
    for name in listed.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = PathBuf::from(String::from_utf8_lossy(name).as_ref());
        copy_file(&checkout.join(&name), &to.join(&name))?;
    }
    Ok(())
}

fn dockerfile(bundles: &[&str], from_source: bool, feedback_dir: &str) -> String {
    // Prebuilt: the build stage only copies bin/wick, so any Debian image
    // will do; from source it needs Rust.
    let (build_image, binary) = if from_source {
        ("rust:1.95-bookworm", "")
    } else {
        ("debian:bookworm-slim", "bin/wick")
    };
    let bundle_args = bundles
        .iter()
        .map(|name| format!(", \"bundles/{name}\""))
        .collect::<String>();
    format!(
        r#"# A Hugging Face Space running Wick, written by `wick deploy space`.
#
# Build arguments:
#   BASE_IMAGE   runtime image (default debian:bookworm-slim)
#   BUILD_IMAGE  image of the build stage (Rust, to compile wick-src/)
#   WICK_BINARY  a prebuilt wick in the build context (e.g. bin/wick);
#                empty: compile the Wick checkout in wick-src/
ARG BASE_IMAGE=debian:bookworm-slim
ARG BUILD_IMAGE={build_image}

# Build stage: the prebuilt binary, or wick compiled from wick-src/.
FROM ${{BUILD_IMAGE}} AS build
ARG WICK_BINARY={binary}
COPY bin/ /context/bin/
COPY wick-src/ /context/wick-src/
RUN if [ -n "$WICK_BINARY" ]; then \
      install -D -m 755 "/context/$WICK_BINARY" /out/wick; \
    else \
      apt-get update \
      && apt-get install -y --no-install-recommends nodejs npm python3 \
      && cd /context/wick-src && bash scripts/build \
      && install -D -m 755 target/release/wick /out/wick; \
    fi

# The runtime: the binary and the bundles, run as uid 1000 on port 7860.
FROM ${{BASE_IMAGE}}
COPY --from=build /out/wick /usr/local/bin/wick
RUN useradd --create-home --uid 1000 user \
 && mkdir -p /home/user/app "{feedback_dir}" \
 && chown user:user /home/user/app "{feedback_dir}"
USER 1000
WORKDIR /home/user/app
COPY --chown=1000:1000 bundles/ /home/user/app/bundles/
# Feedback goes to {feedback_dir}: mount a storage bucket there in the
# Space's settings, or set the secret WICK_FEEDBACK_DB to a postgres://
# URL. Without either it is on the container's disk, lost at restart, and
# wick serve says so in its log and on /admin/feedback.
ENV HOME=/home/user \
    WICK_HOST=0.0.0.0 \
    WICK_PORT=7860 \
    WICK_DATA_DIR="{feedback_dir}" \
    WICK_ALLOW_EMBED=https://huggingface.co
EXPOSE 7860
# Every bundle file's SHA-256 is checked at start.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
  CMD bash -c 'exec 3<>/dev/tcp/127.0.0.1/${{WICK_PORT}} && printf "GET /readyz HTTP/1.0\r\n\r\n" >&3 && head -n 1 <&3 | grep -q " 200"'
CMD ["wick", "serve"{bundle_args}]
"#
    )
}

fn readme(args: &SpaceArgs, bundles: &[Bundle]) -> String {
    let first = &bundles[0].manifest;
    let title = args.title.clone().unwrap_or_else(|| {
        if first.ui.title.is_empty() {
            first.name.clone()
        } else {
            first.ui.title.clone()
        }
    });
    let description = args
        .short_description
        .clone()
        .unwrap_or_else(|| first.ui.description.clone());
    let short: String = if description.chars().count() > SHORT_DESCRIPTION_CHARS {
        let cut: String = description
            .chars()
            .take(SHORT_DESCRIPTION_CHARS - 1)
            .collect();
        format!("{}…", cut.trim_end())
    } else {
        description.clone()
    };
    let mut models: Vec<&str> = Vec::new();
    for id in bundles
        .iter()
        .filter_map(|b| b.manifest.hub_id.as_deref())
        .chain(args.models.iter().map(String::as_str))
    {
        if !models.contains(&id) {
            models.push(id);
        }
    }
    // JSON strings are valid YAML scalars: quoting without a YAML library.
    let quote = |text: &str| serde_json::to_string(text).unwrap_or_default();
    let models_yaml = if models.is_empty() {
        " []".to_string()
    } else {
        models
            .iter()
            .map(|m| format!("\n  - {}", quote(m)))
            .collect()
    };
    let served = bundles
        .iter()
        .map(|b| {
            format!(
                "- `{}` {} ({})",
                b.manifest.name, b.manifest.version, b.manifest.task
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        r#"---
title: {title}
emoji: {emoji}
colorFrom: {color_from}
colorTo: {color_to}
sdk: docker
app_port: 7860
short_description: {short}
models:{models_yaml}
pinned: false
---

# {heading}

{description}

Served by Wick from one binary: the demo at `/`, the JSON API at
`/api/models`, its OpenAPI document at `/openapi.json`, Prometheus metrics
at `/metrics`.

{served}

## Feedback

Flags from the demo go to an SQLite file in `{feedback_dir}`. A Space's own
disk is lost whenever it restarts or sleeps, so keep them one of two ways:

- mount a storage bucket at `{feedback_dir}` (the Space's Settings →
  Volumes), or
- add a secret `WICK_FEEDBACK_DB` with a `postgres://` URL (a database
  several Spaces or replicas can share).

Until then `wick serve` warns in its log and at the top of
`/admin/feedback` that feedback is on the container's disk. To review flags
at `/admin/feedback`, add a secret `WICK_ADMIN_TOKEN`.

## Push

```sh
git init && git lfs install && git lfs track "bin/wick" "*.safetensors" "*.bin"
git remote add space https://huggingface.co/spaces/YOUR_NAME/YOUR_SPACE
git add . && git commit -m "Wick Space" && git push space HEAD:main
```
"#,
        title = quote(&title),
        emoji = quote(&args.emoji),
        color_from = args.color_from,
        color_to = args.color_to,
        short = quote(&short),
        heading = title,
        feedback_dir = args.feedback_dir.display(),
    )
}
