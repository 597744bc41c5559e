"""Did it learn? The count-based baseline, the honest [MASK]-position metric, the learning check and thread choice."""

import pytest
import torch

from ptmlab import runtime
from ptmlab.errors import PtmlabError
from ptmlab.experiment import LearningCheck
from ptmlab.models.counting import NeighbourCounts, most_frequent_token
from ptmlab.objectives.mlm import MaskedLM
from ptmlab.train.baselines import masked_baselines
from ptmlab.train.pretrain import init_output_bias

N_SPECIAL, MASK = 5, 4


def patterned_blocks(n=200, seed=0):
    """Blocks of repeated triples 'a b c': the middle word is fixed by its neighbours, the first word is random."""
    g = torch.Generator().manual_seed(seed)
    firsts = torch.randint(N_SPECIAL, 30, (n, 10), generator=g)
    triples = torch.stack([firsts, firsts + 30, firsts + 60], dim=-1).view(n, 30)
    return torch.cat([torch.full((n, 1), 2), triples, torch.full((n, 1), 3)], dim=1)


def test_counting_the_neighbours_recovers_a_word_fixed_by_its_neighbours():
    blocks = patterned_blocks()
    counts = NeighbourCounts.fit(blocks, vocab_size=100, n_special=N_SPECIAL)
    inputs = blocks.clone()
    positions = torch.zeros_like(blocks, dtype=torch.bool)
    positions[:, 2::3] = True  # every middle word of a triple
    inputs[positions] = MASK
    guesses = counts.predict(inputs, positions)
    assert (guesses == blocks[positions]).float().mean() > 0.99
    assert (guesses >= N_SPECIAL).all()  # never a special token


def test_a_masked_neighbour_carries_no_information():
    blocks = patterned_blocks()
    counts = NeighbourCounts.fit(blocks, vocab_size=100, n_special=N_SPECIAL)
    left = torch.tensor([MASK, MASK])
    right = torch.tensor([MASK, 0])
    scores = counts.log_scores(left, right)
    assert torch.equal(scores.argmax(-1), torch.full((2,), most_frequent_token(blocks, N_SPECIAL)))


def test_masked_baselines_are_scored_on_the_positions_shown_as_mask():
    blocks = patterned_blocks(400)
    objective = MaskedLM(100, mask_prob=0.15)
    result = masked_baselines(objective, blocks[:300], blocks[300:], vocab_size=100, n_special=N_SPECIAL,
                              mask_id=MASK, batch_size=16, n_batches=100)  # fmt: skip
    assert result.n_masked > 100
    # Middle words are a third of the targets and always recoverable; the first and last words only from one side.
    assert 0.3 < result.counts_masked <= 1.0
    assert result.unigram_masked < 0.1 < result.counts_masked
    assert 0.0 <= result.unigram_all <= 1.0 and 0.0 <= result.counts_all <= 1.0


def test_the_mlm_reports_accuracy_on_mask_positions_apart_from_all_targets():
    objective = MaskedLM(100)
    blocks = patterned_blocks(8)
    batch = objective.corrupt(blocks, torch.Generator().manual_seed(0))

    class Oracle(torch.nn.Module):  # predicts every target right, so both accuracies are 1 where defined
        def forward(self, input_ids, attention_mask, predict_positions):
            logits = torch.nn.functional.one_hot(blocks[predict_positions], 100).float() * 10
            return type("Out", (), {"extras": {"logits": logits.requires_grad_()}})()

    metrics = objective.loss(Oracle(), batch).metrics
    assert metrics["masked_accuracy"] == 1.0 and metrics["accuracy"] == 1.0


def test_the_output_bias_starts_at_the_log_unigram():
    blocks = patterned_blocks()
    bias = torch.nn.Parameter(torch.zeros(100))
    init_output_bias(bias, blocks, N_SPECIAL)
    frequent = most_frequent_token(blocks, N_SPECIAL)
    assert int(bias.argmax()) == frequent and bias[:N_SPECIAL].max() <= bias.min() + 1e-6


