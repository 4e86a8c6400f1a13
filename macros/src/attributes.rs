//! `#[wick(...)]` on a field, and its doc comment.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, ExprUnary, Lit, LitInt, LitStr, UnOp};

/// Which side of an endpoint a field is on: each takes its own attributes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Input,
    Output,
}

const INPUT_KEYS: &str = "label, lines, placeholder, max_chars, min, max, step, slider, radio, \
                          max_items, max_bytes, max_messages, default";
const OUTPUT_KEYS: &str = "label, top_k, dim";

/// Everything `#[wick(...)]` may say about one field.
#[derive(Default)]
pub struct FieldAttributes {
    pub label: Option<LitStr>,
    pub lines: Option<LitInt>,
    pub placeholder: Option<LitStr>,
    pub max_chars: Option<LitInt>,
    pub min: Option<Expr>,
    pub max: Option<Expr>,
    pub step: Option<Expr>,
    pub slider: Option<Span>,
    pub radio: Option<Span>,
    pub max_items: Option<LitInt>,
    pub max_bytes: Option<LitInt>,
    pub max_messages: Option<LitInt>,
    pub default: Option<Expr>,
    pub top_k: Option<LitInt>,
    pub dim: Option<LitInt>,
}

impl FieldAttributes {
    pub fn parse(attributes: &[Attribute], side: Side) -> syn::Result<FieldAttributes> {
        let mut parsed = FieldAttributes::default();
        for attribute in attributes.iter().filter(|a| a.path().is_ident("wick")) {
            attribute.parse_nested_meta(|meta| {
                let key = meta
                    .path
                    .get_ident()
                    .map(|ident| ident.to_string())
                    .unwrap_or_default();
                let (input, output) = (side == Side::Input, side == Side::Output);
                match key.as_str() {
                    "label" => parsed.label = Some(meta.value()?.parse()?),
                    "lines" if input => parsed.lines = Some(meta.value()?.parse()?),
                    "placeholder" if input => parsed.placeholder = Some(meta.value()?.parse()?),
                    "max_chars" if input => parsed.max_chars = Some(meta.value()?.parse()?),
                    "min" if input => parsed.min = Some(number(meta.value()?.parse()?)?),
                    "max" if input => parsed.max = Some(number(meta.value()?.parse()?)?),
                    "step" if input => parsed.step = Some(number(meta.value()?.parse()?)?),
                    "slider" if input => parsed.slider = Some(meta.path.span()),
                    "radio" if input => parsed.radio = Some(meta.path.span()),
                    "max_items" if input => parsed.max_items = Some(meta.value()?.parse()?),
                    "max_bytes" if input => parsed.max_bytes = Some(meta.value()?.parse()?),
                    "max_messages" if input => parsed.max_messages = Some(meta.value()?.parse()?),
                    "default" if input => parsed.default = Some(meta.value()?.parse()?),
                    "top_k" if output => parsed.top_k = Some(meta.value()?.parse()?),
                    "dim" if output => parsed.dim = Some(meta.value()?.parse()?),
                    _ => {
                        let (side, keys) = match side {
                            Side::Input => ("an input", INPUT_KEYS),
                            Side::Output => ("an output", OUTPUT_KEYS),
                        };
                        return Err(meta.error(format!(
                            "`{key}` is not a wick attribute of {side}; it takes: {keys}"
                        )));
                    }
                }
                Ok(())
            })?;
        }
        parsed.check()?;
        Ok(parsed)
    }

    /// The combinations the syntax alone shows to be wrong.
    fn check(&self) -> syn::Result<()> {
        if let Some(span) = self.slider
            && (self.min.is_none() || self.max.is_none())
        {
            return Err(syn::Error::new(
                span,
                "a `slider` needs its range: `#[wick(slider, min = 0, max = 1)]`",
            ));
        }
        if let (Some(min), Some(max)) = (&self.min, &self.max)
            && let (Some(low), Some(high)) = (value_of(min), value_of(max))
            && low >= high
        {
            return Err(syn::Error::new(
                max.span(),
                format!("`max` ({high}) must be above `min` ({low})"),
            ));
        }
        if let Some(step) = &self.step
            && value_of(step).is_some_and(|step| step <= 0.0)
        {
            return Err(syn::Error::new(step.span(), "`step` must be above 0"));
        }
        if let (Some(span), Some(_)) = (self.radio, self.slider) {
            return Err(syn::Error::new(
                span,
                "`radio` and `slider` are two widgets: pick one",
            ));
        }
        Ok(())
    }
}

/// A number literal, perhaps negative; anything else is refused.
fn number(expr: Expr) -> syn::Result<Expr> {
    if value_of(&expr).is_some() {
        Ok(expr)
    } else {
        Err(syn::Error::new(
            expr.span(),
            "expected a number literal, e.g. `0`, `-1.5`",
        ))
    }
}

fn value_of(expr: &Expr) -> Option<f64> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => int.base10_parse().ok(),
        Expr::Lit(ExprLit {
            lit: Lit::Float(float),
            ..
        }) => float.base10_parse().ok(),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => value_of(expr).map(|value| -value),
        _ => None,
    }
}

/// The doc comment's lines, trimmed, joined by newlines.
pub fn doc(attributes: &[Attribute]) -> String {
    let lines: Vec<String> = attributes
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(named) => match &named.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(text),
                    ..
                }) => Some(text.value().trim().to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    lines.join("\n").trim().to_string()
}
