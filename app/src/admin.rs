//! The pages drawn on the server only: the feedback review page
//! (`/admin/feedback`) with its sign-in form, and the demo's sign-in page
//! (`/login`, under `--auth`), as Leptos views rendered on the server. They are not hydrated: the page is
//! read-only, its actions are plain forms and links, so it costs the WASM
//! nothing. Access (token, cookie) is the server's; this draws what it is
//! handed.

use leptos::prelude::*;
use wick_feedback::{Flag, OptionCount};

/// How much of a flag's inputs or outputs a table cell shows.
const CELL_CHARS: usize = 300;

/// What the review page shows.
pub enum ServerPage {
    /// No token is configured: the page is off.
    Off,
    /// The sign-in form, with why the last try failed.
    SignIn { problem: Option<String> },
    /// The review: the versions side by side over a window, the shadows'
    /// comparisons, counts per option, the newest flags, a CSV link.
    Review {
        /// Said above everything: feedback that will be lost.
        warning: Option<String>,
        /// One of `WINDOWS`' keys.
        window: String,
        versions: Vec<VersionRow>,
        shadows: Vec<ShadowRow>,
        counts: Vec<OptionCount>,
        newest: Vec<Flag>,
    },
    /// The store could not be read.
    Unavailable,
    /// The demo's sign-in (`--auth`); `next` is where to go after.
    DemoSignIn {
        problem: Option<String>,
        next: String,
    },
}

/// The windows the versions can be compared over: key, words and
/// seconds (0: all of it).
pub const WINDOWS: [(&str, &str, u64); 5] = [
    ("15m", "15 minutes", 15 * 60),
    ("1h", "hour", 3600),
    ("24h", "24 hours", 24 * 3600),
    ("7d", "7 days", 7 * 24 * 3600),
    ("all", "since the start", 0),
];

/// One model version over the window: its traffic, errors, latency and
/// flags, to set beside its other versions ("is 1.1.0 worse?").
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VersionRow {
    pub model: String,
    pub version: String,
    /// Its share of the traffic now, in percent; `None` once unloaded.
    pub share: Option<f64>,
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Flags per option in the window.
    pub flags: Vec<(String, i64)>,
}

/// How a shadow version's answers compared with the serving version's,
/// for one output of one endpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct ShadowRow {
    pub model: String,
    pub version: String,
    pub endpoint: String,
    pub output: String,
    pub compared: u64,
    pub agreement: Option<f64>,
    pub mean_cosine: Option<f64>,
}

/// The whole HTML document for `view`.
pub fn server_page(view: ServerPage) -> String {
    let title = match view {
        ServerPage::SignIn { .. } | ServerPage::DemoSignIn { .. } => "Sign in",
        _ => "Feedback",
    };
    let owner = Owner::new();
    let html = owner.with(|| {
        let body = match view {
            ServerPage::Off => view! {
                <p>"The review page is off. Start " <code>"wick serve"</code> " with "
                    <code>"WICK_ADMIN_TOKEN"</code> " set to turn it on."</p>
            }
            .into_any(),
            ServerPage::SignIn { problem } => view! { <SignIn problem/> }.into_any(),
            ServerPage::Review {
                warning,
                window,
                versions,
                shadows,
                counts,
                newest,
            } => view! { <Review warning window versions shadows counts newest/> }.into_any(),
            ServerPage::Unavailable => view! {
                <p class="error" role="alert">
                    "The feedback store cannot be read right now; see the server log."
                </p>
            }
            .into_any(),
            ServerPage::DemoSignIn { problem, next } => {
                view! { <DemoSignIn problem next/> }.into_any()
            }
        };
        view! {
            <html lang="en">
                <head>
                    <meta charset="utf-8"/>
                    <meta name="viewport" content="width=device-width, initial-scale=1"/>
                    // Set as raw text: a text child would carry a hydration
                    // marker, which <title> shows literally. The title is one
                    // of the fixed words above, never user text.
                    <title inner_html=format!("{title} · Wick")></title>
                    <link rel="stylesheet" href="/pkg/wick.css"/>
                    <link rel="icon" href="/favicon.svg"/>
                </head>
                <body>
                    <main class="admin"><h1>{title}</h1>{body}</main>
                </body>
            </html>
        }
        .to_html()
    });
    format!("<!DOCTYPE html>{html}")
}

#[component]
fn SignIn(problem: Option<String>) -> impl IntoView {
    view! {
        <form class="panel login" method="post" action="/admin/login">
            <label for="admin-token">"Admin token"</label>
            <input id="admin-token" name="token" type="password" data-testid="admin-token"
                autocomplete="current-password" required/>
            {problem.map(|problem| view! {
                <p class="error" role="alert" data-testid="error">{problem}</p>
            })}
            <button type="submit" class="primary" data-testid="admin-login">"Sign in"</button>
        </form>
    }
}