def test_the_learning_check_says_plainly_when_a_run_is_on_the_unigram_plateau():
    plateau = LearningCheck(False, "accuracy on [MASK] positions", 0.046, 0.21, "counting the neighbours", plateau=0.045)
    assert plateau.on_plateau and "still on the unigram plateau" in str(plateau)
    halfway = LearningCheck(False, "accuracy on [MASK] positions", 0.15, 0.21, "counting the neighbours", plateau=0.045)
    assert not halfway.on_plateau and "has not beaten its baseline" in str(halfway)
    learned = LearningCheck(True, "accuracy on [MASK] positions", 0.3, 0.21, "counting the neighbours", plateau=0.045)
    assert str(learned).startswith("learned")


def test_threads_follow_the_environment_the_hub_and_the_load(monkeypatch):
    for name in runtime.SHARED_SERVER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PTMLAB_THREADS", "3")
    assert runtime.thread_choice() == (3, "PTMLAB_THREADS")
    monkeypatch.setenv("PTMLAB_THREADS", "many")
    with pytest.raises(PtmlabError, match="not a number of threads"):
        runtime.thread_choice()
    monkeypatch.delenv("PTMLAB_THREADS")
    monkeypatch.setattr(runtime, "usable_cores", lambda: 4)
    monkeypatch.setattr(runtime.os, "getloadavg", lambda: (0.1, 0.1, 0.1))
    assert runtime.thread_choice()[0] == 4
    monkeypatch.setattr(runtime.os, "getloadavg", lambda: (2.2, 1.0, 1.0))
    n, why = runtime.thread_choice()
    assert n == 2 and "busy" in why
    monkeypatch.setattr(runtime.os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    assert runtime.thread_choice()[0] == 1
    monkeypatch.setenv("JUPYTERHUB_USER", "ada")
    n, why = runtime.thread_choice()
    assert n == 1 and "JupyterHub" in why


def test_held_out_blocks_are_drawn_round_robin_across_documents():
    """One long article cannot fill the evaluation: the first block of every document comes before any second one."""
    from ptmlab.data.batching import spread_blocks
    from ptmlab.data.tokenizers import train_tokenizer

    long_doc = [f"the long article keeps talking about rivers number {i} ." for i in range(200)]
    short_docs = [[f"short piece {d} says stones {d} and more words to fill a block here ."] * 3 for d in range(5)]
    tokenizer = train_tokenizer(long_doc + [s for d in short_docs for s in d], kind="word", vocab_size=200)
    blocks = spread_blocks(tokenizer, [long_doc, *short_docs], block_len=16, n_blocks=8)
    assert len(blocks) == 8
    piece = tokenizer.encode("piece", add_special_tokens=False)[0]
    from_short = [(row == piece).any().item() for row in blocks[:6]]
    assert sum(from_short) == 5  # the first six rows: one block of each of the six documents


def test_the_trainer_evaluates_with_its_own_objective(tiny_config, tiny_blocks):
    """Train at 40% masked, evaluate BERT's 15%: the evaluation corrupts with the evaluation objective."""
    from ptmlab.train.trainer import TrainConfig, Trainer

    model = MaskedLM(tiny_config.vocab_size).build_model(tiny_config)
    seen = []

    class Watching(MaskedLM):
        def corrupt(self, *args, **kwargs):
            seen.append(self.mask_prob)
            return super().corrupt(*args, **kwargs)

    config = TrainConfig(steps=2, batch_size=4, eval_every=0, eval_batches=1, betas=(0.9, 0.98))
    result = Trainer(model, MaskedLM(tiny_config.vocab_size, mask_prob=0.4), tiny_blocks, config, live_plot=False,
                     eval_objective=Watching(tiny_config.vocab_size)).fit()  # fmt: skip
    assert seen == [0.15]  # the one evaluation corrupted with the evaluation objective, not the training one
    assert len(result.history) == 2 and "eval_loss" in result.evals[-1]
