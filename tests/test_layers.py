"""The package drawing: gantrain's layers import only downwards, and no module imports one that imports it
back. Every import counts, including those inside functions and under TYPE_CHECKING (an import hidden in a
function to dodge a cycle is still a cycle)."""

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gantrain"

# bottom to top; a module may import its own package and the packages of a lower rank only (models/ and
# data/ share a rank: neither imports the other)
RANKS = {"core": 0, "augment": 1, "models": 1, "data": 1, "losses": 2, "metrics": 3, "training": 4, "tasks": 5, "app": 6}
# the package's own files: its __init__ and the old-path aliases sit with core/, `python -m gantrain` with app/
TOP_LEVEL = {"gantrain": ("core", 0), "gantrain._moved": ("core", 0), "gantrain.__main__": ("app", 6)}


def module_files() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The gantrain modules `name` imports, wherever in the file the import stands."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the importing module's package
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # `from gantrain.metrics import fidelity` imports the module gantrain.metrics.fidelity
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def rank(module: str) -> tuple[str, int]:
    if module in TOP_LEVEL:
        return TOP_LEVEL[module]
    layer = module.split(".")[1]
    assert layer in RANKS, f"{module} is in no layer: put it in one of {', '.join(RANKS)} (tests/test_layers.py RANKS)"
    return layer, RANKS[layer]


def test_every_module_is_in_a_layer():
    loose = [m for m in module_files() if m not in TOP_LEVEL and m.count(".") < 2 and m.split(".")[1] not in RANKS]
    assert not loose, f"modules outside the layers: {loose}"


def test_imports_only_point_down():
    upward = []
    for module, imported in graph().items():
        layer, level = rank(module)
        for other in imported:
            other_layer, other_level = rank(other)
            if other_layer != layer and other_level >= level:
                upward.append(f"{module} ({layer}) imports {other} ({other_layer})")
    assert not upward, "imports that do not point down:\n" + "\n".join(sorted(upward))


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return groups


def test_no_import_cycles():
    found = cycles(graph())
    assert not found, "modules that import each other round:\n" + "\n".join(" <-> ".join(g) for g in found)


def test_the_checks_catch_what_they_look_for():
    # the cycle finder on a drawing with a circle and a tail; the rank rule on an upward edge
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    assert rank("gantrain.core.batch") == ("core", 0) and rank("gantrain.app.cli") == ("app", 6)
    modules = module_files()
    assert "gantrain.core.objective" in imports_of("gantrain.losses.base", modules["gantrain.losses.base"], modules)


@pytest.mark.parametrize("old, new", [("gantrain.fidelity", "gantrain.metrics.fidelity"), ("gantrain.optim", "gantrain.training.optim")])
def test_old_module_paths_still_import(old, new):
    """A checkpoint's stored config names classes by their old path (`_target_: gantrain.optim.adam`)."""
    import importlib

    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        module = importlib.import_module(old)
    assert module.__name__ == new


def test_pyproject_lists_every_package_folder():
    """setuptools warns for each folder with files that `packages` does not list; the list matches the tree."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {"gantrain." + ".".join(p.relative_to(PACKAGE).parts) for p in PACKAGE.rglob("*") if p.is_dir() and p.name != "__pycache__"}
    folders |= {
        "gantrain.conf" + "".join("." + part for part in p.relative_to(ROOT / "conf").parts)
        for p in (ROOT / "conf").rglob("*")
        if p.is_dir()
    }
    folders |= {"gantrain", "gantrain.conf"}
    assert listed == folders


def test_the_tasks_register_the_resolvers_a_stored_config_uses_without_the_command():
    """load_run resolves a run's stored config (`${gantrain_if_unlabelled:...}`) in a process that never
    imported the CLI: the resolvers come with the layer that turns configs into objects."""
    import subprocess
    import sys

    code = (
        "import gantrain.tasks.trained; from omegaconf import OmegaConf; "
        "import sys; sys.exit(0 if OmegaConf.has_resolver('gantrain_if_unlabelled') else 1)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
