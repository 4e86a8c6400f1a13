//! Rust types as fields of a signature: which widget or view each type
//! is, and how its values come in and go out. `#[derive(Inputs)]` and
//! `#[derive(Outputs)]` call these for each field; the attributes call the
//! narrower traits (`TextInput`, `NumberInput`, …), so an attribute on a
//! type it does not fit is a compile error that says so.

use wick_types::{Field, FieldError, Kind, Value, Values};

use crate::media::{Audio, Chat, Embedding, Entities, Image, Segments};

/// A struct whose fields are an endpoint's inputs: derive it with
/// `#[derive(wick::Inputs)]`.
pub trait Inputs: Sized + Send + 'static {
    /// The endpoint's description: the struct's doc comment.
    fn description() -> &'static str;
    /// One input per field, in order.
    fn fields() -> Vec<Field>;
    /// Reads the fields out of inputs already checked against `fields()`.
    fn from_values(values: &mut Values) -> Result<Self, FieldError>;
    /// This request's cost for batching requests of similar size together:
    /// the characters of its text.
    fn size(&self) -> usize;
}

/// A struct whose fields are an endpoint's outputs: derive it with
/// `#[derive(wick::Outputs)]`.
pub trait Outputs: Send + 'static {
    /// One output per field, in order.
    fn fields() -> Vec<Field>;
    /// The outputs by name (an `Option` field that is `None` is left out).
    fn into_values(self) -> Values;
}

/// A fieldless enum whose variants are the choices of a dropdown (or of
/// radio buttons, with `#[wick(radio)]`): derive it with
/// `#[derive(wick::Choice)]`; `#[wick(rename = "...")]` on a variant
/// changes the text shown and sent.
pub trait Choice: Sized + Send + 'static {
    /// The choices, in the variants' order.
    const CHOICES: &'static [&'static str];
    /// The variant a choice names.
    fn from_choice(choice: &str) -> Option<Self>;
    /// The choice this variant is.
    fn choice(&self) -> &'static str;
}

/// A type an input field may have.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an input field",
    label = "not an input type",
    note = "inputs are String, bool, integers, f32/f64, Vec<String>, a #[derive(Choice)] enum, \
            wick::Image, wick::Audio, wick::Chat, serde_json::Value, or an Option of one"
)]
pub trait Input: Sized {
    /// Whether a request must give it (an `Option` need not).
    const REQUIRED: bool = true;
    /// The widget, before attributes change it.
    fn kind() -> Kind;
    /// Reads the checked value (`None`: left out, for an `Option`).
    fn from_value(value: Option<Value>) -> Result<Self, String>;
    /// The value, as a default or an example is sent.
    fn into_value(self) -> Value;
    /// The characters of text it holds (for batching by size).
    fn size(&self) -> usize {
        0
    }
}

/// A type an output field may have.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an output field",
    label = "not an output type",
    note = "outputs are String, f32/f64 (a score), wick::Label, wick::Embedding, wick::Image, \
            wick::Audio, wick::Segments, wick::Entities, serde_json::Value, a #[derive(Choice)] enum, \
            or an Option of one"
)]
pub trait Output {
    /// The view it is shown in.
    fn kind() -> Kind;
    /// The value (`None` leaves the output out).
    fn into_output(self) -> Option<Value>;
}

/// Text inputs: `lines`, `placeholder`, `max_chars`.
#[diagnostic::on_unimplemented(
    message = "`lines`, `placeholder` and `max_chars` are for text inputs (String), not `{Self}`"
)]
pub trait TextInput {
    /// The field with its text box's settings.
    fn text(
        field: Field,
        lines: Option<u32>,
        placeholder: Option<&str>,
        max_chars: Option<usize>,
    ) -> Field;
}

/// Number inputs: `min`, `max`, `step`, `slider`.
#[diagnostic::on_unimplemented(
    message = "`min`, `max`, `step` and `slider` are for number inputs (integers, f32, f64), not `{Self}`"
)]
pub trait NumberInput {
    /// The field with its range; a slider when asked.
    fn range(
        field: Field,
        min: Option<f64>,
        max: Option<f64>,
        step: Option<f64>,
        slider: bool,
    ) -> Field;
}

/// Choice inputs: `radio`.
#[diagnostic::on_unimplemented(message = "`radio` is for a #[derive(Choice)] enum, not `{Self}`")]
pub trait ChoiceInput {
    /// The field as radio buttons instead of a dropdown.
    fn radio(field: Field) -> Field;
}

/// List inputs: `max_items`.
#[diagnostic::on_unimplemented(message = "`max_items` is for Vec<String> inputs, not `{Self}`")]
pub trait TagsInput {
    /// The field with a limit on its items.
    fn max_items(field: Field, max_items: Option<usize>) -> Field;
}

