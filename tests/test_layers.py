"""The house's rules, read from the code: imports flow one way down the layers, no cycles, no chapter imports another.

Every import counts, including the lazy ones inside functions: a lazy import is still a dependency, only a slower one."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ptmlab"

# Lowest first. A module may import from its own layer or any layer below it, never from one above.
LAYERS = [
    ("errors",),
    ("runtime", "io"),
    ("data",),
    ("models",),
    ("objectives",),
    ("inference", "sampling"),
    ("train",),
    ("tasks",),
    ("viz",),  # pure (data in, figure out): it never trains, and the experiments and chapters above it draw with it
    ("experiment",),
    ("chapters",),
    ("widgets",),
    ("exercises",),
    ("app",),
    ("cli",),
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def ptmlab_imports(path: Path, package_root: Path = PACKAGE) -> set[str]:
    """Every ptmlab module `path` imports, at module level or inside a function ('ptmlab.x.y' names)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module_name(path, package_root)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("ptmlab")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            if base.startswith("ptmlab"):
                # `from ptmlab.chapters import roadmap` imports the submodule ptmlab.chapters.roadmap
                for alias in node.names:
                    candidate = f"{base}.{alias.name}"
                    found.add(candidate if _is_module(candidate, package_root) else base)
    return {m for m in found if m != here}


def _is_module(name: str, package: Path = PACKAGE) -> bool:
    path = package.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None  # `ptmlab` itself (the package face) has no layer


def graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    return {module_name(p, package): ptmlab_imports(p, package) for p in sorted(package.rglob("*.py"))}


def chapter_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "chapters" else None


def test_every_module_belongs_to_a_layer():
    unknown = sorted({layer_of(m) for m in graph() if layer_of(m) is not None} - set(RANK))
    assert not unknown, f"add these to LAYERS (in the right place): {unknown}"


def upward_imports(package: Path = PACKAGE) -> list[str]:
    upward = []
    for module, imports in graph(package).items():
        here = layer_of(module)
        if here is None:
            continue
        for target in imports:
            there = layer_of(target)
            if there is not None and RANK[there] > RANK[here]:
                upward.append(f"{module} -> {target}")
    return upward


def test_no_module_imports_from_a_layer_above_it():
    upward = upward_imports()
    assert not upward, "imports that run up the layers:\n" + "\n".join(sorted(upward))


def test_no_chapter_imports_another_chapter():
    crossing = [
        f"{module} -> {target}"
        for module, imports in graph().items()
        for target in imports
        if chapter_of(module) and chapter_of(target) and chapter_of(module) != chapter_of(target)
    ]
    assert not crossing, "chapters share code through tasks/ or experiment.py, never directly:\n" + "\n".join(crossing)


def test_no_import_cycles():
    edges = graph()
    # a package's __init__ re-exporting its own modules is not a cycle of ideas; drop package -> own child edges
    edges = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in edges.items()}
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("source", ["from ptmlab.widgets.base import Widget", "import ptmlab.widgets.base"])
def test_the_reader_sees_lazy_and_plain_imports(tmp_path, source):
    """The rules above can fail: an upward import written either way is found (in a copy, not the real package)."""
    fake = tmp_path / "ptmlab"
    for sub in ("data", "widgets"):
        (fake / sub).mkdir(parents=True)
        (fake / sub / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "widgets" / "base.py").write_text("")
    (fake / "data" / "probe.py").write_text(f"def f():\n    {source}\n", encoding="utf-8")
    assert "ptmlab.widgets.base" in ptmlab_imports(fake / "data" / "probe.py", fake)
    assert upward_imports(fake) == ["ptmlab.data.probe -> ptmlab.widgets.base"]
