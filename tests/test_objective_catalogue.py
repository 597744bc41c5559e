"""The catalogue of objectives: every entry is a real Objective, in the survey section and chapter it claims."""

from pathlib import Path

import pytest

from ptmlab.errors import InputError
from ptmlab.objectives import CATALOGUE, objective_class
from ptmlab.objectives.base import Objective

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_every_entry_is_an_objective_in_its_section_and_chapter(name):
    entry = CATALOGUE[name]
    cls = objective_class(name)
    assert issubclass(cls, Objective)
    assert cls.section == entry.section
    for chapter in entry.chapter.split(", "):
        assert list(NOTEBOOKS.glob(f"{chapter}_*.ipynb")), f"{name}: no notebook for chapter {chapter}"
    for method in ("corrupt", "loss", "build_model"):
        assert getattr(cls, method) is not getattr(Objective, method), f"{name} does not implement {method}"


def test_the_catalogue_covers_every_pretraining_task_of_the_survey():
    sections = {entry.section for entry in CATALOGUE.values()}
    assert sections == {"3.1.1", "3.1.2", "3.1.3", "3.1.4", "3.1.5"}


def test_an_unknown_objective_gets_a_clear_error():
    with pytest.raises(InputError, match="Use one of"):
        objective_class("gpt5")
