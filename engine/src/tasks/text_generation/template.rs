//! The chat template: the model's own Jinja template (GGUF
//! `tokenizer.chat_template`, as `transformers` and llama.cpp use it),
//! rendered by minijinja with Python's string methods (`.strip()`, ...)
//! that templates written for `transformers` call, and what llama.cpp
//! adds around them: `strftime_now` and `date_string` (today, UTC) for
//! the templates that print the date (Llama 3.x), and a system message
//! folded into the first user message for templates that have no system
//! role (Gemma's raises an error, others drop it).

use minijinja::{Environment, context};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

pub struct ChatTemplate {
    environment: Environment<'static>,
    bos: String,
    eos: String,
    /// Whether the template prints a system message (found by rendering
    /// one, as llama.cpp finds it).
    system_role: bool,
    /// The date templates see, as llama.cpp writes it ("06 Dec 2026");
    /// today unless set.
    date: Option<String>,
}

const NAME: &str = "chat";

impl ChatTemplate {
    /// Compiles `source`; `bos` and `eos` are the texts of the model's
    /// special tokens, which templates may print.
    pub fn new(source: &str, bos: &str, eos: &str) -> Result<ChatTemplate, String> {
        let mut environment = Environment::new();
        minijinja_contrib::add_to_environment(&mut environment);
        environment
            .set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        environment.add_function(
            "raise_exception",
            |message: String| -> Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    message,
                ))
            },
        );
        environment.add_function("strftime_now", |format: String| {
            chrono::Utc::now().format(&format).to_string()
        });
        environment
            .add_template_owned(NAME, source.to_string())
            .map_err(|e| format!("the chat template does not compile: {e}"))?;
        let mut template = ChatTemplate {
            environment,
            bos: bos.to_string(),
            eos: eos.to_string(),
            system_role: true,
            date: None,
        };
        const NEEDLE: &str = "<system needle>";
        let probe = [message("system", NEEDLE), message("user", "Hi")];
        template.system_role = template
            .render_as_written(&probe)
            .is_ok_and(|prompt| prompt.contains(NEEDLE));
        Ok(template)
    }

    /// Renders as if today were `date` (llama.cpp's "%d %b %Y", e.g.
    /// "06 Dec 2026"), for comparisons with renderings made on that day.
    pub fn on_date(mut self, date: &str) -> ChatTemplate {
        self.date = Some(date.to_string());
        self
    }

    /// The prompt for `messages`, ending where the assistant's reply
    /// begins. Without a system role, a leading system message's text goes
    /// before the next message's, on a line of its own (alone, it is
    /// dropped), as llama.cpp does.
    pub fn render(&self, messages: &[Message]) -> Result<String, String> {
        match (self.system_role, messages) {
            (false, [system, next, rest @ ..]) if system.role == "system" => {
                let merged = Message {
                    role: next.role.clone(),
                    content: format!("{}\n{}", system.content, next.content),
                };
                let folded: Vec<Message> = std::iter::once(merged)
                    .chain(rest.iter().cloned())
                    .collect();
                self.render_as_written(&folded)
            }
            (false, [system]) if system.role == "system" => self.render_as_written(&[]),
            _ => self.render_as_written(messages),
        }
    }

    fn render_as_written(&self, messages: &[Message]) -> Result<String, String> {
        let template = self
            .environment
            .get_template(NAME)
            .map_err(|e| e.to_string())?;
        let now = chrono::Utc::now();
        let date = match &self.date {
            Some(date) => date.clone(),
            None => now.format("%d %b %Y").to_string(),
        };
        template
            .render(context! {
                messages => messages,
                add_generation_prompt => true,
                bos_token => self.bos,
                eos_token => self.eos,
                date_string => date,
                datetime => now.format("%b %d %Y").to_string(),
            })
            .map_err(|e| format!("the chat template failed: {e}"))
    }
}

fn message(role: &str, content: &str) -> Message {
    Message {
        role: role.into(),
        content: content.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SmolLM2's template, as its GGUF carries it.
    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    fn user(content: &str) -> Message {
        Message {
            role: "user".into(),
            content: content.into(),
        }
    }

    #[test]
    fn renders_smollm2s_template_with_its_default_system_message() {
        let template = ChatTemplate::new(SMOLLM2, "<|im_start|>", "<|im_end|>").unwrap();
        let prompt = template.render(&[user("Hi")]).unwrap();
        assert_eq!(
            prompt,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let system = Message {
            role: "system".into(),
            content: "Be brief.".into(),
        };
        let prompt = template.render(&[system, user("Hi")]).unwrap();
        assert!(
            prompt.starts_with("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi")
        );
    }

    #[test]
    fn python_string_methods_and_raise_exception_work() {
        let source = "{% if messages[0]['role'] == 'assistant' %}{{ raise_exception('must start with user') }}{% endif %}{{ bos_token }}{{ messages[0]['content'].strip() }}";
        let template = ChatTemplate::new(source, "<s>", "</s>").unwrap();
        assert_eq!(template.render(&[user("  hi  ")]).unwrap(), "<s>hi");
        let assistant = Message {
            role: "assistant".into(),
            content: "x".into(),
        };
        let error = template.render(&[assistant]).unwrap_err();
        assert!(error.contains("must start with user"), "{error}");
    }

    #[test]
    fn a_template_without_a_system_role_gets_the_system_text_in_the_next_message() {
        // Prints user and assistant turns only, as some templates do.
        let source = "{% for m in messages %}{% if m.role != 'system' %}[{{ m.role }}]{{ m.content }}{% endif %}{% endfor %}";
        let template = ChatTemplate::new(source, "<s>", "</s>").unwrap();
        let system = message("system", "Be brief.");
        assert_eq!(
            template.render(&[system.clone(), user("Hi")]).unwrap(),
            "[user]Be brief.\nHi"
        );
        // Alone, it is dropped, as llama.cpp drops it.
        assert_eq!(template.render(&[system]).unwrap(), "");
        // A template with a system role keeps it as it is.
        let keeps = "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}";
        let template = ChatTemplate::new(keeps, "<s>", "</s>").unwrap();
        let prompt = template
            .render(&[message("system", "S"), user("U")])
            .unwrap();
        assert_eq!(prompt, "[system]S[user]U");
    }

    #[test]
    fn templates_see_the_date_as_llama_cpp_writes_it() {
        let source = "{{ date_string }}|{{ strftime_now('%Y') }}";
        let template = ChatTemplate::new(source, "<s>", "</s>").unwrap();
        let year = chrono::Utc::now().format("%Y").to_string();
        let rendered = template.render(&[user("Hi")]).unwrap();
        assert!(rendered.ends_with(&format!(" {year}|{year}")), "{rendered}");
        let fixed = template
            .on_date("26 Jul 2024")
            .render(&[user("Hi")])
            .unwrap();
        assert_eq!(fixed, format!("26 Jul 2024|{year}"));
    }
}
