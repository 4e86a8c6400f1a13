//! The SentencePiece tokenizer Wick builds from a `llama`-model GGUF
//! (Llama 2's and Phi-3's vocabularies) against the token ids of
//! llama.cpp's own tokenizer test: its texts (`texts.inp`) and the ids
//! Hugging Face's tokenizers give for them (`spm-ids.out`), which
//! llama.cpp's tokenizer must reproduce too. `scripts/fetch-examples`
//! puts the files in tests/from-llama-cpp (see its wick.toml).

use std::path::PathBuf;

use wick_engine::models::llama::Gguf;
use wick_engine::tasks::text_generation::tokenizer::tokenizer_json;

fn vocabs() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/from-llama-cpp");
    assert!(
        dir.join("llama-spm.gguf").is_file(),
        "{} has no vocabularies: run scripts/fetch-examples",
        dir.display()
    );
    dir
}

/// llama.cpp's test cases: (text, ids).
fn cases() -> Vec<(String, Vec<u32>)> {
    let dir = vocabs();
    let texts = std::fs::read_to_string(dir.join("texts.inp")).unwrap();
    let ids = std::fs::read_to_string(dir.join("spm-ids.out")).unwrap();
    let texts: Vec<&str> = texts.split("\n__ggml_vocab_test__\n").collect();
    let ids: Vec<Vec<u32>> = ids
        .lines()
        .map(|line| {
            line.split_whitespace()
                .map(|id| id.parse().unwrap())
                .collect()
        })
        .collect();
    // The file ends with a separator, so the last text is empty.
    assert_eq!(texts.last(), Some(&""));
    assert_eq!(texts.len() - 1, ids.len());
    texts.into_iter().map(str::to_string).zip(ids).collect()
}

fn check(vocabulary: &str) {
    let gguf = Gguf::open(&vocabs().join(vocabulary)).unwrap();
    let json = tokenizer_json(&gguf).unwrap();
    let tokenizer = tokenizers::Tokenizer::from_bytes(json.as_bytes()).unwrap();
    let cases = cases();
    let mut wrong = Vec::new();
    for (text, expected) in &cases {
        let ids = tokenizer.encode(text.as_str(), false).unwrap();
        if ids.get_ids() != expected {
            wrong.push(format!(
                "{text:?}: {:?} instead of {expected:?}",
                ids.get_ids()
            ));
        }
        // Decoding gives the text back (the test texts have no bytes a
        // round trip could change).
        let decoded = tokenizer.decode(ids.get_ids(), false).unwrap();
        assert_eq!(&decoded, text, "{vocabulary}: decoding {:?}", ids.get_ids());
    }
    assert!(
        wrong.is_empty(),
        "{vocabulary}: {} of {} texts differ:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

#[test]
fn llama_spm_tokenizes_as_llama_cpp() {
    check("llama-spm.gguf");
}

#[test]
fn phi3_tokenizes_as_llama_cpp() {
    check("phi-3.gguf");
}
