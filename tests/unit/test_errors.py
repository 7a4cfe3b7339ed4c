"""Errors carry fields (issue 21, item 3): what happened, what was kept, what to run next,
rendered as one line by ``str()`` in one place; no code of the package reads an error's text
to learn a fact (it reads the fields)."""

from __future__ import annotations

import ast

from pathlib import Path

import pytest

from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.errors import IndexAccessError
from poetry_torch_plugin.errors import InstallError
from poetry_torch_plugin.errors import NotPublishedError
from poetry_torch_plugin.errors import TorchPluginError
from poetry_torch_plugin.errors import render


PACKAGE = Path(__file__).resolve().parents[1].parent / "poetry_torch_plugin"

# str methods that take a text apart or look inside it
READS_TEXT = frozenset(
    {
        "split",
        "rsplit",
        "splitlines",
        "partition",
        "rpartition",
        "startswith",
        "endswith",
        "find",
        "rfind",
        "index",
        "rindex",
        "count",
        "removeprefix",
        "removesuffix",
        "strip",
        "rstrip",
        "lstrip",
    }
)


def test_the_line_says_what_then_what_was_kept_then_what_to_run() -> None:
    error = IndexAccessError(
        "the index X answered HTTP 500",
        kept="pyproject.toml was left untouched",
        next="Run it again.",
    )
    assert (
        str(error)
        == "the index X answered HTTP 500; pyproject.toml was left untouched. Run it again."
    )
    assert (error.what, error.kept, error.next) == (
        "the index X answered HTTP 500",
        "pyproject.toml was left untouched",
        "Run it again.",
    )
    assert render("what", kept="kept") == "what; kept."
    assert render("what", next="Run it.") == "what; Run it."
    assert render("what") == "what"


def test_a_plain_sentence_is_an_error_whose_what_is_the_line() -> None:
    error = ConfigError("x is wrong; nothing was changed. Run y.")
    assert str(error) == "x is wrong; nothing was changed. Run y."
    assert (error.what, error.kept, error.next) == (str(error), None, None)
    assert error.args == (str(error),)


def test_the_line_is_one_line_without_a_traceback() -> None:
    try:
        try:
            raise ValueError("inner\ndetail")
        except ValueError as cause:
            raise InstallError(
                "pip failed", kept="nothing was installed", next="Run it again."
            ) from cause
    except TorchPluginError as error:
        line = str(error)
    assert "\n" not in line and "Traceback" not in line and "inner" not in line


def test_subclasses_carry_the_facts_callers_need() -> None:
    gone = NotPublishedError("the index X does not publish torch", project="torch")
    assert gone.project == "torch" and str(gone) == "the index X does not publish torch"
    unfit = InstallError(
        "no wheel of torch==2.9.0 on X matches cp312",
        kept="nothing was installed",
        no_wheel="no wheel of torch==2.9.0 on X",
    )
    assert unfit.no_wheel == "no wheel of torch==2.9.0 on X"
    # an error re-said for another command keeps its class (service.lock's ``type(error)(…)``)
    assert isinstance(type(unfit)("while locking: …"), InstallError)


def test_an_index_error_keeps_its_wording(tmp_path: Path) -> None:
    from poetry_torch_plugin.index.pages import fetch_listing

    index = tmp_path.as_uri()
    with pytest.raises(NotPublishedError) as info:
        fetch_listing(index, "torch")
    page = tmp_path / "torch" / "index.html"
    assert info.value.project == "torch"
    assert info.value.what == f"the index {index} does not publish torch (there is no {page})"
    assert str(info.value) == (
        f"the index {index} does not publish torch (there is no {page});"
        " pyproject.toml and the installed build were left untouched. A file:// index is a"
        " PEP 503 tree (<index>/<project>/index.html linking the wheels): check the"
        " folder, then run the command again."
    )


# --- no code reads an error's text -----------------------------------------------------------


