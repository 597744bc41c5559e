"""Chapter 03: CNN / BiLSTM / Transformer encoders, the agreement probe, the polysemy probe, attention as a graph."""

from dataclasses import replace

import pytest
import torch

from ptmlab.chapters.contextual_encoders import agreement as ag
from ptmlab.errors import InputError
from ptmlab.models.convolutional import CNNConfig, CNNEncoder, receptive_field
from ptmlab.models.recurrent import BiLSTMConfig, BiLSTMEncoder, lstm_parameter_count


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These models are tiny: one thread is faster, and far faster on a CPU shared with other jobs."""
    with ag.cpu_threads(1):
        yield


# ----------------------------------------------------------------------------- receptive field
@pytest.mark.parametrize(
    "kernels, dilations, expected",
    [
        ([3], [1], 3),  # one layer: the token and one neighbour each side
        ([3, 3, 3], [1, 1, 1], 7),  # 1 + 2 + 2 + 2
        ([5, 5], [1, 1], 9),  # 1 + 4 + 4
        ([3, 3, 3, 3], [1, 2, 4, 8], 31),  # dilations double: 1 + 2 + 4 + 8 + 16 (WaveNet-style growth)
        ([3, 5, 7], [2, 1, 3], 27),  # 1 + 2*2 + 4*1 + 6*3
        ([1, 1, 1], [1, 1, 1], 1),  # 1x1 convolutions never mix positions
    ],
)
def test_receptive_field_hand_worked(kernels, dilations, expected):
    assert receptive_field(kernels, dilations) == expected
    from ptmlab.exercises.encoders import empirical_receptive_field

    assert empirical_receptive_field(kernels, dilations) == expected  # gradients through real convolutions agree


def test_receptive_field_defaults_and_errors():
    assert receptive_field([3, 3]) == 5  # no dilations means 1 everywhere
    with pytest.raises(InputError):
        receptive_field([3, 3], [1])
    with pytest.raises(InputError):
        receptive_field([0, 3])
    with pytest.raises(InputError):
        CNNConfig(vocab_size=10, d_model=8, kernel_size=4)  # even kernels are not centred
    config = CNNConfig(vocab_size=10, d_model=8, n_layers=3, kernel_size=3, dilations=(1, 2, 1))
    assert config.receptive_field == 1 + 2 + 4 + 2
    assert CNNEncoder(config).reach == 4


def test_cnn_output_ignores_tokens_beyond_its_reach():
    torch.manual_seed(0)
    encoder = CNNEncoder(CNNConfig(vocab_size=50, d_model=16, n_layers=3, kernel_size=3, dropout=0.0)).eval()
    assert encoder.receptive_field == 7 and encoder.reach == 3
    ids = torch.randint(5, 50, (1, 21))
    centre = 10
    base = encoder(ids).last_hidden_state[0, centre]
    for offset in range(-6, 7):
        changed = ids.clone()
        changed[0, centre + offset] = 5 if ids[0, centre + offset] != 5 else 6
        moved = not torch.allclose(encoder(changed).last_hidden_state[0, centre], base, atol=1e-6)
        assert moved == (abs(offset) <= 3), f"offset {offset}"


# ----------------------------------------------------------------------------- shapes and padding
@pytest.mark.parametrize("kind", ["cnn", "bilstm"])
def test_encoder_shapes_and_padding(kind):
    torch.manual_seed(0)
    if kind == "cnn":
        encoder = CNNEncoder(CNNConfig(vocab_size=40, d_model=24, n_layers=2, dropout=0.0)).eval()
    else:
        encoder = BiLSTMEncoder(BiLSTMConfig(vocab_size=40, d_model=24, hidden_size=10, n_layers=2, dropout=0.0)).eval()
    ids = torch.randint(5, 40, (3, 9))
    out = encoder(ids)
    assert out.last_hidden_state.shape == (3, 9, 24)
    assert len(out.hidden_states) == 3  # embeddings + 2 layers
    # A sentence padded to a longer batch gets the same vectors as alone (packing / masking works).
    padded = torch.cat([ids[:1, :6], torch.zeros(1, 3, dtype=torch.long)], dim=1)
    mask = torch.tensor([[1] * 6 + [0] * 3])
    alone = encoder(ids[:1, :6]).last_hidden_state
    assert torch.allclose(encoder(padded, mask).last_hidden_state[:, :6], alone, atol=1e-5)
    with pytest.raises(InputError):
        encoder(torch.zeros(3, dtype=torch.long))


def test_lstm_parameter_formula_matches_torch():
    for args in [(8, 4, True), (64, 40, True), (33, 17, False)]:
        lstm = torch.nn.LSTM(args[0], args[1], bidirectional=args[2])
        assert lstm_parameter_count(*args) == sum(p.numel() for p in lstm.parameters())


# ----------------------------------------------------------------------------- comparable classifiers
@pytest.mark.parametrize("preset_name", ["smoke", "cpu"])
def test_classifiers_have_comparable_parameter_counts(preset_name):
    preset = ag.AGREEMENT_PRESETS[preset_name]
    configs = ag.matched_configs(vocab_size=320, max_len=20, preset=preset)
    sizes = {kind: ag.count_parameters(ag.AgreementClassifier(c)) for kind, c in configs.items()}
    target = sizes["transformer"]
    for size in sizes.values():
        assert abs(size - target) / target < 0.30, sizes
    assert {c.d_model for c in configs.values()} == {preset.d_model}  # one embedding size for all three
    assert configs["cnn"].encoder["n_layers"] == preset.cnn_layers


@pytest.mark.parametrize("kind", ag.ENCODERS)
def test_a_few_steps_lower_the_loss(kind):
    torch.manual_seed(0)
    preset = replace(ag.AGREEMENT_PRESETS["smoke"], dropout=0.0)
    config = ag.matched_configs(30, 12, preset)[kind]
    model = ag.AgreementClassifier(config)
    ids = torch.randint(5, 30, (32, 12))
    positions = torch.full((32,), 6)
    labels = (ids[:, 5] > 17).long()  # the answer sits next to the classified position: every encoder can see it
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(model(ids, None, positions), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


# ----------------------------------------------------------------------------- agreement pipeline (smoke data)
TINY = replace(
    ag.AGREEMENT_PRESETS["smoke"],
    distances=(1, 3, 6),
    n_train_per_cell=24,
    n_test_per_cell=12,
    steps=6,
    batch_size=16,
    seeds=(0, 1, 2),
)


@pytest.fixture(scope="module")
def results():
    return ag.run_agreement(TINY, progress=False)


def test_agreement_data_masks_the_verb(results):
    data = results.data
    assert data.label_names == ["singular", "plural"]
    test = data.test
    for i in range(len(test)):
        tokens = test.tokens[i]
        assert tokens[0] == "[CLS]" and tokens[int(test.positions[i])] == "[MASK]"
        assert test.input_ids[i, test.positions[i]] == data.tokenizer.mask_id
    assert set(test.distances.tolist()) == {1, 3, 6}
    assert (test.n_attractors[test.distances == 1] == 0).all()  # no room for an attractor at distance 1

    def own_sentences(split):
        return [tuple(t[int(start) : -1]) for t, start in zip(split.tokens, split.sentence_start)]

    assert not set(own_sentences(test)) & set(own_sentences(data.train))  # test sentences are unseen
    assert all(s[0] == "The" for s in own_sentences(test))
    with_context = test.sentence_start > 1  # a preceding sentence moves the subject away from position 2
    assert 0 < int(with_context.sum()) < len(test)
    assert ((test.positions - test.sentence_start) == test.distances + 2).all()  # "The" subject <d words> verb


def test_agreement_results_summaries(results):
    assert len(results.runs) == 3 * 3
    rows = results.summary()
    cells = {(r["encoder"], r["condition"], r["distance"]) for r in rows}
    assert ("cnn", "attractors", 6) in cells and ("transformer", "no attractors", 1) in cells
    assert ("bilstm", "attractors", 1) not in cells
    assert all(0.0 <= r["mean"] <= 1.0 and r["n_seeds"] == 3 and r["sd"] >= 0 for r in rows)
    speed = results.params_speed()
    assert [r["encoder"] for r in speed] == list(ag.ENCODERS)
    assert all(r["parameters"] > 0 and r["examples_per_second"] > 0 for r in speed)
    bench = results.benchmark_speed(steps=1, rounds=1)
    assert [r["encoder"] for r in bench] == list(ag.ENCODERS)
    assert all(r["train_examples_per_second"] > 0 and r["infer_examples_per_second"] > 0 for r in bench)
    assert "interleaved benchmark" in results.params_speed_table()
    findings = results.findings()
    assert findings["cnn_max_distance"] == ag.cnn_reach(TINY) - 1 == 3
    assert "cnn_degrades|attractors" in findings and "attention_beats_rnn|no attractors" in findings
    table = results.accuracy_table()
    assert "Transformer (attractors)" in table and " ± " in table
    assert "Tang et al." in results.report()
    figure = results.figure()
    lines = [t for t in figure.data if t.name]
    assert {t.name for t in lines} == {"CNN", "BiLSTM", "Transformer"}
    assert all(t.error_y.visible and len(t.error_y.array) == len(t.x) for t in lines)  # the spread over seeds
    by_key = {(r["encoder"], r["condition"], r["distance"]): r["sd"] for r in rows}
    cnn = next(t for t in lines if t.name == "CNN" and len(t.x) == 3)  # the "no attractors" panel
    assert list(cnn.error_y.array) == pytest.approx([by_key[("cnn", "no attractors", d)] for d in cnn.x])


def test_agreement_runs_are_cached_and_reload_every_encoder(results):
    again = ag.run_agreement(TINY, progress=False, data=results.data)
    assert all(run.from_cache for run in again.runs)
    for first, second in zip(results.runs, again.runs):
        assert first.cells == second.cells
        state, loaded = first.model.state_dict(), second.model.state_dict()
        assert all(torch.equal(state[k], loaded[k]) for k in state)


def test_a_worker_process_job_gives_the_same_run(results):
    """What each of the `workers` processes does (rebuild the data, train, ship numpy weights) gives the serial run."""
    config, serial = results.configs["cnn"], results.runs[0]
    assert (serial.kind, serial.seed) == ("cnn", 0)
    state, meta = ag._train_job(config, TINY, 0, results.data.fingerprint)
    model, meta = ag._from_state(config, state, meta)
    assert meta["cells"] == serial.cells
    assert all(torch.equal(v, serial.model.state_dict()[k]) for k, v in model.state_dict().items())
    with pytest.raises(InputError):  # a worker that builds other data must refuse, not train on it
        ag._train_job(config, TINY, 0, "another fingerprint")


def test_the_chapter_runs_end_to_end_on_the_experiment_protocol(results):
    """EXPERIMENT.run: one row per encoder and seed with its accuracies (the same numbers as run_agreement's cells),
    the runs from the training cache, and the second run's scores from the score cache."""
    from ptmlab.chapters import contextual_encoders as chapter

    preset = replace(TINY, seeds=(0, 1))
    comparison = chapter.EXPERIMENT.run(preset, progress=None, workers=1)
    assert [(r["arm"], r["seed"]) for r in comparison.rows] == [(k, s) for k in ag.ENCODERS for s in (0, 1)]
    assert all(r["from_cache"] for r in comparison.rows)  # trained by the `results` fixture: same cache key
    for row in comparison.rows:
        assert set(chapter.METRICS) <= set(row) and all(0.0 <= row[m] <= 1.0 for m in chapter.METRICS)
        assert row["no_attractors"] == pytest.approx(results.accuracy(row["arm"], "no attractors")[row["seed"]])
        assert row["far"] == pytest.approx(results.accuracy(row["arm"], "no attractors", [6])[row["seed"]])
    lines = []
    again = chapter.EXPERIMENT.run(preset, progress=lines.append, workers=1)
    assert len(lines) == 6 and all("cached scores" in line for line in lines)
    assert [{m: r[m] for m in chapter.METRICS} for r in again.rows] == [
        {m: r[m] for m in chapter.METRICS} for r in comparison.rows
    ]
    assert chapter.EXPERIMENT.results(preset).encoders == list(ag.ENCODERS)
    header, rows = again.paper_table()
    assert "Tang et al. 2018" in header and "accuracy falls" in rows[0]
    assert again.direction()["a"] == "transformer" and again.direction()["seeds"] == 2


def _fake_results(cells: dict[str, dict[tuple[int, int], float]], seeds=(0, 1, 2), jitter=0.01) -> ag.AgreementResults:
    """Results with hand-written accuracies per (distance, attractors) cell, a little spread between seeds."""
    runs = []
    for kind, accuracy in cells.items():
        for seed in seeds:
            rows = [
                {"distance": d, "attractors": a, "accuracy": value + jitter * (seed - 1), "n": 10}
                for (d, a), value in accuracy.items()
            ]
            runs.append(ag.AgreementRun(kind, seed, None, {"cells": rows, "parameters": 1}, False))
    return ag.AgreementResults(TINY, None, runs, {})


def test_findings_give_the_verdicts_of_the_numbers():
    # TINY: distances (1, 3, 6), the CNN sees the subject up to distance 3; "long" is the longest third: [6].
    falls = {(1, 0): 0.98, (3, 0): 0.97, (3, 1): 0.96, (6, 0): 0.60, (6, 1): 0.35}
    flat = {(1, 0): 0.98, (3, 0): 0.97, (3, 1): 0.96, (6, 0): 0.97, (6, 1): 0.96}
    f = _fake_results({"cnn": falls, "bilstm": flat, "transformer": flat}).findings()
    assert (f["near"], f["far"], f["long"]) == ([1, 3], [6], [6])
    assert f["cnn_degrades|no attractors"] and f["cnn_degrades|attractors"]
    assert not f["attention_beats_rnn|no attractors"] and not f["attention_beats_rnn|attractors"]
    mean, sd = f["cnn|attractors|far"]
    assert mean == pytest.approx(0.35) and sd == pytest.approx(0.01)
    f = _fake_results({"cnn": flat, "bilstm": falls, "transformer": flat}).findings()
    assert not f["cnn_degrades|attractors"] and f["attention_beats_rnn|attractors"]
    noisy = _fake_results({"cnn": falls, "bilstm": flat, "transformer": flat}, jitter=0.3).findings()
    assert not noisy["cnn_degrades|attractors"]  # a gap inside the seeds' spread decides nothing
    report = _fake_results({"cnn": falls, "bilstm": flat, "transformer": flat}).report()
    assert "0.96 ± 0.01 -> 0.35 ± 0.01: falls" in report and "does not beat the RNN" in report


def test_attention_example_is_long_and_has_every_layer(results):
    example = ag.attention_example(results)
    n_tokens = len(example["tokens"])
    assert example["distance"] == 6
    assert len(example["attentions"]) == results.configs["transformer"].encoder["n_layers"]
    assert example["attentions"][0].shape == (1, TINY.transformer_heads, n_tokens, n_tokens)
    assert example["tokens"][example["verb_index"]] == "[MASK]"
    with pytest.raises(InputError):
        ag.attention_example(results, index=10_000)


# ----------------------------------------------------------------------------- attention as a graph
def test_attention_graph_is_fully_connected_and_filters():
    from ptmlab.viz.graph import attention_edges, attention_graph, attention_matrix

    attentions = [torch.softmax(torch.randn(1, 2, 5, 5), -1) for _ in range(3)]
    tokens = ["[CLS]", "the", "dogs", "[MASK]", "[SEP]"]
    weights = attention_matrix(attentions, layer=2, head=1)
    assert weights.shape == (5, 5)
    assert len(attention_edges(weights)) == 5 * 4  # every token to every other token
    assert len(attention_edges(weights, self_loops=True)) == 25
    assert all(w >= 0.3 for _, _, w in attention_edges(weights, threshold=0.3))
    mean = attention_matrix(attentions, layer=0, head="mean")
    assert abs(mean.sum() - 5.0) < 1e-5
    figure = attention_graph(attentions, tokens, layer=1, head=0, threshold=0.0, query=3)
    nodes = figure.data[-1]
    assert list(nodes.text) == tokens
    hover = figure.data[-2].text  # one hover label per edge: only the verb's 4 outgoing edges
    assert len(hover) == 4 and all(text.startswith("[MASK] (3) →") for text in hover)
    with pytest.raises(InputError):
        attention_graph(attentions, tokens, layer=3)
    with pytest.raises(InputError):
        attention_graph(attentions, tokens[:4])


# ----------------------------------------------------------------------------- polysemy
def test_sense_cues_and_occurrences():
    from ptmlab.chapters.contextual_encoders.polysemy import UNCLEAR, find_occurrences, guess_sense

    assert guess_sense("plant", "the coal power plant burns".split()) == "factory"
    assert guess_sense("plant", "the plant species has flowers".split()) == "organism"
    assert guess_sense("plant", "the plant is there".split()) == UNCLEAR
    sentences = ["The nuclear plant closed.", "This plant has seeds.", "A plant grew.", "No word here."] * 3
    found = find_occurrences(sentences, "plant", max_per_word=4)
    assert len(found) == 4 and {o.sense for o in found[:3]} == {"factory", "organism", UNCLEAR}
    with pytest.raises(InputError):
        find_occurrences(sentences, "zebra")


PLANT_SENTENCES = ["the power plant makes energy", "the plant has green leaves", "a coal plant", "my plant grows"]


def _tiny_mlm():
    from ptmlab.data.tokenizers import train_tokenizer
    from ptmlab.models.heads import MaskedLanguageModel
    from ptmlab.models.transformer import TransformerConfig

    tokenizer = train_tokenizer(PLANT_SENTENCES, kind="word", vocab_size=100)
    torch.manual_seed(0)
    config = TransformerConfig(vocab_size=tokenizer.vocab_size, max_len=16, d_model=16, n_layers=2, n_heads=2)
    return MaskedLanguageModel(config).eval(), tokenizer


def test_contextual_vectors_differ_while_the_static_one_is_shared():
    from ptmlab.chapters.contextual_encoders.polysemy import Occurrence, contextual_vectors, polysemy_probe

    sentences = PLANT_SENTENCES
    model, tokenizer = _tiny_mlm()
    occurrences = [Occurrence("plant", s, "x") for s in sentences]
    vectors, embedding, kept, mean = contextual_vectors(model, tokenizer, occurrences, layer=-1)
    assert vectors.shape == (4, 16) and embedding.shape == (16,) and mean.shape == (16,) and len(kept) == 4
    row = model.body.tok_emb.weight[tokenizer.token_to_id("plant")].detach().numpy()
    assert abs(embedding - row).max() < 1e-6  # the input embedding: one vector, whatever the sentence
    assert abs(vectors[0] - vectors[1]).max() > 1e-3  # same word, different contexts, different vectors
    layer0, *_ = contextual_vectors(model, tokenizer, occurrences, layer=0)
    assert abs(layer0[0] - layer0[1]).max() > 0  # position embeddings differ...
    position = 3  # [CLS] the power plant
    assert abs(layer0[0] - row - model.body.pos_emb.weight[position].detach().numpy()).max() < 1e-5  # ...plus the row
    result = polysemy_probe(model, tokenizer, sentences, ["plant"], max_per_word=10)
    item = result.words["plant"]
    stats = item.stats()
    assert (
        stats["n"] == 4 and -1.0 <= stats["self_similarity"] < 0.999 and stats["to_static"] > stats["self_similarity"]
    )
    assert abs(item.static - item.vectors.mean(0)).max() < 1e-6
    assert "plant" in result.table()
    figure = result.figure("plant")
    occurrences_shown = sum(
        len(t.x) for t in figure.data if t.name not in ("static vector (average of all)", "sense centres")
    )
    assert occurrences_shown == 4
    assert [len(t.x) for t in figure.data if t.name == "static vector (average of all)"] == [1]


def test_pretrained_comparison_is_optional(capsys):
    from ptmlab.chapters.contextual_encoders.polysemy import run_pretrained_polysemy

    assert run_pretrained_polysemy("smoke", name="/nonexistent/model-folder") is None
    assert "Skipping the pretrained comparison" in capsys.readouterr().out


# ----------------------------------------------------------------------------- exercises and widgets
def test_exercise_solutions_pass_and_wrong_answers_fail():
    from ptmlab.exercises.encoders import EXERCISES, AttentionIsAGraph, ReceptiveField

    for cls in EXERCISES:
        namespace: dict = {"torch": torch}
        exec(cls.solution_code, namespace)
        function = next(v for k, v in namespace.items() if callable(v) and k != "torch")
        assert cls().check(function), cls.title
    assert not ReceptiveField().check(lambda kernels, dilations: sum(kernels))
    assert not AttentionIsAGraph().check(lambda x, q, k: ((x @ q) @ (x @ k).T).softmax(-1))  # unscaled


def test_widgets_build_headless(results):
    from ptmlab.widgets.encoders import AgreementExplorer, AttentionGraphExplorer, ReceptiveFieldExplorer

    explorer = ReceptiveFieldExplorer(layers=3, kernel=3)
    assert explorer.update() == 7
    explorer.dilation.value = 2  # 1, 2, 4
    assert "15 tokens" in explorer.message.value
    agreement = AgreementExplorer(results)
    assert len(agreement.figure.data) > 0
    agreement.condition.value = "attractors"
    assert agreement.figure.layout.annotations[0].text == "attractors"
    graph = AttentionGraphExplorer(results)
    assert len(graph.figure.data) > 0 and "the model says" in graph.message.value
    from ptmlab.chapters.contextual_encoders.polysemy import polysemy_probe
    from ptmlab.widgets.encoders import PolysemyExplorer

    polysemy = PolysemyExplorer(polysemy_probe(*_tiny_mlm(), PLANT_SENTENCES, ["plant"]))
    assert "4 occurrences" in polysemy.numbers.value and len(polysemy.figure.data) > 0