#[component]
fn DemoSignIn(problem: Option<String>, next: String) -> impl IntoView {
    view! {
        <form class="panel login" method="post" action="/login">
            <p class="hint">"This demo asks you to sign in."</p>
            <label for="login-username">"Username"</label>
            <input id="login-username" name="username" type="text" data-testid="login-username"
                autocomplete="username" required/>
            <label for="login-password">"Password"</label>
            <input id="login-password" name="password" type="password" data-testid="login-password"
                autocomplete="current-password" required/>
            <input type="hidden" name="next" value=next/>
            {problem.map(|problem| view! {
                <p class="error" role="alert" data-testid="error">{problem}</p>
            })}
            <button type="submit" class="primary" data-testid="login-submit">"Sign in"</button>
        </form>
    }
}

#[component]
fn Review(
    warning: Option<String>,
    window: String,
    versions: Vec<VersionRow>,
    shadows: Vec<ShadowRow>,
    counts: Vec<OptionCount>,
    newest: Vec<Flag>,
) -> impl IntoView {
    view! {
        {warning.map(|warning| view! {
            <p class="error" role="alert" data-testid="admin-warning">{warning}</p>
        })}
        <div class="admin-actions">
            <a href="/admin/feedback.csv" data-testid="admin-csv" download>"Download CSV"</a>
            <form method="post" action="/admin/logout">
                <button type="submit" class="secondary">"Sign out"</button>
            </form>
        </div>
        <Versions window versions/>
        <Shadows shadows/>
        <Counts counts/>
        <h2>"Newest flags"</h2>
        <Rows flags=newest/>
    }
}

