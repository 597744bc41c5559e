"""The Experiment protocol on a toy chapter: presets resolved once, arms x seeds, one score cache, the Comparison."""

import json
from dataclasses import dataclass

import pytest

from ptmlab.errors import InputError
from ptmlab.experiment import ChapterPreset, Comparison, Experiment, LearningCheck, resolve_preset
from ptmlab.train.cache import Run


@dataclass(frozen=True)
class ToyPreset(ChapterPreset):
    size: int = 3
    widths: tuple[int, ...] = (1, 2)  # a tuple field: JSON reads it back as a list, the cache must still match
    seeds: tuple[int, ...] = (0, 1, 2)


class Toy(Experiment[ToyPreset]):
    """'Training' is free: arm a scores 1.0 + seed / 10, arm b 0.5 + seed / 10; arm c never learns."""

    name = "toy"
    title = "a toy chapter"
    presets = {"smoke": ToyPreset(size=1, expected="a 1.0"), "cpu": ToyPreset(), "gpu": ToyPreset(size=9)}
    arms = ("a", "b", "c")
    arm_names = {"a": "arm A", "b": "arm B", "c": "arm C"}
    metrics = {"score": "the score"}
    direction = ("score", "a", "b")

    def __init__(self):
        self.scored = []

    def data(self, preset):
        return {"size": preset.size}

    def pretrain(self, arm, preset, seed, data):
        return Run(model=None, meta={"config": {"arm": arm, "seed": seed, "size": preset.size}, "seconds": 0.5})

    def check(self, arm, run, data, preset):
        return LearningCheck(arm != "c", "toy accuracy", 0.1 if arm == "c" else 0.9, 0.2, "chance")

    def score(self, arm, run, data, preset, seed):
        self.scored.append((arm, seed))
        return {"score": {"a": 1.0, "b": 0.5, "c": 0.0}[arm] + seed / 10, "layers": [1, 2]}


def test_presets_resolve_by_name_environment_or_instance(monkeypatch):
    toy = Toy()
    assert toy.preset("cpu").size == 3 and toy.preset(ToyPreset(size=7)).size == 7
    monkeypatch.setenv("PTMLAB_PRESET", "gpu")
    assert toy.preset().size == 9
    assert toy.preset("smoke", size=5).size == 5


def test_a_misspelt_preset_field_names_the_closest_one():
    with pytest.raises(InputError, match="sizee.*did you mean 'size'"):
        resolve_preset(Toy.presets, "smoke", sizee=2)
    with pytest.raises(Exception, match="Unknown preset"):
        resolve_preset(Toy.presets, "smok")


def test_run_loops_arms_and_seeds_and_caches_every_score(tmp_path, monkeypatch):
    monkeypatch.setenv("PTMLAB_HOME", str(tmp_path / "home"))
    toy, lines = Toy(), []
    comparison = toy.run("cpu", progress=lines.append)
    assert [(r["arm"], r["seed"]) for r in comparison.rows] == [(a, s) for a in "abc" for s in (0, 1, 2)]
    assert len(lines) == 9 and "arm A seed 0: score 1.000" in lines[0] and "NOT learned" in lines[-1]
    assert toy.scored == [(a, s) for a in "abc" for s in (0, 1, 2)]
    again = Toy()
    assert again.run("cpu", progress=None).rows == comparison.rows and again.scored == []  # every score from cache
    assert len(Toy().run("cpu", progress=None, rescore=True).rows) == 9


def test_a_damaged_score_file_is_scored_again(tmp_path, monkeypatch):
    monkeypatch.setenv("PTMLAB_HOME", str(tmp_path / "home"))
    Toy().run("smoke", arms=["a"], seeds=[0], progress=None)
    (path,) = (tmp_path / "home" / "scores").glob("toy-a-*.json")
    path.write_text("{not json")
    toy = Toy()
    assert toy.run("smoke", arms=["a"], seeds=[0], progress=None).rows[0]["score"] == 1.0
    assert toy.scored == [("a", 0)] and json.loads(path.read_text())["scores"]["score"] == 1.0


def test_the_shared_cache_is_read_first_and_never_written(tmp_path, monkeypatch):
    monkeypatch.setenv("PTMLAB_HOME", str(tmp_path / "instructor"))
    Toy().run("smoke", arms=["a"], seeds=[0], progress=None)
    monkeypatch.setenv("PTMLAB_HOME", str(tmp_path / "learner"))
    monkeypatch.setenv("PTMLAB_SHARED_CACHE", str(tmp_path / "instructor"))
    learner = Toy()
    learner.run("smoke", arms=["a"], seeds=[0], progress=None)
    assert learner.scored == [] and not (tmp_path / "learner" / "scores").exists()


def test_an_interrupted_run_is_scored_but_its_score_is_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("PTMLAB_HOME", str(tmp_path / "home"))

    class Interrupted(Toy):
        def pretrain(self, arm, preset, seed, data):
            return Run(model=None, meta={"config": {"arm": arm}, "interrupted": True})

    Interrupted().run("smoke", arms=["a"], seeds=[0], progress=None)
    assert not list((tmp_path / "home").glob("scores/*.json"))


def test_unknown_arms_are_refused():
    with pytest.raises(InputError, match="Unknown arm"):
        Toy().run("smoke", arms=["z"], progress=None)


def test_comparison_summarises_and_reads_the_direction(tmp_path, monkeypatch):
    monkeypatch.setenv("PTMLAB_HOME", str(tmp_path / "home"))
    comparison = Toy().run("cpu", progress=None)
    mean, sd, n = comparison.summary()["a"]["score"]
    assert mean == pytest.approx(1.1) and sd == pytest.approx(0.1) and n == 3
    d = comparison.direction()
    assert d["wins"] == 3 and d["mean_difference"] == pytest.approx(0.5) and d["learned"] is True
    assert "arm A beats arm B" in comparison.verdict() and "3/3 seeds" in comparison.verdict()
    assert "did not learn" in comparison.verdict("score", "a", "c")
    assert [r["arm"] for r in comparison.unlearned()] == ["c"] * 3
    header, rows = comparison.table()
    assert header[0] == "arm" and rows[0][:2] == ["arm A", "1.100 ± 0.100"] and rows[2][-1] == "0/3"
    assert "arm B" in comparison.table_text()
    assert comparison.paper_table() is None and comparison.paper_figure() is None
    assert len(comparison.figure().data) == 6  # a bar and the seeds' dots per arm
    assert comparison.table_figure().data[0].type == "table"
    assert "3 not learned" in repr(comparison)


def test_start_prints_what_to_expect(capsys):
    preset = Toy().start("smoke")
    out = capsys.readouterr().out
    assert preset.size == 1 and "a toy chapter" in out and "Expected: a 1.0" in out


def test_a_comparison_without_a_direction_says_what_to_pass():
    class Plain(Toy):
        direction = None

    comparison = Comparison(Plain(), Toy.presets["smoke"], [])
    with pytest.raises(InputError, match="names no direction"):
        comparison.direction()
