//! The chat templates popular models ship (Gemma 2, Phi-3.5, Llama 3.1,
//! Qwen2.5, Qwen3, Mistral Nemo; llama.cpp's copies, fetched into
//! tests/from-llama-cpp by scripts/fetch-examples) rendered by Wick's
//! minijinja environment, against llama.cpp's own Jinja engine
//! (tests/fixtures/chat-templates-llama-cpp.json, written by
//! bench/chat_templates_reference.py from llama-server's
//! `/apply-template`): a one-turn chat, one with a system message and an
//! earlier exchange, and one with spaces to keep. Gemma's template has no
//! system role: both fold the system message into the next one.
//!
//! llama.cpp's text lacks the BOS a template prints first (it strips it
//! and adds the token when tokenizing), so the text comparison leaves a
//! leading BOS out of Wick's; then the prompt's tokens, as Wick reads it
//! (Phi-3's SentencePiece vocabulary, whose GGUF asks for a BOS), must be
//! the server's.

use std::path::PathBuf;

use serde::Deserialize;
use wick_engine::models::llama::Gguf;
use wick_engine::tasks::text_generation::template::{ChatTemplate, Message};
use wick_engine::tasks::text_generation::tokenizer::{prompt_bos, prompt_tokens, tokenizer_json};

#[derive(Deserialize)]
struct Fixture {
    date_string: String,
    conversations: Vec<Vec<Message>>,
    templates: Vec<Rendering>,
}

#[derive(Deserialize)]
struct Rendering {
    file: String,
    bos_token: String,
    eos_token: String,
    rendered: Vec<serde_json::Value>,
    /// The server's tokens for each rendering.
    tokens: Vec<Vec<u32>>,
}

#[test]
fn popular_chat_templates_render_as_in_llama_cpp() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests");
    let fixture: Fixture = serde_json::from_str(
        &std::fs::read_to_string(root.join("fixtures/chat-templates-llama-cpp.json")).unwrap(),
    )
    .unwrap();
    // The vocabulary of the model the server had loaded.
    let vocabulary = Gguf::open(&root.join("from-llama-cpp/phi-3.gguf")).unwrap();
    let json = tokenizer_json(&vocabulary).unwrap();
    let tokenizer = tokenizers::Tokenizer::from_bytes(json.as_bytes()).unwrap();
    let bos = prompt_bos(&vocabulary);
    assert_eq!(bos, Some(1), "Phi-3's GGUF asks for its BOS");
    for rendering in &fixture.templates {
        let path = root.join("from-llama-cpp").join(&rendering.file);
        let source = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run scripts/fetch-examples", path.display()));
        let template = ChatTemplate::new(&source, &rendering.bos_token, &rendering.eos_token)
            .unwrap_or_else(|e| panic!("{}: {e}", rendering.file))
            .on_date(&fixture.date_string);
        let conversations = fixture.conversations.iter().zip(&rendering.tokens);
        for ((messages, tokens), expected) in conversations.zip(&rendering.rendered) {
            let expected = expected.as_str().unwrap_or_else(|| {
                panic!(
                    "{}: llama.cpp refused {messages:?}: {expected}",
                    rendering.file
                )
            });
            let ours = template
                .render(messages)
                .unwrap_or_else(|e| panic!("{}: {e}", rendering.file));
            let ids = prompt_tokens(&tokenizer, bos, &ours).unwrap();
            let ours = ours.strip_prefix(&rendering.bos_token).unwrap_or(&ours);
            assert_eq!(ours, expected, "{}: {messages:?}", rendering.file);
            assert_eq!(&ids, tokens, "{}: tokens of {messages:?}", rendering.file);
        }
    }
}
