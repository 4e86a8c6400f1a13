//! Tokens into entities, as transformers' token-classification pipeline
//! does with `aggregation_strategy="simple"`: each token takes its most
//! likely label; neighbours of the same tag join one entity unless the
//! later one begins a new one (`B-`); an entity's score is its tokens'
//! mean, its word the tokenizer's decoding of its tokens, its span from
//! its first token's start to its last token's end.

/// One token of a text (special tokens left out).
#[derive(Clone, Debug)]
pub struct Token {
    /// The token as the tokenizer writes it (`##ing`, `Ġworld`).
    pub token: String,
    /// Each label's probability.
    pub probabilities: Vec<f32>,
    /// Characters into the text.
    pub start: usize,
    pub end: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entity {
    pub group: String,
    pub score: f32,
    pub word: String,
    pub start: usize,
    pub end: usize,
}

/// transformers' `get_tag`: `B-PER` → (B, PER), `I-PER` → (I, PER),
/// anything else (`O`) → (I, itself).
fn tag(label: &str) -> (bool, &str) {
    match (label.strip_prefix("B-"), label.strip_prefix("I-")) {
        (Some(tag), _) => (true, tag),
        (None, Some(tag)) => (false, tag),
        (None, None) => (false, label),
    }
}

/// The entities of one text's tokens; `decode` writes tokens as a word,
/// `ignore` are the groups left out.
pub fn group_entities(
    tokens: &[Token],
    labels: &[String],
    decode: impl Fn(Vec<String>) -> String,
    ignore: &[String],
) -> Vec<Entity> {
    let labelled: Vec<(&Token, &str, f32)> = tokens
        .iter()
        .filter_map(|token| {
            let (best, score) = token
                .probabilities
                .iter()
                .copied()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(&b.1))?;
            Some((token, labels.get(best)?.as_str(), score))
        })
        .collect();
    let mut groups: Vec<&[(&Token, &str, f32)]> = Vec::new();
    let mut start = 0;
    for i in 1..labelled.len() {
        let (begins, this) = tag(labelled[i].1);
        let (_, last) = tag(labelled[i - 1].1);
        if this != last || begins {
            groups.push(&labelled[start..i]);
            start = i;
        }
    }
    if start < labelled.len() {
        groups.push(&labelled[start..]);
    }
    groups
        .into_iter()
        .filter_map(|group| {
            let (first, last) = (group.first()?, group.last()?);
            // transformers: the first label after its first "-".
            let name = first.1.split_once('-').map_or(first.1, |(_, rest)| rest);
            let score = group.iter().map(|(_, _, s)| s).sum::<f32>() / group.len() as f32;
            Some(Entity {
                group: name.to_string(),
                score,
                word: decode(group.iter().map(|(t, _, _)| t.token.clone()).collect()),
                start: first.0.start,
                end: last.0.end,
            })
        })
        .filter(|entity| !ignore.contains(&entity.group))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(token: &str, label: usize, start: usize, end: usize) -> Token {
        let mut probabilities = vec![0.1; 5];
        probabilities[label] = 0.6;
        Token {
            token: token.into(),
            probabilities,
            start,
            end,
        }
    }

    #[test]
    fn tokens_group_as_the_pipeline_groups_them() {
        let labels: Vec<String> = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
            .map(String::from)
            .to_vec();
        // "Marie Curie , Paris London": B I O B B.
        let tokens = [
            token("marie", 1, 0, 5),
            token("curie", 2, 6, 11),
            token(",", 0, 12, 13),
            token("paris", 3, 14, 19),
            token("london", 3, 20, 26),
        ];
        let join = |tokens: Vec<String>| tokens.join(" ");
        let entities = group_entities(&tokens, &labels, join, &["O".to_string()]);
        let got: Vec<(&str, &str, usize, usize)> = entities
            .iter()
            .map(|e| (e.group.as_str(), e.word.as_str(), e.start, e.end))
            .collect();
        assert_eq!(
            got,
            [
                ("PER", "marie curie", 0, 11),
                ("LOC", "paris", 14, 19),
                ("LOC", "london", 20, 26)
            ]
        );
        assert!((entities[0].score - 0.6).abs() < 1e-6);
        // An I- after a different tag starts a new entity, named by it.
        let tokens = [token("a", 4, 0, 1), token("b", 2, 2, 3)];
        let entities = group_entities(&tokens, &labels, join, &[]);
        assert_eq!(entities.len(), 2);
        assert_eq!(
            (entities[0].group.as_str(), entities[1].group.as_str()),
            ("LOC", "PER")
        );
    }
}
