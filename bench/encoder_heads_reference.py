"""Tiny random-weight models of every BERT-family architecture and head Wick
serves, and what the reference code answers for them, as test fixtures.

For each model this writes a Hugging Face folder (`save_pretrained`: config,
safetensors, tokenizer files) under OUT/<name>/ and OUT/<name>/expected.json:
transformers' pipeline outputs for classifiers and taggers,
sentence-transformers' CrossEncoder scores for rerankers and its
SentenceTransformer vectors for embedders. Tokenizers are trained here with
`tokenizers` (WordPiece for BERT and DistilBERT, byte-level BPE for the
RoBERTa family), so the fixtures need no download.

Set up once, outside the repo (see ../shared/bench/README.md for the venv):

    python3 -m venv /tmp/torch-ref
    /tmp/torch-ref/bin/pip install torch==2.15.0 transformers==5.24.0 \
        sentence-transformers==6.2.0 tokenizers==0.23.3
    /tmp/torch-ref/bin/python bench/encoder_heads_reference.py engine/tests/fixtures/heads
"""

import json
import shutil
import sys
from pathlib import Path

import torch
import transformers
from sentence_transformers import CrossEncoder, SentenceTransformer, models
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors, trainers
from tokenizers.models import BPE, WordPiece
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertForTokenClassification,
    DebertaV2Config,
    DebertaV2ForSequenceClassification,
    DebertaV2ForTokenClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    DistilBertModel,
    ModernBertConfig,
    ModernBertForSequenceClassification,
    ModernBertForTokenClassification,
    ModernBertModel,
    NomicBertConfig,
    NomicBertModel,
    PreTrainedTokenizerFast,
    RobertaConfig,
    RobertaForSequenceClassification,
    XLMRobertaConfig,
    XLMRobertaForSequenceClassification,
    XLMRobertaModel,
)

CORPUS = [
    "The cat sits outside on the mat.",
    "A man is eating food. A man is eating a piece of bread.",
    "I loved this film: the story, the music, every minute of it.",
    "The service was slow and the soup was cold; I will not come back.",
    "Berlin has a population of 3,520,031 registered inhabitants.",
    "Berlin is well known for its museums and its long nights.",
    "New York City is famous for the Metropolitan Museum of Art.",
    "Marie Curie worked in Paris at the University of Paris with Pierre Curie.",
    "Apple opened a new office in London, said Tim Cook on Monday.",
    "How many people live in Berlin? What is the capital of France?",
    "Café, naïve, façade: accents stay. 東京 is Tokyo. Emoji 🎉 too.",
]

TEXTS = [
    "I loved this film: the story, the music, every minute of it.",
    "The service was slow and the soup was cold.",
    "",
    "Café naïve 東京 🎉",
    " ".join(["the cat sits outside on the mat"] * 20),  # truncated
    "Marie Curie worked in Paris.",
]

QUERY = "How many people live in Berlin?"
DOCUMENTS = [
    "Berlin has a population of 3,520,031 registered inhabitants.",
    "Berlin is well known for its museums.",
    "New York City is famous for the Metropolitan Museum of Art.",
    "",
    " ".join(["the museums of Berlin"] * 30),  # truncated as a pair
]

SIZE = dict(hidden=32, layers=2, heads=4, intermediate=64, tokens=64)


def wordpiece() -> Tokenizer:
    tokenizer = Tokenizer(WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(CORPUS, trainers.WordPieceTrainer(vocab_size=300, special_tokens=special))
    tokenizer.post_processor = processors.BertProcessing(("[SEP]", 3), ("[CLS]", 2))
    tokenizer.decoder = decoders.WordPiece()
    return tokenizer


def byte_bpe() -> Tokenizer:
    tokenizer = Tokenizer(BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def save_tokenizer(tokenizer: Tokenizer, out: Path, bpe: bool, types: bool):
    if bpe:
        names = dict(bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>",
                     pad_token="<pad>", unk_token="<unk>", mask_token="<mask>")
    else:
        names = dict(cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]", unk_token="[UNK]",
                     mask_token="[MASK]")
    # BERT's tokenizers give token types (a pair's second text is type 1);
    # RoBERTa's and DistilBERT's do not.
    inputs = ["input_ids", "token_type_ids", "attention_mask"] if types else ["input_ids", "attention_mask"]
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, model_max_length=SIZE["tokens"],
                                   model_input_names=inputs, **names)
    fast.save_pretrained(out)
    return fast


