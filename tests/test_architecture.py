"""The package's shape: its modules import each other in one direction (no cycle, counting the
imports inside functions), no module imports the old paths kept for users, and the torch-free
modules import no torch-bound module."""
import ast
from pathlib import Path

import snnbench

PACKAGE = Path(snnbench.__file__).resolve().parent
ROOT = "snnbench"


def _name(path: Path) -> str:
    parts = [ROOT, *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in PACKAGE.rglob("*.py")}


# the old import paths kept for users (snnbench/__init__.py finds them): no module file of their own
ALIASES = {f"{ROOT}.{old}" for old in snnbench.MOVED_MODULES}


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    base = package.split(".")
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str) -> set:
    """The package modules `module` imports anywhere in its text (module level or inside functions),
    with the packages whose __init__ such an import runs (not the root package, which imports
    nothing when it is loaded)."""
    path = MODULES[module]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets |= {a.name for a in node.names if a.name.split(".")[0] == ROOT}
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, path, node) if node.level else node.module or ""
            if base.split(".")[0] != ROOT:
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in MODULES or sub in ALIASES else base)
    found = targets & ALIASES
    for target in targets - ALIASES:
        parts = target.split(".")
        for k in range(2, len(parts) + 1):
            ancestor = ".".join(parts[:k])
            if ancestor in MODULES and not (module + ".").startswith(ancestor + "."):
                found.add(ancestor)
    return found - {module}


def _cycle(graph: dict) -> list:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


GRAPH = {m: imports_of(m) for m in MODULES}


def test_the_modules_import_each_other_without_a_cycle():
    assert _cycle(GRAPH) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_an_old_path_kept_for_users():
    assert {m: sorted(t & ALIASES) for m, t in GRAPH.items() if t & ALIASES} == {}


def test_the_old_paths_are_the_moved_modules():
    import importlib
    for old, new in snnbench.MOVED_MODULES.items():
        module = importlib.import_module(f"{ROOT}.{old}")
        assert module is importlib.import_module(f"{ROOT}.{new}") and f"{ROOT}.{old}" not in MODULES, old
    from snnbench import train  # noqa: F401  (the other spelling of the same import)
    assert train.__name__ == "snnbench.model.train"


def _reaches(start: str) -> set:
    seen, todo = set(), [start]
    while todo:
        for nxt in GRAPH[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_the_reader_side_never_reaches_the_network_or_a_build():
    for start in ("snnbench.table", "snnbench.space", "snnbench.protocols", "snnbench.analysis",
                  "snnbench.journal"):
        reached = _reaches(start)
        assert not {m for m in reached if m.startswith(("snnbench.model", "snnbench.build"))}, start


def test_no_test_module_imports_a_conftest():
    """Every directory's conftest.py is imported as the one module "conftest": `from conftest import`
    gets whichever was imported last (it broke collection once). Shared names live in modules with
    names of their own (tests/small_fw.py)."""
    tests = Path(__file__).resolve().parent
    offenders = []
    for path in tests.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "conftest" for n in names):
                offenders.append(f"{path.relative_to(tests)}:{node.lineno}")
    assert offenders == []


# Six or more lines written twice in the package: one piece of knowledge in two places. None today
# (the `duplicates` tool also finds two pairs alike in shape only, named in README "Layout").
REPEAT_LINES = 6


def repeated_runs(sources: dict, n: int = REPEAT_LINES) -> list:
    """(place, place) pairs where the same n consecutive code lines (stripped; blank lines, comments
    and lines of brackets alone skipped) occur twice, not overlapping; places as 'path:line'."""
    seen, pairs = {}, []
    for path, text in sources.items():
        code = [(no, s) for no, s in ((i + 1, line.strip()) for i, line in enumerate(text.splitlines()))
                if s and not s.startswith("#") and s.strip("()[]{}:,")]
        for k in range(len(code) - n + 1):
            window = tuple(s for _, s in code[k:k + n])
            first = seen.setdefault(window, (path, k, code[k][0]))
            if first[0] != path or k - first[1] >= n:
                pairs.append((f"{first[0]}:{first[2]}", f"{path}:{code[k][0]}"))
    return pairs


def test_no_six_lines_are_written_twice_in_the_package():
    sources = {str(p.relative_to(PACKAGE.parent)): p.read_text() for p in sorted(PACKAGE.rglob("*.py"))}
    assert repeated_runs(sources) == []


def test_the_repeat_finder_finds_a_repeat():
    body = "\n".join(f"x{i} = f({i})" for i in range(6))
    assert repeated_runs({"a.py": body, "b.py": "y = 1\n" + body}) == [("a.py:1", "b.py:2")]
    assert repeated_runs({"a.py": body}) == []
    assert repeated_runs({"a.py": body + "\n# the same again\n" + body}) == [("a.py:1", "a.py:8")]
