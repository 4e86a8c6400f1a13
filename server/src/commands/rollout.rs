//! `wick rollout`: the admin API's versions routes from a shell. Every
//! subcommand prints the model's routing as the server answers it, and
//! exits non-zero with the server's message when it refuses.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::{RolloutArgs, RolloutCommand};

pub fn run(args: RolloutArgs) -> anyhow::Result<()> {
    let (method, path, body) = request(&args.command)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let status = runtime.block_on(send(&args, method, &path, body))?;
    print!("{}", describe(&status));
    Ok(())
}

/// The route and body of a subcommand.
fn request(command: &RolloutCommand) -> anyhow::Result<(Method, String, Option<Value>)> {
    let model_path = |model: &str, rest: &str| format!("/admin/api/models/{model}/{rest}");
    Ok(match command {
        RolloutCommand::Status { model } => (Method::GET, model_path(model, "rollout"), None),
        RolloutCommand::Load { bundle, force } => {
            // The server opens the path: send it whole when it is here.
            let bundle = std::fs::canonicalize(bundle).unwrap_or_else(|_| bundle.clone());
            let body = json!({"bundle": bundle, "force": force});
            (Method::POST, "/admin/api/versions".into(), Some(body))
        }
        RolloutCommand::Split { model, weights } => {
            let weights = parse_weights(weights)?;
            let body = json!({"weights": weights});
            (Method::PUT, model_path(model, "split"), Some(body))
        }
        RolloutCommand::Shadow {
            model,
            version,
            percent,
        } => {
            let body = json!({"version": version, "percent": percent});
            (Method::PUT, model_path(model, "shadow"), Some(body))
        }
        RolloutCommand::Promote { model, version } => {
            let body = json!({"version": version});
            (Method::POST, model_path(model, "promote"), Some(body))
        }
        RolloutCommand::Rollback { model } => (Method::POST, model_path(model, "rollback"), None),
        RolloutCommand::Unload { model, version } => (
            Method::DELETE,
            model_path(model, &format!("versions/{version}")),
            None,
        ),
    })
}

/// `1.0.0=90 1.1.0=10` → {"1.0.0": 90, "1.1.0": 10}.
fn parse_weights(pairs: &[String]) -> anyhow::Result<BTreeMap<String, u32>> {
    pairs
        .iter()
        .map(|pair| {
            let (version, weight) = pair
                .split_once('=')
                .with_context(|| format!("`{pair}` is not VERSION=WEIGHT"))?;
            let weight = weight
                .parse()
                .with_context(|| format!("the weight in `{pair}` must be a whole number from 0"))?;
            Ok((version.to_string(), weight))
        })
        .collect()
}

async fn send(
    args: &RolloutArgs,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let url = format!("{}{path}", args.url.trim_end_matches('/'));
    let mut request = reqwest::Client::new().request(method, &url);
    if let Some(token) = &args.token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let message = answer["error"]["message"]
            .as_str()
            .unwrap_or("no message")
            .to_string();
        bail!("the server refused ({status}): {message}");
    }
    Ok(answer)
}

/// The routing as a table.
fn describe(status: &Value) -> String {
    let mut out = format!("{}\n", status["model"].as_str().unwrap_or("?"));
    out.push_str(&format!(
        "  {:<14} {:>6} {:>8} {:>7}  {}\n",
        "VERSION", "WEIGHT", "SHARE", "QUEUED", "BUNDLE"
    ));
    for version in status["versions"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {:<14} {:>6} {:>7.1}% {:>7}  {}\n",
            version["version"].as_str().unwrap_or("?"),
            version["weight"].as_u64().unwrap_or(0),
            version["share"].as_f64().unwrap_or(0.0),
            version["queued"].as_u64().unwrap_or(0),
            version["source"].as_str().unwrap_or("-"),
        ));
    }
    match status["shadow"].as_object() {
        Some(shadow) => out.push_str(&format!(
            "shadow: {} gets a copy of {}% of the requests\n",
            shadow["version"].as_str().unwrap_or("?"),
            shadow["percent"]
        )),
        None => out.push_str("shadow: none\n"),
    }
    if let Some(baseline) = status["baseline"].as_str() {
        out.push_str(&format!("rollback returns to: {baseline}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_parsed_or_refused() {
        let weights = parse_weights(&["1.0.0=90".into(), "1.1.0=10".into()]).unwrap();
        assert_eq!(weights["1.1.0"], 10);
        assert!(parse_weights(&["1.0.0".into()]).is_err());
        assert!(parse_weights(&["1.0.0=-5".into()]).is_err());
    }
}
