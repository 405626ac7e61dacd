"""dvc.yaml against the imports: every project module a stage's entry point runs must be among the stage's deps,
or a change to it would leave `dvc repro` reporting "up to date" on results that module made."""
from __future__ import annotations

import ast
import shutil
from pathlib import Path

import yaml

from jukebox.layout import Layout
from tests.conftest import ROOT

PACKAGES = ("jukebox", "stages")  # the project's own code; everything else is a library pinned elsewhere


def _module_file(root: Path, dotted: str) -> Path | None:
    """The file of a dotted module name inside the project (a module or a package's __init__.py), if any."""
    base = root.joinpath(*dotted.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported(root: Path, path: Path) -> set[str]:
    """Dotted names every import statement of a file names (at any depth: imports inside functions too), with
    relative imports resolved; for `from a import b`, both a and a.b (b may be a module)."""
    package = path.relative_to(root).with_suffix("").parts
    package = package[:-1] if package[-1] != "__init__" else package[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[: len(package) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def project_imports(root: Path, entry: Path) -> set[str]:
    """The project files (relative, as dvc.yaml spells them) that running `entry` imports, transitively: every
    module and the __init__.py of every package above it (those with code in them)."""
    seen: set[Path] = set()
    todo = [root / entry]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imported(root, path):
            parts = name.split(".")
            if parts[0] not in PACKAGES:
                continue
            for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__.py and a/b/__init__.py first
                found = _module_file(root, ".".join(parts[:depth]))
                if found is not None and found not in seen:
                    todo.append(found)
    return {p.relative_to(root).as_posix() for p in seen if p.read_text().strip()}


def missing_deps(root: Path, dvc_yaml: Path) -> dict[str, list[str]]:
    """Per stage of `dvc_yaml`: the project modules its stages/<stage>.py imports that none of its deps covers
    (the file itself, or a folder above it)."""
    stages = yaml.safe_load(dvc_yaml.read_text())["stages"]
    missing = {}
    for name, stage in stages.items():
        deps = [d.rstrip("/") for d in (stage.get("do") or stage).get("deps") or []]
        modules = project_imports(root, Path(f"stages/{name}.py"))
        uncovered = sorted(m for m in modules if not any(m == d or m.startswith(d + "/") for d in deps))
        if uncovered:
            missing[name] = uncovered
    return missing


def test_every_stage_lists_the_project_modules_it_imports():
    assert missing_deps(ROOT, Layout.of(ROOT).dvc_yaml) == {}


def test_the_check_names_the_stage_and_the_module_when_a_dep_is_removed(tmp_path):
    raw = yaml.safe_load(Layout.of(ROOT).dvc_yaml.read_text())
    raw["stages"]["train"]["do"]["deps"].remove("jukebox/bars.py")
    copy = tmp_path / "dvc.yaml"
    copy.write_text(yaml.safe_dump(raw, sort_keys=False))
    assert missing_deps(ROOT, copy) == {"train": ["jukebox/bars.py"]}


def test_imports_inside_functions_and_relative_imports_are_followed(tmp_path):
    (tmp_path / "stages").mkdir()
    (tmp_path / "jukebox" / "sub").mkdir(parents=True)
    (tmp_path / "jukebox" / "__init__.py").write_text("")
    (tmp_path / "jukebox" / "sub" / "__init__.py").write_text("from .. import deep\n")
    (tmp_path / "jukebox" / "deep.py").write_text("import json\n")
    (tmp_path / "jukebox" / "lazy.py").write_text("def f():\n    from .sub import thing\n")
    (tmp_path / "jukebox" / "sub" / "thing.py").write_text("X = 1\n")
    (tmp_path / "stages" / "s.py").write_text("def main():\n    import jukebox.lazy\n")
    assert project_imports(tmp_path, Path("stages/s.py")) == {
        "stages/s.py", "jukebox/lazy.py", "jukebox/sub/__init__.py", "jukebox/sub/thing.py", "jukebox/deep.py"}


def test_every_output_in_dvc_yaml_lies_in_a_folder_the_layout_names():
    """dvc.yaml spells the outputs' paths for DVC; they must be the folders jukebox/layout.py gives the code."""
    layout, stages = Layout.of(ROOT), yaml.safe_load(Layout.of(ROOT).dvc_yaml.read_text())["stages"]
    folders = [p.relative_to(ROOT).as_posix() for p in layout.genre_folders("g")]
    # A stage run once, not per genre (pretrain), writes the base model's folders.
    once = [p.relative_to(ROOT).as_posix() for p in (layout.base_model, layout.base_metrics)]
    for name, stage in stages.items():
        body = stage.get("do") or stage
        for kind in ("outs", "metrics", "plots"):
            for out in body.get(kind) or []:
                path = (next(iter(out)) if isinstance(out, dict) else out).replace("${key}", "g")
                allowed = folders if "do" in stage else once
                assert any(path == f or path.startswith(f + "/") for f in allowed), (name, path)