def plugin_errors(paths: list[Path]) -> set[str]:
    """The names of TorchPluginError and every class of the package derived from it."""
    bases: dict[str, set[str]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases[node.name] = {
                    base.id if isinstance(base, ast.Name) else getattr(base, "attr", "")
                    for base in node.bases
                }
    found = {"TorchPluginError"}
    while True:
        more = {name for name, of in bases.items() if of & found} - found
        if not more:
            return found
        found |= more


def _caught(handler: ast.ExceptHandler, errors: set[str]) -> bool:
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(
        (kind.id if isinstance(kind, ast.Name) else getattr(kind, "attr", "")) in errors
        for kind in kinds
        if kind is not None
    )


def _is_text_of(node: ast.AST, names: set[str]) -> bool:
    """``str(error)``, ``error.args``/``error.args[0]``, ``f"{error}"`` or a name that holds one."""
    if isinstance(node, ast.Name):
        return node.id in names
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "str":
        return any(isinstance(arg, ast.Name) and arg.id in names for arg in node.args)
    if isinstance(node, ast.Subscript):
        return _is_text_of(node.value, names)
    if isinstance(node, ast.Attribute) and node.attr == "args":
        return isinstance(node.value, ast.Name) and node.value.id in names
    if isinstance(node, ast.JoinedStr):
        return len(node.values) == 1 and _is_text_of(
            getattr(node.values[0], "value", node.values[0]), names
        )
    return False


def _annotated_errors(
    function: ast.FunctionDef | ast.AsyncFunctionDef, errors: set[str]
) -> set[str]:
    """The parameters of ``function`` annotated with one of ``errors`` (``error: InstallError``)."""
    found = set()
    for arg in (*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs):
        note = arg.annotation
        named = note.value if isinstance(note, ast.Constant) else getattr(note, "id", None)
        if isinstance(named, str) and named in errors:
            found.add(arg.arg)
    return found


def _reads_in(body: list[ast.stmt], error: set[str]) -> list[int]:
    """Lines of ``body`` that take the text of one of the ``error`` names apart."""
    nodes = [inner for statement in body for inner in ast.walk(statement)]
    texts: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Assign) and _is_text_of(node.value, error | texts):
            texts |= {target.id for target in node.targets if isinstance(target, ast.Name)}
    holds = error | texts
    found = []
    for node in nodes:
        text = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in READS_TEXT:
                text = node.func.value  # str(error).split(…)
            elif isinstance(node.func.value, ast.Name) and node.func.value.id == "re":
                text = next((arg for arg in node.args[1:2]), None)  # re.search(p, str(e))
        elif isinstance(node, ast.Compare) and any(
            isinstance(op, (ast.In, ast.NotIn)) for op in node.ops
        ):
            text = node.comparators[-1]  # "…" in str(error)
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
            text = node.value  # str(error)[:40]
        # (the error object itself is no text: ``exc.what.rstrip(".")`` reads a field)
        bare = isinstance(text, ast.Name) and text.id in error
        if text is not None and not bare and _is_text_of(text, holds):
            found.append(getattr(node, "lineno", 0))
    return found


def text_reads(source: str, errors: set[str]) -> list[int]:
    """Lines where code that holds one of ``errors`` (an ``except`` block that caught it, a
    function given it as an annotated parameter) takes its text apart: a str method
    (``split``, ``partition``, ``startswith``, …), a slice, an ``in`` test or a regular
    expression applied to ``str(error)`` / ``error.args`` (or a name given that text)."""
    found: list[int] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ExceptHandler) and node.name and _caught(node, errors):
            found += _reads_in(node.body, {node.name})
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            given = _annotated_errors(node, errors)
            if given:
                found += _reads_in(node.body, given)
    return sorted(set(found))


