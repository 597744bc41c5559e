"""Every notebook runs top to bottom under the smoke preset (outputs are discarded; the committed file is untouched)."""

import os
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_under_smoke(path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("PTMLAB_PRESET", "smoke")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors


def test_committed_notebooks_have_no_outputs():
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        assert "widgets" not in notebook.metadata, f"{path.name} has widget state committed"
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name} has outputs committed"


def test_notebooks_are_listed_in_the_roadmap():
    from ptmlab.viz.taxonomy import CHAPTERS

    known = {notebook for _, notebook in CHAPTERS.values()}
    for path in NOTEBOOKS:
        assert path.name in known, f"{path.name} is not in ptmlab.viz.taxonomy.CHAPTERS"
    assert os.environ.get("PTMLAB_PRESET") == "smoke"