/// File inputs: `max_bytes`.
#[diagnostic::on_unimplemented(
    message = "`max_bytes` is for wick::Image and wick::Audio inputs, not `{Self}`"
)]
pub trait MediaInput {
    /// The field with a limit on the file's size.
    fn max_bytes(field: Field, max_bytes: usize) -> Field;
}

/// Conversation inputs: `max_messages`.
#[diagnostic::on_unimplemented(message = "`max_messages` is for wick::Chat inputs, not `{Self}`")]
pub trait ChatInput {
    /// The field with a limit on the messages.
    fn max_messages(field: Field, max_messages: usize) -> Field;
}

/// Label outputs: `top_k`.
#[diagnostic::on_unimplemented(message = "`top_k` is for wick::Label outputs, not `{Self}`")]
pub trait LabelOutput {
    /// The field showing the `top_k` best labels.
    fn top_k(field: Field, top_k: usize) -> Field;
}

/// Embedding outputs: `dim`.
#[diagnostic::on_unimplemented(message = "`dim` is for wick::Embedding outputs, not `{Self}`")]
pub trait EmbeddingOutput {
    /// The field with its vector's length.
    fn dim(field: Field, dim: usize) -> Field;
}

/// An input field of type `T`: labelled by `label`, else by the doc
/// comment's first line, else by its name.
pub fn input_field<T: Input>(name: &str, label: Option<&str>, doc: &str) -> Field {
    let field = named(Field::new(name, T::kind()), label, doc);
    if T::REQUIRED {
        field
    } else {
        field.optional(None)
    }
}

/// An output field of type `T`, labelled as `input_field` labels.
pub fn output_field<T: Output>(name: &str, label: Option<&str>, doc: &str) -> Field {
    named(Field::new(name, T::kind()), label, doc)
}

/// A doc comment's first line is the label (unless one is given) and the
/// rest the description.
fn named(field: Field, label: Option<&str>, doc: &str) -> Field {
    let (first, rest) = doc.split_once('\n').unwrap_or((doc, ""));
    match label {
        Some(label) => field.label(label).description(doc),
        None if first.is_empty() => field,
        None => field
            .label(first.trim_end_matches('.'))
            .description(rest.trim()),
    }
}

/// Takes the input `name` out of checked inputs as a `T`.
pub fn take<T: Input>(values: &mut Values, name: &str) -> Result<T, FieldError> {
    T::from_value(values.remove(name)).map_err(|message| FieldError {
        field: name.to_string(),
        message,
    })
}

fn missing() -> String {
    "is required".to_string()
}

fn wrong(expected: &str) -> String {
    format!("expected {expected}")
}

impl Input for String {
    fn kind() -> Kind {
        Kind::Text {
            lines: 1,
            placeholder: None,
            max_chars: None,
        }
    }
    fn from_value(value: Option<Value>) -> Result<Self, String> {
        match value.ok_or_else(missing)? {
            Value::Text(text) => Ok(text),
            _ => Err(wrong("text")),
        }
    }
    fn into_value(self) -> Value {
        Value::Text(self)
    }
    fn size(&self) -> usize {
        self.chars().count()
    }
}

impl TextInput for String {
    fn text(
        mut field: Field,
        lines: Option<u32>,
        placeholder: Option<&str>,
        max_chars: Option<usize>,
    ) -> Field {
        if let Kind::Text {
            lines: l,
            placeholder: p,
            max_chars: m,
        } = &mut field.kind
        {
            *l = lines.unwrap_or(*l);
            *p = placeholder.map(str::to_string).or(p.take());
            *m = max_chars.or(*m);
        }
        field
    }
}

impl Input for bool {
    fn kind() -> Kind {
        Kind::Checkbox
    }
    fn from_value(value: Option<Value>) -> Result<Self, String> {
        match value.ok_or_else(missing)? {
            Value::Bool(value) => Ok(value),
            _ => Err(wrong("true or false")),
        }
    }
    fn into_value(self) -> Value {
        Value::Bool(self)
    }
}