def package_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_code_reads_an_errors_text() -> None:
    paths = package_modules()
    errors = plugin_errors(paths)
    assert {"TorchPluginError", "IndexAccessError", "NotPublishedError"} <= errors
    found = [
        f"{path.relative_to(PACKAGE)}:{line}"
        for path in paths
        for line in text_reads(path.read_text(encoding="utf-8"), errors)
    ]
    assert not found, "read the error's fields (what, kept, next, …), not its text: " + ", ".join(
        found
    )


@pytest.mark.parametrize(
    "body",
    [
        'what = str(exc).split(";", 1)[0]',
        'what = str(exc).partition("; ")[0]',
        'message = str(exc)\n        what = message.split(";")[0]',
        'found = " matches " in str(exc)',
        "what = str(exc)[:40]",
        "what = exc.args[0].split(';')[0]",
        'found = re.search("HTTP 404", str(exc))',
        'what = f"{exc}".split(";")[0]',
    ],
)
def test_the_checker_sees_an_errors_text_taken_apart(body: str) -> None:
    source = (
        "try:\n    pass\nexcept (OSError, IndexAccessError) as exc:\n"
        f"    if True:\n        {body}\n"
    )
    assert text_reads(source, {"IndexAccessError"})


def test_the_checker_sees_a_function_given_an_error() -> None:
    source = (
        "def again(where: str, error: TorchPluginError) -> TorchPluginError:\n"
        "    cause = str(error).split('; ', 1)[0].split(' matches ', 1)\n"
        "    return type(error)(cause[0])\n"
    )
    assert text_reads(source, {"TorchPluginError"}) == [2]


def test_the_checker_leaves_the_fields_and_other_exceptions_alone() -> None:
    source = (
        "try:\n    pass\nexcept IndexAccessError as exc:\n    what = exc.what.rstrip('.')\n"
        "    line = f'poetry-torch: {exc}'\n"
        "try:\n    pass\nexcept OSError as exc:\n    reason = str(exc).splitlines()[0]\n"
    )
    assert text_reads(source, {"IndexAccessError"}) == []


# --- every error says what to run next -------------------------------------------------------

# Where an error of the package is made without ``next=``, by (module, function), and why its
# next step is not a field there.  Keep it short: a site that knows the command gives it.
WITHOUT_NEXT = {
    # guards that no input reaches (a bug, not a step the user can take)
    ("service/apply.py", "_resolve"): "a Plan that resolves always carries the lock state",
    ("service/lock.py", "source_of"): "targets and --add-variant admit only variants",
    ("service/choose.py", "_unverified"): "a plan check only judges: its failure is never raised",
    ("service/lock.py", "entry"): "a skipped entry's error: the earlier failure is raised first",
    # a problem line made before the error (core/fit's refusal, the lock's problem that `check`
    # and `lock --check` print too): it names its command in its text, not as a field yet
    ("service/choose.py", "refuse_unrunnable"): "core/fit's refusal line names the command",
    ("service/lock.py", "every_part"): "universal_problem's line names `poetry torch lock`",
    ("service/lock.py", "lock_or_check"): "check's problem line names the command",
    ("project/lockstate.py", "export_project"): "universal_problem's line names the command",
}


def _named(func: ast.expr) -> str:
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def _self_said(paths: list[Path], errors: set[str]) -> dict[str, ast.Call]:
    """Error classes whose ``__init__`` takes no ``next`` (it says it itself), with the
    ``super().__init__(…)`` call that gives the fields."""
    found = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef) or node.name not in errors:
                continue
            for init in node.body:
                if not isinstance(init, ast.FunctionDef) or init.name != "__init__":
                    continue
                takes = {arg.arg for arg in (*init.args.args, *init.args.kwonlyargs)}
                if "next" in takes:
                    continue
                calls = [
                    call
                    for call in ast.walk(init)
                    if isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "__init__"
                ]
                assert len(calls) == 1, f"{node.name}.__init__ calls no one __init__"
                found[node.name] = calls[0]
    return found


