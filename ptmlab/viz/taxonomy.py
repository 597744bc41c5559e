"""The survey's taxonomy of pre-trained models as an interactive sunburst, each leaf linked to its ptmlab chapter.

Qiu et al. 2020, "Pre-trained Models for Natural Language Processing: A Survey", Figure 3 and Sections 2-7."""

from __future__ import annotations

CHAPTERS = {
    "00": ("Roadmap", "00_roadmap.ipynb"),
    "01": ("Word embeddings", "01_word_embeddings.ipynb"),
    "02": ("Tokenization", "02_tokenization.ipynb"),
    "03": ("Contextual encoders", "03_contextual_encoders.ipynb"),
    "04": ("Language modelling", "04_language_modelling.ipynb"),
    "05": ("Masked LM and its enhancements", "05_masked_lm.ipynb"),
    "06": ("Seq2Seq MLM and denoising", "06_seq2seq_denoising.ipynb"),
    "07": ("Permuted LM", "07_permuted_lm.ipynb"),
    "08": ("Contrastive tasks", "08_contrastive.ipynb"),
    "09": ("Objective arena", "09_objective_arena.ipynb"),
    "10": ("Extensions", "10_extensions.ipynb"),
    "11": ("Compression", "11_compression.ipynb"),
    "12": ("Adaptation", "12_adaptation.ipynb"),
    "13": ("Applications", "13_applications.ipynb"),
    "14": ("Future directions", "14_future_directions.ipynb"),
}

# (node, parent, chapter, survey section, example models)
TAXONOMY: list[tuple[str, str, str, str, str]] = [
    ("PTMs", "", "00", "", "Qiu et al. 2020"),
    ("Contextual?", "PTMs", "01", "2.1", ""),
    ("Non-contextual", "Contextual?", "01", "2.1", "CBOW/Skip-gram, GloVe, fastText"),
    ("Contextual", "Contextual?", "03", "2.2", "ELMo, GPT, BERT"),
    ("Tokenization", "Contextual?", "02", "2.1", "BPE, WordPiece, Unigram, CharCNN"),
    ("Architectures", "PTMs", "03", "2.2", ""),
    ("Convolutional / LSTM", "Architectures", "03", "2.2", "CharCNN, ELMo, CoVe"),
    ("Transformer encoder", "Architectures", "03", "2.2", "BERT, RoBERTa, ALBERT"),
    ("Transformer decoder", "Architectures", "04", "3.1.1", "GPT, GPT-2, GPT-3"),
    ("Transformer enc-dec", "Architectures", "06", "3.1.2", "MASS, T5, BART"),
    ("Task types", "PTMs", "04", "3.1", ""),
    ("LM", "Task types", "04", "3.1.1", "ELMo, GPT"),
    ("MLM", "Task types", "05", "3.1.2", "BERT, SpanBERT, ERNIE, XLM (TLM)"),
    ("Seq2Seq MLM", "Task types", "06", "3.1.2", "MASS, T5"),
    ("PLM", "Task types", "07", "3.1.3", "XLNet"),
    ("DAE", "Task types", "06", "3.1.4", "BART"),
    ("Contrastive", "Task types", "08", "3.1.5", "ELECTRA (RTD), NSP, SOP, InfoWord, word2vec (NCE)"),
    ("Objective arena", "Task types", "09", "3.1", "all of the above, one budget"),
    ("Extensions", "PTMs", "10", "3.2, 4", ""),
    ("Knowledge-enriched", "Extensions", "10", "3.2", "ERNIE (THU), K-BERT, KnowBERT"),
    ("Multilingual", "Extensions", "10", "3.2", "mBERT, XLM"),
    ("Language-specific", "Extensions", "10", "3.2", "Chinese BERT-wwm"),
    ("Multimodal", "Extensions", "10", "3.2", "VisualBERT, VL-BERT"),
    ("Domain-specific", "Extensions", "10", "3.2", "BioBERT, SciBERT"),
    ("Compression", "PTMs", "11", "3.3", ""),
    ("Pruning", "Compression", "11", "3.3", "Michel et al. heads"),
    ("Quantization", "Compression", "11", "3.3", "Q8BERT"),
    ("Parameter sharing", "Compression", "11", "3.3", "ALBERT"),
    ("Distillation", "Compression", "11", "3.3", "DistilBERT, TinyBERT, MiniLM"),
    ("Module replacing", "Compression", "11", "3.3", "BERT-of-Theseus"),
    ("Early exit", "Compression", "11", "3.3", "DeeBERT"),
    ("Adaptation", "PTMs", "12", "4", ""),
    ("Feature extraction vs fine-tuning", "Adaptation", "12", "4.2", "ELMo, ULMFiT"),
    ("Layer choice", "Adaptation", "12", "4.2", "embedding / top / all layers"),
    ("Two-stage / multi-task", "Adaptation", "12", "4.2", "MT-DNN"),
    ("Adapters", "Adaptation", "12", "4.2", "Houlsby et al."),
    ("Prompt-based tuning", "Adaptation", "12", "4.2", "PET, AutoPrompt, P-tuning"),
    ("Applications", "PTMs", "13", "5", "GLUE, QA, NER, sentiment, summarization, MT"),
    ("Future directions", "PTMs", "14", "7", "long context, probing, adversarial attacks, scaling"),
]


def taxonomy_sunburst(height: int = 560):
    """The taxonomy as a clickable plotly sunburst; hovering a leaf names its chapter notebook."""
    import plotly.graph_objects as go

    names = [n for n, *_ in TAXONOMY]
    parents = [p for _, p, *_ in TAXONOMY]
    hover = []
    for name, _, chapter, section, models in TAXONOMY:
        title, notebook = CHAPTERS[chapter]
        where = f"survey §{section}<br>" if section else ""
        hover.append(f"<b>{name}</b><br>{where}chapter {chapter}: {title}<br>notebooks/{notebook}<br>{models}")
    figure = go.Figure(go.Sunburst(labels=names, parents=parents, hovertext=hover, hoverinfo="text",
                                   insidetextorientation="radial", maxdepth=3))
    figure.update_layout(title="The survey's taxonomy: click a ring to zoom, hover for its chapter",
                         height=height, margin=dict(l=0, r=0, t=40, b=0))
    return figure


def chapter_table_markdown(existing: set[str] | None = None) -> str:
    """A markdown table linking every chapter's notebook; chapters not yet written are marked as planned."""
    rows = ["| chapter | topic | notebook |", "|---|---|---|"]
    for number, (title, notebook) in CHAPTERS.items():
        present = existing is None or notebook in existing
        link = f"[{notebook}]({notebook})" if present else f"{notebook} (planned)"
        rows.append(f"| {number} | {title} | {link} |")
    return "\n".join(rows)
