//! Every input widget and output view, rendered on the server: each kind of
//! the signature becomes the element a person expects, with its test hook.

use leptos::prelude::*;
use wick_types::{Field, Kind};

use crate::inputs::{InputWidget, initial_value};
use crate::outputs::OutputView;

fn render_input(kind: Kind) -> String {
    let owner = Owner::new();
    owner.with(|| {
        let field = Field::new("x", kind);
        let value = RwSignal::new(initial_value(&field));
        view! { <InputWidget field value invalid=false endpoint="e".to_string()/> }.to_html()
    })
}

fn render_output(kind: Kind, value: serde_json::Value) -> String {
    Owner::new()
        .with(|| view! { <OutputView field=Field::new("y", kind) value=Some(value)/> }.to_html())
}

#[test]
fn each_input_kind_renders_its_widget_with_a_tied_label() {
    let cases = [
        (
            Kind::Text {
                lines: 1,
                placeholder: Some("Say".into()),
                max_chars: Some(9),
            },
            vec![
                "<input type=\"text\"",
                "maxlength=\"9\"",
                "placeholder=\"Say\"",
            ],
        ),
        (
            Kind::Text {
                lines: 4,
                placeholder: None,
                max_chars: None,
            },
            vec!["<textarea", "rows=\"4\""],
        ),
        (
            Kind::Number {
                min: Some(1.0),
                max: Some(5.0),
                step: None,
            },
            vec!["type=\"number\"", "min=\"1\"", "max=\"5\""],
        ),
        (
            Kind::Slider {
                min: 0.0,
                max: 1.0,
                step: 0.1,
            },
            vec!["type=\"range\"", "step=\"0.1\"", "<output"],
        ),
        (Kind::Checkbox, vec!["type=\"checkbox\""]),
        (
            Kind::Dropdown {
                choices: vec!["red".into(), "blue".into()],
            },
            vec![
                "<select",
                "<option value=\"red\">red",
                "<option value=\"blue\">blue",
            ],
        ),
        (
            Kind::Radio {
                choices: vec!["yes".into(), "no".into()],
            },
            vec![
                "role=\"radiogroup\"",
                "type=\"radio\"",
                "value=\"yes\"",
                "value=\"no\"",
            ],
        ),
        (
            Kind::Tags {
                min_items: None,
                max_items: None,
                max_chars: None,
            },
            vec!["type=\"text\"", "comma-separated"],
        ),
        (
            Kind::Image { max_bytes: None },
            vec!["type=\"file\"", "accept=\"image/*\""],
        ),
        (
            Kind::Audio { max_bytes: None },
            vec!["type=\"file\"", "accept=\"audio/*\""],
        ),
    ];
    for (kind, expected) in cases {
        let html = render_input(kind.clone());
        assert!(html.contains("data-testid=\"input-x\""), "{kind:?}: {html}");
        assert!(
            html.contains("<label for=\"input-e-x\""),
            "{kind:?}: {html}"
        );
        assert!(html.contains("id=\"input-e-x\""), "{kind:?}: {html}");
        for piece in expected {
            assert!(html.contains(piece), "{kind:?} lacks {piece}: {html}");
        }
    }
}

#[test]
fn each_output_kind_renders_its_view() {
    let label = render_output(
        Kind::Label { top_k: Some(2) },
        serde_json::json!({"label": "b", "confidences": [
            {"label": "a", "confidence": 0.2}, {"label": "b", "confidence": 0.7}, {"label": "c", "confidence": 0.1}
        ]}),
    );
    assert!(label.contains("data-testid=\"output-y\""), "{label}");
    // Best first, cut to top_k.
    let (b, a) = (
        label.find("data-label=\"b\"").unwrap(),
        label.find("data-label=\"a\"").unwrap(),
    );
    assert!(b < a, "{label}");
    assert!(!label.contains("data-label=\"c\""), "{label}");
    assert!(label.contains("70.0%"), "{label}");

    assert!(render_output(Kind::Score, serde_json::json!(0.75533)).contains("0.7553"));
    let embedding = render_output(Kind::Embedding { dim: 2 }, serde_json::json!([0.6, 0.8]));
    assert!(embedding.contains("class=\"sparkline\""), "{embedding}");
    assert!(embedding.contains("1.0000"), "norm missing: {embedding}");
    let url = "data:image/png;base64,iVBORw==";
    let image = render_output(Kind::Image { max_bytes: None }, serde_json::json!(url));
    assert!(image.contains(&format!("<img src=\"{url}\"")), "{image}");
    let audio = render_output(
        Kind::Audio { max_bytes: None },
        serde_json::json!("data:audio/wav;base64,UklGRg=="),
    );
    assert!(
        audio.contains("<audio") && audio.contains("controls"),
        "{audio}"
    );
    let json = render_output(Kind::Json, serde_json::json!({"k": [1, 2]}));
    assert!(
        json.contains("<details") && json.contains("class=\"json\""),
        "{json}"
    );
    assert!(
        json.contains("&quot;k&quot;") || json.contains("\"k\""),
        "{json}"
    );
    let text = render_output(
        Kind::Text {
            lines: 1,
            placeholder: None,
            max_chars: None,
        },
        serde_json::json!("<b>hi</b>"),
    );
    assert!(
        text.contains("&lt;b&gt;hi&lt;/b&gt;"),
        "text must be escaped: {text}"
    );
}