/// Numbers: floats as they come; integers whole and within their type.
macro_rules! numbers {
    (float: $($float:ty),*; integer: $($integer:ty),*) => {
        $(
            impl Input for $float {
                fn kind() -> Kind {
                    Kind::Number { min: None, max: None, step: None }
                }
                fn from_value(value: Option<Value>) -> Result<Self, String> {
                    match value.ok_or_else(missing)? {
                        Value::Number(number) => Ok(number as $float),
                        _ => Err(wrong("a number")),
                    }
                }
                fn into_value(self) -> Value {
                    Value::Number(self as f64)
                }
            }
            impl NumberInput for $float {
                fn range(field: Field, min: Option<f64>, max: Option<f64>, step: Option<f64>, slider: bool) -> Field {
                    ranged(field, min, max, step, slider)
                }
            }
            impl Output for $float {
                fn kind() -> Kind {
                    Kind::Score
                }
                fn into_output(self) -> Option<Value> {
                    Some(Value::Number(self as f64))
                }
            }
        )*
        $(
            impl Input for $integer {
                fn kind() -> Kind {
                    Kind::Number {
                        min: Some(<$integer>::MIN as f64),
                        max: Some(<$integer>::MAX as f64),
                        step: Some(1.0),
                    }
                }
                fn from_value(value: Option<Value>) -> Result<Self, String> {
                    let number = match value.ok_or_else(missing)? {
                        Value::Number(number) => number,
                        _ => return Err(wrong("a whole number")),
                    };
                    if number.fract() != 0.0
                        || number < <$integer>::MIN as f64
                        || number > <$integer>::MAX as f64
                    {
                        return Err(format!(
                            "expected a whole number from {} to {}, got {number}",
                            <$integer>::MIN,
                            <$integer>::MAX
                        ));
                    }
                    Ok(number as $integer)
                }
                fn into_value(self) -> Value {
                    Value::Number(self as f64)
                }
            }
            impl NumberInput for $integer {
                fn range(field: Field, min: Option<f64>, max: Option<f64>, step: Option<f64>, slider: bool) -> Field {
                    ranged(field, min, max, step.or(Some(1.0)), slider)
                }
            }
        )*
    };
}

numbers!(float: f32, f64; integer: i8, i16, i32, i64, u8, u16, u32, u64, usize);

/// A number field with its range; a slider when asked (its range given).
fn ranged(
    mut field: Field,
    min: Option<f64>,
    max: Option<f64>,
    step: Option<f64>,
    slider: bool,
) -> Field {
    let Kind::Number {
        min: type_min,
        max: type_max,
        step: type_step,
    } = field.kind
    else {
        return field;
    };
    let (min, max, step) = (min.or(type_min), max.or(type_max), step.or(type_step));
    field.kind = match (slider, min, max) {
        (true, Some(min), Some(max)) => Kind::Slider {
            min,
            max,
            step: step.unwrap_or((max - min) / 100.0),
        },
        _ => Kind::Number { min, max, step },
    };
    field
}

impl Input for Vec<String> {
    fn kind() -> Kind {
        Kind::Tags {
            min_items: None,
            max_items: None,
            max_chars: None,
        }
    }
    fn from_value(value: Option<Value>) -> Result<Self, String> {
        match value.ok_or_else(missing)? {
            Value::Strings(items) => Ok(items),
            _ => Err(wrong("a list of strings")),
        }
    }
    fn into_value(self) -> Value {
        Value::Strings(self)
    }
    fn size(&self) -> usize {
        self.iter().map(|item| item.chars().count()).sum()
    }
}

impl TagsInput for Vec<String> {
    fn max_items(mut field: Field, max: Option<usize>) -> Field {
        if let Kind::Tags { max_items, .. } = &mut field.kind {
            *max_items = max;
        }
        field
    }
}

impl<C: Choice> Input for C {
    fn kind() -> Kind {
        Kind::Dropdown {
            choices: C::CHOICES.iter().map(|c| c.to_string()).collect(),
        }
    }
    fn from_value(value: Option<Value>) -> Result<Self, String> {
        let value = value.ok_or_else(missing)?;
        value
            .as_text()
            .and_then(C::from_choice)
            .ok_or_else(|| wrong(&format!("one of {}", C::CHOICES.join(", "))))
    }
    fn into_value(self) -> Value {
        Value::Text(self.choice().to_string())
    }
}

impl<C: Choice> ChoiceInput for C {
    fn radio(mut field: Field) -> Field {
        if let Kind::Dropdown { choices } = field.kind {
            field.kind = Kind::Radio { choices };
        }
        field
    }
}

impl<C: Choice> Output for C {
    fn kind() -> Kind {
        <String as Input>::kind()
    }
    fn into_output(self) -> Option<Value> {
        Some(Value::Text(self.choice().to_string()))
    }
}

impl Input for serde_json::Value {
    fn kind() -> Kind {
        Kind::Json
    }
    fn from_value(value: Option<Value>) -> Result<Self, String> {
        match value.ok_or_else(missing)? {
            Value::Json(json) => Ok(json),
            _ => Err(wrong("JSON")),
        }
    }
    fn into_value(self) -> Value {
        Value::Json(self)
    }
}

impl Output for serde_json::Value {
    fn kind() -> Kind {
        Kind::Json
    }
    fn into_output(self) -> Option<Value> {
        Some(Value::Json(self))
    }
}

impl Output for String {
    fn kind() -> Kind {
        <String as Input>::kind()
    }
    fn into_output(self) -> Option<Value> {
        Some(Value::Text(self))
    }
}