#[component]
fn Versions(window: String, versions: Vec<VersionRow>) -> impl IntoView {
    let windows = WINDOWS
        .iter()
        .map(|(key, words, _)| {
            let current = *key == window;
            view! {
                <a href=format!("/admin/feedback?window={key}") aria-current=current.then_some("page")
                    class:current=current>{*words}</a>
            }
        })
        .collect_view();
    let percent =
        |value: Option<f64>| value.map_or("–".to_string(), |v| format!("{:.1} %", v * 100.0));
    let millis = |value: Option<f64>| value.map_or("–".to_string(), |v| format!("{v:.1} ms"));
    let rows = versions
        .into_iter()
        .map(|row| {
            let rate = |count: u64| {
                (row.requests > 0).then(|| count as f64 / row.requests as f64)
            };
            let flags = row
                .flags
                .iter()
                .map(|(option, count)| {
                    format!("{option}: {count} ({})", percent(rate(*count as u64)))
                })
                .collect::<Vec<_>>()
                .join(" · ");
            let export = format!(
                "/admin/feedback.csv?{}",
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("model", &row.model)
                    .append_pair("version", &row.version)
                    .finish()
            );
            view! {
                <tr data-version=format!("{}@{}", row.model, row.version)>
                    <td>{row.model.clone()}</td>
                    <td>{row.version.clone()}</td>
                    <td class="number">{row.share.map_or("unloaded".to_string(), |s| format!("{s:.0} %"))}</td>
                    <td class="number">{row.requests}</td>
                    <td class="number">{percent(rate(row.errors))}</td>
                    <td class="number">{millis(row.p50_ms)}</td>
                    <td class="number">{millis(row.p99_ms)}</td>
                    <td>{if flags.is_empty() { "none".to_string() } else { flags }}</td>
                    <td><a href=export download>"CSV"</a></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <h2>"Versions"</h2>
        <p class="hint">"Over the last " <span class="windows">{windows}</span>
            ". Requests are counted since the server started (the last 100,000 per version); flags as stored."</p>
        <table data-testid="admin-versions">
            <thead><tr>
                <th scope="col">"Model"</th><th scope="col">"Version"</th><th scope="col">"Traffic"</th>
                <th scope="col">"Requests"</th><th scope="col">"Error rate"</th>
                <th scope="col">"p50"</th><th scope="col">"p99"</th>
                <th scope="col">"Flags (per request)"</th><th scope="col">"Export"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

#[component]
fn Shadows(shadows: Vec<ShadowRow>) -> impl IntoView {
    (!shadows.is_empty()).then(|| {
        let rows = shadows
            .into_iter()
            .map(|row| {
                let measure = match (row.agreement, row.mean_cosine) {
                    (_, Some(cosine)) => format!("mean cosine {cosine:.4}"),
                    (Some(agreement), None) => format!("{:.1} % agree", agreement * 100.0),
                    (None, None) => "–".to_string(),
                };
                view! {
                    <tr>
                        <td>{format!("{}@{}", row.model, row.version)}</td>
                        <td>{row.endpoint}</td><td>{row.output}</td>
                        <td class="number">{row.compared}</td><td>{measure}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <h2>"Shadows"</h2>
            <p class="hint">"Copies of live requests answered by a shadow version, compared with what the serving version answered."</p>
            <table data-testid="admin-shadows">
                <thead><tr>
                    <th scope="col">"Shadow"</th><th scope="col">"Endpoint"</th><th scope="col">"Output"</th>
                    <th scope="col">"Compared"</th><th scope="col">"Agreement"</th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }
    })
}

#[component]
fn Counts(counts: Vec<OptionCount>) -> impl IntoView {
    if counts.is_empty() {
        return view! { <p data-testid="admin-empty">"Nothing has been flagged yet."</p> }
            .into_any();
    }
    view! {
        <h2>"Flags per option"</h2>
        <table data-testid="admin-counts">
            <thead><tr>
                <th scope="col">"Model"</th><th scope="col">"Version"</th>
                <th scope="col">"Option"</th><th scope="col">"Flags"</th>
            </tr></thead>
            <tbody>
                {counts.into_iter().map(|count| view! {
                    <tr>
                        <td>{count.model}</td><td>{count.version}</td><td>{count.option}</td>
                        <td class="number">{count.count}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn Rows(flags: Vec<Flag>) -> impl IntoView {
    view! {
        <div class="table-scroll">
            <table data-testid="admin-rows">
                <thead><tr>
                    <th scope="col">"Time (UTC)"</th><th scope="col">"Model"</th>
                    <th scope="col">"Endpoint"</th><th scope="col">"Option"</th>
                    <th scope="col">"Comment"</th><th scope="col">"Inputs"</th>
                    <th scope="col">"Outputs"</th>
                </tr></thead>
                <tbody>
                    {flags.into_iter().map(|stored| {
                        let flag = stored.flag;
                        view! {
                            <tr data-id=stored.id>
                                <td>{stored.created_at}</td>
                                <td>{format!("{}@{}", flag.model, flag.version)}</td>
                                <td>{flag.endpoint}</td>
                                <td>{flag.option}</td>
                                <td>{flag.comment.unwrap_or_default()}</td>
                                <td><code>{shorten(&flag.inputs.to_string())}</code></td>
                                <td><code>{shorten(&flag.outputs.to_string())}</code></td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(CELL_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_flags_is_escaped_and_the_sign_in_form_names_its_problem() {
        let html = server_page(ServerPage::SignIn {
            problem: Some("<b>wrong</b>".into()),
        });
        assert!(
            html.starts_with("<!DOCTYPE html><html lang=\"en\">"),
            "{html}"
        );
        assert!(html.contains("<title>Sign in · Wick</title>"), "{html}");
        assert!(html.contains("data-testid=\"admin-token\""), "{html}");
        assert!(html.contains("&lt;b&gt;wrong&lt;/b&gt;"), "{html}");
        assert!(!html.contains("<b>wrong"), "{html}");

        let empty = server_page(ServerPage::Review {
            warning: Some("feedback is lost at restart".into()),
            window: "24h".into(),
            versions: vec![VersionRow {
                model: "m".into(),
                version: "1.1.0".into(),
                share: Some(10.0),
                requests: 200,
                errors: 2,
                p50_ms: Some(3.0),
                p99_ms: Some(9.5),
                flags: vec![("Incorrect".into(), 4)],
            }],
            shadows: Vec::new(),
            counts: Vec::new(),
            newest: Vec::new(),
        });
        for shown in [
            "Incorrect: 4 (2.0 %)",
            "1.0 %",
            "9.5 ms",
            "10 %",
            "/admin/feedback.csv?model=m&amp;version=1.1.0",
        ] {
            assert!(empty.contains(shown), "{shown} in {empty}");
        }
        assert!(empty.contains("data-testid=\"admin-empty\""), "{empty}");
        assert!(empty.contains("feedback is lost at restart"), "{empty}");
        assert!(empty.contains("href=\"/admin/feedback.csv\""), "{empty}");
    }

    #[test]
    fn long_cells_are_cut() {
        assert_eq!(shorten("short"), "short");
        let long = "é".repeat(CELL_CHARS + 5);
        assert_eq!(shorten(&long).chars().count(), CELL_CHARS + 1);
    }
}