def bert_config(cls, vocab, **extra):
    return cls(vocab_size=vocab, hidden_size=SIZE["hidden"], num_hidden_layers=SIZE["layers"],
               num_attention_heads=SIZE["heads"], intermediate_size=SIZE["intermediate"],
               max_position_embeddings=SIZE["tokens"], initializer_range=0.2, **extra)


def roberta_config(cls, vocab, **extra):
    # RoBERTa counts positions after its padding index (1): two more rows.
    return cls(vocab_size=vocab, hidden_size=SIZE["hidden"], num_hidden_layers=SIZE["layers"],
               num_attention_heads=SIZE["heads"], intermediate_size=SIZE["intermediate"],
               max_position_embeddings=SIZE["tokens"] + 2, type_vocab_size=1, pad_token_id=1,
               bos_token_id=0, eos_token_id=2, initializer_range=0.2, **extra)


def distil_config(vocab, **extra):
    return DistilBertConfig(vocab_size=vocab, dim=SIZE["hidden"], n_layers=SIZE["layers"],
                            n_heads=SIZE["heads"], hidden_dim=SIZE["intermediate"],
                            max_position_embeddings=SIZE["tokens"], initializer_range=0.2, **extra)


def deberta_config(vocab, **extra):
    # DeBERTa-v3's shape: relative attention in buckets, no absolute
    # positions, no token types.
    return DebertaV2Config(vocab_size=vocab, hidden_size=SIZE["hidden"], num_hidden_layers=SIZE["layers"],
                           num_attention_heads=SIZE["heads"], intermediate_size=SIZE["intermediate"],
                           max_position_embeddings=SIZE["tokens"], relative_attention=True,
                           pos_att_type=["p2c", "c2p"], max_relative_positions=-1, position_buckets=16,
                           share_att_key=True, norm_rel_ebd="layer_norm", position_biased_input=False,
                           type_vocab_size=0, pooler_hidden_size=SIZE["hidden"], pooler_dropout=0.0,
                           pooler_hidden_act="gelu", initializer_range=0.2, **extra)


def modernbert_config(cls, vocab, **extra):
    # A sliding window of 8 tokens (4 each side) so the texts here cross
    # it; a global layer every 3.
    return cls(vocab_size=vocab, hidden_size=SIZE["hidden"], num_hidden_layers=3,
               num_attention_heads=SIZE["heads"], intermediate_size=SIZE["intermediate"],
               max_position_embeddings=SIZE["tokens"], local_attention=8, pad_token_id=1, bos_token_id=0,
               eos_token_id=2, cls_token_id=0, sep_token_id=2, initializer_range=0.2, **extra)


def nomic_config(vocab):
    return NomicBertConfig(vocab_size=vocab, hidden_size=SIZE["hidden"], num_hidden_layers=SIZE["layers"],
                           num_attention_heads=SIZE["heads"], intermediate_size=SIZE["intermediate"],
                           max_position_embeddings=SIZE["tokens"], initializer_range=0.2)


