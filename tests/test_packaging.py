"""Install facts: pyproject and environment.yml agree, `import ptmlab` stays light, the README's commands exist."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]
CONDA_NAMES = {"torch": "pytorch"}  # PyPI name -> conda-forge name where they differ


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject():
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_environment_yml_lists_every_dependency_with_the_same_range():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    conda = {_name(d): d for d in env["dependencies"] if isinstance(d, str)}
    pip = {_name(d): d for block in env["dependencies"] if isinstance(block, dict) for d in block["pip"]}
    assert "-e ." in [d for block in env["dependencies"] if isinstance(block, dict) for d in block["pip"]]
    wanted = _pyproject()["dependencies"] + _pyproject()["optional-dependencies"]["hf"]
    for requirement in wanted:
        name = _name(requirement)
        spec = requirement[len(name):].replace(" ", "")
        found = conda.get(CONDA_NAMES.get(name, name)) or pip.get(name)
        assert found, f"{name} is in pyproject.toml but not in environment.yml"
        assert found.replace(" ", "").endswith(spec), f"{name}: pyproject says {spec!r}, environment.yml {found!r}"


def test_dependencies_are_ranges_not_pins():
    for requirement in _pyproject()["dependencies"]:
        assert "==" not in requirement, f"exact pin {requirement!r}: use a range"


def test_import_ptmlab_is_light():
    code = ("import sys, ptmlab, ptmlab.runtime, ptmlab.errors; "
            "heavy = [m for m in ('torch', 'transformers', 'gensim', 'bertviz', 'plotly', 'sklearn') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"import ptmlab imported {out}"


def test_readme_commands_match_makefile_and_ci():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
    assert readme.index("make lab") < readme.index("make test")
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lab:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_no_cdn_in_the_library():
    pattern = re.compile(r"https?://(cdn|cdnjs|unpkg|cdn\.jsdelivr|cdn\.plot\.ly)")
    for path in (ROOT / "ptmlab").rglob("*"):
        if path.suffix in (".py", ".js", ".html", ".json"):
            assert not pattern.search(path.read_text(errors="ignore")), f"CDN address in {path}"
