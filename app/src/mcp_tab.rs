//! The "MCP" tab of the "Use via API" page: the server's Model Context
//! Protocol URL, the tools a model's endpoints are, and the configuration
//! agent clients take to reach them, ready to paste (Gradio's API page
//! shows the same for `mcp_server=True`). Made on the server as HTML, as
//! the article is: as a Leptos view it took the light WASM from 394 KB to
//! 413 KB gzipped, past its 400 KB budget; this way it is 399 KB.

use serde_json::json;
use wick_types::ModelInfo;

/// What a configuration names the server.
const SERVER_NAME: &str = "wick";
/// Where a token goes in a snippet.
const TOKEN: &str = "YOUR_TOKEN";

/// How an agent reaches this server's MCP tools.
pub struct McpSetup {
    /// The Streamable HTTP endpoint, at Gradio's path.
    pub url: String,
    /// Whether calls need `Authorization: Bearer` (`--auth-token`).
    pub token: bool,
    /// For clients that speak Streamable HTTP themselves (Cursor,
    /// Windsurf, Cline): the URL.
    pub http_config: String,
    /// For clients that start a local process (Claude Desktop): the
    /// `mcp-remote` bridge from npm, as Gradio's page shows it.
    pub bridge_config: String,
    /// Claude Code's command line.
    pub claude_code: String,
}

impl McpSetup {
    pub fn new(base_url: &str, token: bool) -> McpSetup {
        let url = format!("{base_url}/gradio_api/mcp/");
        let pretty = |value| serde_json::to_string_pretty(&value).unwrap_or_default();
        let mut server = json!({ "url": url });
        let mut args = vec![
            json!("-y"),
            json!("mcp-remote"),
            json!(url),
            json!("--transport"),
            json!("http-only"),
        ];
        let mut header = String::new();
        if token {
            server["headers"] = json!({ "Authorization": format!("Bearer {TOKEN}") });
            args.push(json!("--header"));
            args.push(json!(format!("Authorization:Bearer {TOKEN}")));
            header = format!(" --header \"Authorization: Bearer {TOKEN}\"");
        }
        McpSetup {
            http_config: pretty(json!({ "mcpServers": { SERVER_NAME: server } })),
            bridge_config: pretty(
                json!({ "mcpServers": { SERVER_NAME: { "command": "npx", "args": args } } }),
            ),
            claude_code: format!("claude mcp add --transport http {SERVER_NAME} {url}{header}"),
            url,
            token,
        }
    }
}

/// The tab's HTML for `model`, one of `served` models at `base_url`;
/// `setup` is none with `--no-mcp`.
pub fn tab_html(
    model: &ModelInfo,
    served: usize,
    base_url: &str,
    setup: Option<&McpSetup>,
) -> String {
    let Some(setup) = setup else {
        return "<p data-testid=\"mcp-off\">This server was started with <code>--no-mcp</code>: \
                it serves no MCP tools.</p>"
            .into();
    };
    let mut html = format!(
        "<p>Every endpoint is a tool that agents (Claude, Cursor, VS Code and other MCP clients) \
         can call, over Streamable HTTP at <code data-testid=\"mcp-url\">{}</code> (also \
         <code>{}</code>). Images and audio go in as an <code>http(s)</code> URL, a file uploaded \
         with <code>POST /gradio_api/upload</code>, a <code>data:</code> URL or the file's bytes \
         in base64; image and audio outputs come back as image and audio content.</p>",
        escape(&setup.url),
        escape(&format!("{base_url}/mcp")),
    );
    if setup.token {
        html.push_str(&format!(
            "<p>This server asks for a token: put one of its <code>--auth-token</code> values in \
             place of <code>{TOKEN}</code>.</p>"
        ));
    }
    html.push_str(
        "<div class=\"table-scroll\"><table class=\"mcp-tools\"><thead><tr><th>Tool</th>\
         <th>What it does</th></tr></thead><tbody>",
    );
    for endpoint in &model.endpoints {
        html.push_str(&format!(
            "<tr><td><code data-testid=\"mcp-tool\">{}</code></td><td>{}</td></tr>",
            escape(&model.mcp_tool_name(&endpoint.name, served)),
            escape(&endpoint.description),
        ));
    }
    html.push_str("</tbody></table></div>");
    for (caption, testid, code) in [
        (
            "Cursor, Windsurf, Cline (Streamable HTTP)",
            "mcp-config",
            &setup.http_config,
        ),
        (
            "Claude Desktop (through npx mcp-remote)",
            "mcp-bridge",
            &setup.bridge_config,
        ),
        ("Claude Code", "mcp-claude-code", &setup.claude_code),
    ] {
        html.push_str(&format!(
            "<figure class=\"snippet\"><figcaption>{caption}</figcaption>\
             <pre><code data-testid=\"{testid}\">{}</code></pre></figure>",
            escape(code)
        ));
    }
    html
}

/// Text as HTML: the five characters that could start markup or end an
/// attribute, as entities.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_http_config_names_the_url_and_a_token_only_when_one_is_needed() {
        let open = McpSetup::new("http://h:7860", false);
        let config: serde_json::Value = serde_json::from_str(&open.http_config).unwrap();
        assert_eq!(
            config,
            json!({"mcpServers": {"wick": {"url": "http://h:7860/gradio_api/mcp/"}}})
        );
        let locked = McpSetup::new("http://h:7860", true);
        let config: serde_json::Value = serde_json::from_str(&locked.http_config).unwrap();
        assert_eq!(
            config["mcpServers"]["wick"]["headers"]["Authorization"],
            "Bearer YOUR_TOKEN"
        );
    }

    #[test]
    fn the_bridge_runs_mcp_remote_on_the_url() {
        let bridge: serde_json::Value =
            serde_json::from_str(&McpSetup::new("http://h", true).bridge_config).unwrap();
        let server = &bridge["mcpServers"]["wick"];
        assert_eq!(server["command"], "npx");
        let args: Vec<&str> = server["args"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a.as_str())
            .collect();
        assert_eq!(
            args,
            [
                "-y",
                "mcp-remote",
                "http://h/gradio_api/mcp/",
                "--transport",
                "http-only",
                "--header",
                "Authorization:Bearer YOUR_TOKEN"
            ]
        );
        assert_eq!(
            McpSetup::new("http://h", false).claude_code,
            "claude mcp add --transport http wick http://h/gradio_api/mcp/"
        );
    }

    #[test]
    fn what_the_model_author_wrote_is_escaped() {
        let mut model: ModelInfo = serde_json::from_value(json!({
            "name": "m", "version": "1", "task": "t",
            "endpoints": [{"name": "e", "description": "<script>x</script> & more",
                           "inputs": [], "outputs": [], "streams": false}],
        }))
        .unwrap();
        let html = tab_html(
            &model,
            1,
            "http://h",
            Some(&McpSetup::new("http://h", false)),
        );
        assert!(
            html.contains("&lt;script&gt;x&lt;/script&gt; &amp; more"),
            "{html}"
        );
        assert!(!html.contains("<script>"));
        assert!(
            html.contains("<code data-testid=\"mcp-tool\">e</code>"),
            "{html}"
        );
        model.endpoints.clear();
        assert!(tab_html(&model, 1, "http://h", None).contains("mcp-off"));
    }
}