def nomic_original(native: Path, out: Path):
    """The same Nomic-BERT as the Hub's checkpoints store it (remote code's
    names: attn.Wqkv, mlp.fc11/fc12, norm1/norm2, emb_ln; its config
    keys), with the native folder's expected answers."""
    from safetensors.torch import load_file, save_file
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(native, out)
    weights = load_file(str(native / "model.safetensors"))
    renamed = {}
    layers = sorted({int(k.split(".")[1]) for k in weights if k.startswith("layers.")})
    for i in layers:
        p, q = f"layers.{i}.", f"encoder.layers.{i}."
        renamed[q + "attn.Wqkv.weight"] = torch.cat(
            [weights.pop(p + f"self_attn.{x}_proj.weight") for x in "qkv"], dim=0)
        for old, new in [("self_attn.o_proj", "attn.out_proj"), ("mlp.up_proj", "mlp.fc11"),
                         ("mlp.gate_proj", "mlp.fc12"), ("mlp.down_proj", "mlp.fc2"),
                         ("post_attention_layernorm", "norm1"), ("post_mlp_layernorm", "norm2")]:
            for key in [k for k in weights if k.startswith(p + old + ".")]:
                renamed[q + new + key[len(p + old):]] = weights.pop(key)
    for key in [k for k in weights if k.startswith("embeddings.LayerNorm.")]:
        renamed["emb_ln." + key.split(".")[-1]] = weights.pop(key)
    renamed.update(weights)
    save_file({k: v.contiguous() for k, v in renamed.items()}, str(out / "model.safetensors"))
    native_config = json.loads((native / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({
        "architectures": ["NomicBertModel"], "model_type": "nomic_bert",
        "vocab_size": native_config["vocab_size"], "n_embd": native_config["hidden_size"],
        "n_head": native_config["num_attention_heads"], "n_layer": native_config["num_hidden_layers"],
        "n_inner": native_config["intermediate_size"], "n_positions": native_config["max_position_embeddings"],
        "type_vocab_size": native_config["type_vocab_size"], "layer_norm_epsilon": native_config["layer_norm_eps"],
        "rotary_emb_base": native_config["rope_parameters"]["rope_theta"], "rotary_emb_fraction": 1.0,
        "rotary_emb_interleaved": False, "activation_function": "swiglu", "qkv_proj_bias": False,
        "mlp_fc1_bias": False, "mlp_fc2_bias": False, "prenorm": False, "pad_token_id": 0}, indent=2) + "\n")


def randomize_norms(model):
    """transformers starts LayerNorms at 1 and 0 and biases at 0; random
    ones make a test that could not pass on a wrong weight name."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "LayerNorm" in name or "layer_norm" in name or "norm" in name or name.endswith("bias"):
                parameter.add_(torch.randn_like(parameter) * 0.1)


def save(model, tokenizer, out: Path, bpe: bool):
    if out.exists():
        shutil.rmtree(out)
    randomize_norms(model)
    model.eval()
    model.save_pretrained(out)
    return save_tokenizer(tokenizer, out, bpe, types=model.config.model_type == "bert")


def write(out: Path, expected):
    (out / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")


def classifier(out: Path, model, tokenizer, bpe: bool):
    save(model, tokenizer, out, bpe)
    pipe = transformers.pipeline("text-classification", model=str(out), device="cpu")
    results = [pipe(text, top_k=None, truncation=True) for text in TEXTS]
    write(out, {"texts": TEXTS, "labels": [[{"label": r["label"], "score": r["score"]} for r in result]
                                             for result in results]})


def tagger(out: Path, model, tokenizer, bpe: bool):
    save(model, tokenizer, out, bpe)
    pipe = transformers.pipeline("token-classification", model=str(out), device="cpu",
                                 aggregation_strategy="simple")
    results = [pipe(text) for text in TEXTS if text]
    write(out, {"texts": [t for t in TEXTS if t],
                "entities": [[{"entity_group": e["entity_group"], "score": float(e["score"]), "word": e["word"],
                               "start": e["start"], "end": e["end"]} for e in result] for result in results]})


def reranker(out: Path, model, tokenizer, bpe: bool):
    save(model, tokenizer, out, bpe)
    encoder = CrossEncoder(str(out), device="cpu", max_length=SIZE["tokens"])
    scores = encoder.predict([(QUERY, d) for d in DOCUMENTS]).tolist()
    ranked = encoder.rank(QUERY, DOCUMENTS)
    write(out, {"query": QUERY, "documents": DOCUMENTS, "scores": scores,
                "order": [r["corpus_id"] for r in ranked]})


def embedder(out: Path, model, tokenizer, bpe: bool, pooling: str, prompts=None):
    fast = save(model, tokenizer, out, bpe)
    transformer = models.Transformer(str(out), max_seq_length=SIZE["tokens"])
    pool = models.Pooling(transformer.get_word_embedding_dimension(), pooling_mode=pooling)
    st = SentenceTransformer(modules=[transformer, pool, models.Normalize()], device="cpu", prompts=prompts)
    st.save(str(out))
    (out / "README.md").unlink(missing_ok=True)
    del fast
    vectors = st.encode(TEXTS, convert_to_numpy=True).tolist()
    expected = {"texts": TEXTS, "vectors": vectors}
    if prompts:
        expected["query_vectors"] = st.encode(TEXTS, prompt_name="query", convert_to_numpy=True).tolist()
    write(out, expected)


def main():
    """OUT [NAME...]: every fixture, or only those named (the tokenizers are
    trained afresh each run, so regenerating one leaves the others as
    they are)."""
    out = Path(sys.argv[1])
    only = set(sys.argv[2:])
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    wp, bpe = wordpiece(), byte_bpe()
    wv, bv = wp.get_vocab_size(), bpe.get_vocab_size()
    labels3 = {0: "negative", 1: "neutral", 2: "positive"}
    ner = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}
    fixtures = {
        "bert-classifier": lambda: classifier(
            out / "bert-classifier", BertForSequenceClassification(bert_config(BertConfig, wv, id2label=labels3)),
            wp, False),
        "roberta-multilabel": lambda: classifier(
            out / "roberta-multilabel", RobertaForSequenceClassification(roberta_config(
                RobertaConfig, bv, id2label={0: "joy", 1: "anger", 2: "fear", 3: "surprise"},
                problem_type="multi_label_classification")), bpe, True),
        "xlm-roberta-classifier": lambda: classifier(
            out / "xlm-roberta-classifier", XLMRobertaForSequenceClassification(roberta_config(
                XLMRobertaConfig, bv, id2label={0: "NEGATIVE", 1: "POSITIVE"})), bpe, True),
        "distilbert-classifier": lambda: classifier(
            out / "distilbert-classifier", DistilBertForSequenceClassification(distil_config(wv, id2label=labels3)),
            wp, False),
        "deberta-classifier": lambda: classifier(
            out / "deberta-classifier", DebertaV2ForSequenceClassification(deberta_config(wv, id2label=labels3)),
            wp, False),
        "deberta-ner": lambda: tagger(
            out / "deberta-ner", DebertaV2ForTokenClassification(deberta_config(wv, id2label=ner)), wp, False),
        "bert-reranker": lambda: reranker(
            out / "bert-reranker", BertForSequenceClassification(bert_config(BertConfig, wv, num_labels=1)), wp, False),
        "xlm-roberta-reranker": lambda: reranker(
            out / "xlm-roberta-reranker",
            XLMRobertaForSequenceClassification(roberta_config(XLMRobertaConfig, bv, num_labels=1)), bpe, True),
        "bert-ner": lambda: tagger(out / "bert-ner", BertForTokenClassification(bert_config(
            BertConfig, wv, id2label={**ner, 5: "B-ORG", 6: "I-ORG"})), wp, False),
        "xlm-roberta-embedder": lambda: embedder(
            out / "xlm-roberta-embedder", XLMRobertaModel(roberta_config(XLMRobertaConfig, bv), add_pooling_layer=False),
            bpe, True, "mean", prompts={"query": "query: ", "document": "passage: "}),
        "distilbert-embedder": lambda: embedder(
            out / "distilbert-embedder", DistilBertModel(distil_config(wv)), wp, False, "cls"),
        "modernbert-classifier": lambda: classifier(
            out / "modernbert-classifier",
            ModernBertForSequenceClassification(modernbert_config(ModernBertConfig, bv, id2label=labels3)), bpe, True),
        "modernbert-ner": lambda: tagger(
            out / "modernbert-ner", ModernBertForTokenClassification(modernbert_config(ModernBertConfig, bv, id2label=ner)),
            bpe, True),
        "nomic-embedder": lambda: (
            embedder(out / "nomic-embedder", NomicBertModel(nomic_config(wv)), wp, False, "mean",
                     prompts={"query": "search_query: ", "document": "search_document: "}),
            nomic_original(out / "nomic-embedder", out / "nomic-embedder-original")),
        "modernbert-embedder": lambda: embedder(
            out / "modernbert-embedder", ModernBertModel(modernbert_config(ModernBertConfig, bv)), bpe, True, "mean"),
    }
    for name, make in fixtures.items():
        if not only or name in only:
            make()
    for folder in sorted(out.iterdir()):
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        print(f"{folder.name:28} {size:>9} bytes")


if __name__ == "__main__":
    main()
