"""The type stubs describe the native module as it is: every public class,
method and property of ``ringroute._ringroute`` is in ``_ringroute.pyi``
and nothing in the stub is missing at run time. Also: the package is typed
(``py.typed``) and re-exports what ``__init__.pyi`` says."""

from __future__ import annotations

import ast
import importlib.resources
import inspect

import ringroute
import ringroute._ringroute as native


def stub_tree(name: str) -> ast.Module:
    text = importlib.resources.files("ringroute").joinpath(name).read_text()
    return ast.parse(text)


def stub_classes() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for node in stub_tree("_ringroute.pyi").body:
        if isinstance(node, ast.ClassDef) and node.name not in ("EmptyRingError", "NoNodeUpError"):
            out[node.name] = {
                n.name
                for n in node.body
                if isinstance(n, ast.FunctionDef) and (not n.name.startswith("_") or n.name in DUNDERS)
            }
    return out


DUNDERS = {"__len__", "__contains__", "__iter__", "__eq__", "__reduce__", "__enter__", "__exit__", "__init__"}


def test_package_is_typed():
    files = importlib.resources.files("ringroute")
    for name in ("py.typed", "__init__.pyi", "_ringroute.pyi", "compat.py"):
        assert files.joinpath(name).is_file(), name


def test_every_native_class_is_in_the_stub():
    classes = stub_classes()
    runtime = {n for n, v in vars(native).items() if inspect.isclass(v) and not issubclass(v, BaseException)}
    assert runtime == set(classes)
    exceptions = {n for n, v in vars(native).items() if inspect.isclass(v) and issubclass(v, BaseException)}
    assert exceptions == {"EmptyRingError", "NoNodeUpError"}


def test_members_match():
    for cls_name, members in stub_classes().items():
        cls = getattr(native, cls_name)
        public = {
            n
            for n in dir(cls)
            if (not n.startswith("_") and not n.startswith("__")) and n not in ("mro",)
        }
        stub_public = {m for m in members if not m.startswith("_")}
        assert public == stub_public, cls_name
        for dunder in members & DUNDERS:
            if dunder != "__init__":
                assert dunder in vars(cls), (cls_name, dunder)


def test_functions_and_constants():
    names = set()
    for node in stub_tree("_ringroute.pyi").body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    aliases = {"Key", "Weight", "Nodes", "Health", "AlgorithmName", "_Self"}
    for name in names - aliases:
        assert hasattr(native, name), name


def test_init_stub_matches_init():
    tree = stub_tree("__init__.pyi")
    stub_all = next(
        ast.literal_eval(n.value)
        for n in tree.body
        if isinstance(n, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in n.targets)
    )
    assert stub_all == ringroute.__all__
    for name in ringroute.__all__:
        assert getattr(ringroute, name) is getattr(native, name)