def errors_without_next(source: str, errors: set[str], self_said: set[str]) -> list[str]:
    """The functions (``outer.inner``) of ``source`` that make one of ``errors`` without a
    ``next=`` keyword (``**fields`` counts as given); classes in ``self_said`` give it."""
    found: list[str] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = where
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inner = child.name  # the innermost function names the site
            if isinstance(child, ast.Call) and _named(child.func) in errors - self_said:
                given = {keyword.arg for keyword in child.keywords}
                if "next" not in given and None not in given:
                    found.append(where)
            visit(child, inner)

    visit(ast.parse(source), "<module>")
    return found


def test_every_error_gives_what_to_run_next() -> None:
    paths = package_modules()
    errors = plugin_errors(paths)
    self_said = _self_said(paths, errors)
    for name, call in self_said.items():
        assert "next" in {keyword.arg for keyword in call.keywords}, name
    seen = set()
    missing = []
    for path in paths:
        module = str(path.relative_to(PACKAGE))
        for where in errors_without_next(path.read_text(encoding="utf-8"), errors, set(self_said)):
            seen.add((module, where))
            if (module, where) not in WITHOUT_NEXT:
                missing.append(f"{module}: {where}")
    assert not missing, "give the error next= (the command to run): " + ", ".join(missing)
    assert not set(WITHOUT_NEXT) - seen, f"no longer needed: {set(WITHOUT_NEXT) - seen}"


def test_the_next_checker_sees_a_raise_without_next() -> None:
    source = (
        "def refuse(x):\n"
        "    if x:\n"
        "        raise ConfigError(f'{x} is wrong', kept='nothing was changed')\n"
        "    raise ConfigError('y', kept='k', next='Run z.')\n"
        "def made():\n"
        "    return InstallError('pip failed; nothing was installed. Run it again.')\n"
        "def given(**fields):\n"
        "    return InstallError('w', **fields)\n"
        "def elsewhere():\n"
        "    raise ValueError('not ours')\n"
        "def said():\n"
        "    raise LeftError(('torchvision',), ('x',))\n"
    )
    found = errors_without_next(source, {"ConfigError", "InstallError", "LeftError"}, {"LeftError"})
    assert found == ["refuse", "made"]


def test_a_lock_that_cannot_be_replayed_says_what_was_kept_before_what_to_run(
    tmp_path: Path,
) -> None:
    from poetry_torch_plugin.core.lockfile import STALE_NEXT
    from poetry_torch_plugin.core.lockfile import STALE_WHAT
    from poetry_torch_plugin.project.lockstate import export_project
    from poetry_torch_plugin.project.lockstate import write_lock
    from tests.unit.core.test_lockfile import sample_lock

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "demo"\nrequires-python = ">=3.9"\n'
        '[tool.poetry-torch]\npackages = ["torch", "torchvision"]\n'
        '[[tool.poetry.source]]\nname = "pytorch_cuda_cu128"\n'
        'url = "https://download.pytorch.org/whl/cu128"\npriority = "explicit"\n'
    )
    with pytest.raises(ConfigError) as missing:
        export_project(pyproject)
    assert str(missing.value) == (
        "there is no poetry-torch.lock to export; nothing was exported."
        " Run `poetry torch lock` (or `poetry torch install`) first."
    )
    write_lock(tmp_path / "poetry-torch.lock", sample_lock())  # locked for cu129
    with pytest.raises(ConfigError) as stale:
        export_project(pyproject)
    assert (stale.value.what, stale.value.kept, stale.value.next) == (
        STALE_WHAT,
        "nothing was exported",
        STALE_NEXT,
    )
    (tmp_path / "poetry-torch.lock").write_text("garbage [")
    with pytest.raises(ConfigError) as broken:
        export_project(pyproject)
    assert broken.value.what.startswith("poetry-torch.lock cannot be read (")
    assert (broken.value.kept, broken.value.next) == (
        "nothing was exported",
        "Run `poetry torch lock` to write it again.",
    )