impl Output for wick_types::Label {
    fn kind() -> Kind {
        Kind::Label { top_k: None }
    }
    fn into_output(self) -> Option<Value> {
        Some(Value::Label(self))
    }
}

impl LabelOutput for wick_types::Label {
    fn top_k(mut field: Field, k: usize) -> Field {
        field.kind = Kind::Label { top_k: Some(k) };
        field
    }
}

impl Output for Embedding {
    fn kind() -> Kind {
        Kind::Embedding { dim: 0 }
    }
    fn into_output(self) -> Option<Value> {
        Some(Value::Vector(self.0))
    }
}

impl EmbeddingOutput for Embedding {
    fn dim(mut field: Field, dim: usize) -> Field {
        field.kind = Kind::Embedding { dim };
        field
    }
}

impl Output for Segments {
    fn kind() -> Kind {
        Kind::Segments
    }
    fn into_output(self) -> Option<Value> {
        serde_json::to_value(self.0).ok().map(Value::Json)
    }
}

impl Output for Entities {
    fn kind() -> Kind {
        Kind::Entities
    }
    fn into_output(self) -> Option<Value> {
        serde_json::to_value(self).ok().map(Value::Json)
    }
}

/// Images and audio clips: bytes and their media type, in and out.
macro_rules! media {
    ($($media:ident => $kind:ident),*) => {
        $(
            impl Input for $media {
                fn kind() -> Kind {
                    Kind::$kind { max_bytes: None }
                }
                fn from_value(value: Option<Value>) -> Result<Self, String> {
                    match value.ok_or_else(missing)? {
                        Value::Media(media) => Ok($media(media)),
                        _ => Err(wrong(stringify!($kind))),
                    }
                }
                fn into_value(self) -> Value {
                    Value::Media(self.0)
                }
            }
            impl MediaInput for $media {
                fn max_bytes(mut field: Field, max: usize) -> Field {
                    field.kind = Kind::$kind { max_bytes: Some(max) };
                    field
                }
            }
            impl Output for $media {
                fn kind() -> Kind {
                    Kind::$kind { max_bytes: None }
                }
                fn into_output(self) -> Option<Value> {
                    Some(Value::Media(self.0))
                }
            }
        )*
    };
}

media!(Image => Image, Audio => Audio);

impl Input for Chat {
    fn kind() -> Kind {
        Kind::Chat {
            max_messages: None,
            max_chars: None,
        }
    }
    fn from_value(value: Option<Value>) -> Result<Self, String> {
        match value.ok_or_else(missing)? {
            Value::Json(json) => serde_json::from_value(json)
                .map(Chat)
                .map_err(|error| error.to_string()),
            _ => Err(wrong("a list of messages")),
        }
    }
    fn into_value(self) -> Value {
        Value::Json(serde_json::to_value(self.0).unwrap_or_default())
    }
    fn size(&self) -> usize {
        self.0.iter().map(|m| m.content.chars().count()).sum()
    }
}

impl ChatInput for Chat {
    fn max_messages(mut field: Field, max: usize) -> Field {
        if let Kind::Chat { max_messages, .. } = &mut field.kind {
            *max_messages = Some(max);
        }
        field
    }
}

impl<T: Input> Input for Option<T> {
    const REQUIRED: bool = false;
    fn kind() -> Kind {
        T::kind()
    }
    fn from_value(value: Option<Value>) -> Result<Self, String> {
        value.map(|value| T::from_value(Some(value))).transpose()
    }
    fn into_value(self) -> Value {
        self.map(T::into_value)
            .unwrap_or(Value::Json(serde_json::Value::Null))
    }
    fn size(&self) -> usize {
        self.as_ref().map_or(0, T::size)
    }
}

impl<T: Output> Output for Option<T> {
    fn kind() -> Kind {
        T::kind()
    }
    fn into_output(self) -> Option<Value> {
        self.and_then(T::into_output)
    }
}

/// The attributes on an `Option<T>` are those of `T`.
macro_rules! through_option {
    ($($attribute:ident :: $method:ident ( $($arg:ident : $ty:ty),* )),* $(,)?) => {
        $(
            impl<T: $attribute> $attribute for Option<T> {
                fn $method(field: Field, $($arg: $ty),*) -> Field {
                    T::$method(field, $($arg),*)
                }
            }
        )*
    };
}

through_option!(
    TextInput::text(lines: Option<u32>, placeholder: Option<&str>, max_chars: Option<usize>),
    NumberInput::range(min: Option<f64>, max: Option<f64>, step: Option<f64>, slider: bool),
    ChoiceInput::radio(),
    TagsInput::max_items(max_items: Option<usize>),
    MediaInput::max_bytes(max_bytes: usize),
    ChatInput::max_messages(max_messages: usize),
);
