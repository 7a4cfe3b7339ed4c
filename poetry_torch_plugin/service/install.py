"""``poetry torch install``: plan every edit in memory, install, and only then write files."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import replace
from typing import TYPE_CHECKING

from poetry_torch_plugin.core.config import Source
from poetry_torch_plugin.core.config import effective_index_base
from poetry_torch_plugin.core.config import parse_requirements
from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.core.variants import from_index_name
from poetry_torch_plugin.env.mutex import COMMAND_WAIT
from poetry_torch_plugin.env.mutex import exclusive
from poetry_torch_plugin.errors import InstallError
from poetry_torch_plugin.project.files import refuse_read_only
from poetry_torch_plugin.project.lockstate import lock_state
from poetry_torch_plugin.project.pyproject import load
from poetry_torch_plugin.service.apply import apply
from poetry_torch_plugin.service.plan import Plan
from poetry_torch_plugin.service.plan import machine_part
from poetry_torch_plugin.service.published import checked_probe
from poetry_torch_plugin.service.restore import put_back
from poetry_torch_plugin.service.restore import refuse_changed
from poetry_torch_plugin.service.settings import _existing_source
from poetry_torch_plugin.service.settings import access_for


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Sequence
    from pathlib import Path

    from packaging.requirements import Requirement

    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.index.published import IndexPages
    from poetry_torch_plugin.index.published import WheelTarget
    from poetry_torch_plugin.install.base import Backend
    from poetry_torch_plugin.project.edits import EditResult
    from poetry_torch_plugin.project.pyproject import PyProject


@dataclass(frozen=True)
class InstallPlan:
    pyproject: PyProject
    variant: Variant
    source: Source
    settings: TorchConfig
    edit: EditResult
    # a login came with the index base (``https://user:secret@host/…``): used for this run,
    # never written; the command tells the user how to store it the Poetry way
    login_not_written: bool = False
    # the variant is this machine's own choice (POETRY_TORCH_VARIANT, poetry.toml, auto), not
    # what pyproject.toml commits to: installed without writing pyproject.toml or the torch lock
    local: bool = False

    @property
    def index_url(self) -> str:
        return self.source.url


def _index_base_for(current: TorchConfig, index_base: str | None) -> str:
    """The base a new variant's URL is built on: the one given (``--index-base``,
    ``POETRY_TORCH_INDEX_BASE``, ``index-base``), else the base of the plugin source already in
    the file (``https://mirror.corp/pytorch/whl/cu129`` gives ``https://mirror.corp/pytorch/whl``)
    so a switch keeps a mirror configured only there, else download.pytorch.org."""
    import os

    from poetry_torch_plugin.core.config import DEFAULT_INDEX_BASE
    from poetry_torch_plugin.core.config import INDEX_BASE_ENV

    given = index_base or os.environ.get(INDEX_BASE_ENV)
    if not given and current.index_base.rstrip("/") == DEFAULT_INDEX_BASE:
        for existing in current.sources:
            if existing.variant is None:
                continue
            url = existing.url.rstrip("/")
            tail = f"/{existing.variant.index_name}"
            if url.endswith(tail) and len(url) > len(tail):
                return url[: -len(tail)]
    return effective_index_base(current, index_base)


def plan_install(
    path: Path,
    *,
    variant: Variant | None,
    requested: Sequence[str] = (),
    index_base: str | None = None,
    channel: str | None = None,
    target: TargetEnv | None = None,
) -> InstallPlan:
    """Read pyproject.toml and compute, in memory, every change ``torch install`` would make.

    ``channel`` (``stable``, ``test``, ``nightly``) puts the source on that channel's index
    (``…/whl/nightly/cu130``); without it, an existing source keeps its URL, channel included.
    ``variant`` None: the variant this machine chooses (``service.settings.with_choice``);
    when that is not what pyproject.toml commits to, nothing is edited (a local plan).
    """
    from poetry_torch_plugin.core.targets import refuse_rewrite
    from poetry_torch_plugin.core.urls import without_login
    from poetry_torch_plugin.core.variants import channel_base
    from poetry_torch_plugin.index.listing import source_url
    from poetry_torch_plugin.project.edits import apply_install_edits

    pyproject = load(path)
    current = read_config(pyproject.document, declared=False)
    requested_reqs = parse_requirements(requested, where="command line", require_torch=False)
    derived = False  # whether the URL comes from an index base rather than the file
    if variant is None:
        local = _local_plan(pyproject, requested_reqs, index_base, target)
        if local is not None:
            return local
    if variant is None and current.variant is not None:
        variant = from_index_name(current.variant)  # committed by `variant` (it beats the source)
    if variant is None:
        existing, variant = _existing_source(current)
        url = (index_base and source_url(index_base, variant)) or existing.url
        if channel is not None:
            base = channel_base(effective_index_base(current, index_base), channel)
            url = source_url(base, variant)
        derived = bool(index_base) or channel is not None
        source = Source(existing.name, url, "explicit")
    else:
        if current.poetry_form is not None:  # several sources are fine to replace otherwise
            refuse_rewrite(current.poetry_form, current.source(), variant.index_name)
        same = [s for s in current.sources if s.variant == variant]
        derived = bool(index_base) or channel is not None or not same
        if derived:
            base = channel_base(_index_base_for(current, index_base), channel or "stable")
            url = source_url(base, variant)
        else:
            url = same[0].url
        source = Source(variant.source_name, url, "explicit")
    # A login in --index-base, POETRY_TORCH_INDEX_BASE or index-base is never written to a
    # file: the source gets the URL without it, and this run uses it (``plan.source``).
    written = Source(source.name, without_login(source.url), "explicit") if derived else source
    edit = apply_install_edits(
        pyproject.document,
        source=written,
        configured=current.written,
        requested=requested_reqs,
        original_text=pyproject.original.decode("utf-8"),
        keep=_named_sources(current),
    )
    import tomlkit

    updated = read_config(tomlkit.parse(edit.text))
    return InstallPlan(pyproject, variant, source, updated, edit, written.url != source.url)


def _named_sources(current: TorchConfig) -> frozenset[str]:
    """The plugin sources an edit leaves as written: those Poetry's multiple-constraints
    entries name, when they name several (with one, a switch renames it and its entries)."""
    form = current.poetry_form
    return form.referenced if form is not None and len(form.referenced) > 1 else frozenset()


def _local_plan(
    pyproject: PyProject,
    requested: Sequence[Requirement],
    index_base: str | None,
    target: TargetEnv | None,
) -> InstallPlan | None:
    """The plan for a machine-local choice (None when the choice is pyproject's): the chosen
    variant's source, derived, and no edit.  Named packages need a committed edit: refused."""
    from poetry_torch_plugin.errors import ConfigError
    from poetry_torch_plugin.index.listing import source_url
    from poetry_torch_plugin.project.edits import EditResult
    from poetry_torch_plugin.service.settings import with_choice

    chosen = with_choice(read_config(pyproject.document), pyproject.path, target)
    choice = chosen.choice
    if choice is None or not choice.machine_local:
        return None
    if requested:
        raise ConfigError(
            f"this machine's variant is {choice.line()}, so `poetry torch install` does not"
            " edit pyproject.toml; nothing was changed. Name packages without the override"
            " (or change [tool.poetry-torch] packages), then run the command again."
        )
    source = chosen.sources[0]
    if index_base:
        source = Source(choice.variant.source_name, source_url(index_base, choice.variant), "")
    source = Source(source.name, source.url, "explicit")
    settings = replace(chosen, sources=(source,))
    text = pyproject.original.decode("utf-8")
    return InstallPlan(
        pyproject, choice.variant, source, settings, EditResult(text, False), local=True
    )


def execute_install(
    plan: InstallPlan,
    target: TargetEnv,
    backend: Backend,
    *,
    quiet: bool = False,
    verbose: bool = False,
    upgrade: bool = False,
    say: Callable[[str], None] | None = None,
    checked: tuple[IndexPages, WheelTarget] | None = None,
) -> tuple[str, ...]:
    """Install the plan's packages, then (only then) write pyproject.toml and the lock.

    ``checked``: the pages ``--cuda auto`` read and the target's wheel tags, reused by the
    check that every package is published before anything is downloaded.

    ``say`` hears one line before each phase that can take long (resolving, installing).

    A fresh poetry-torch.lock is replayed (unless ``upgrade``); otherwise the packages are
    resolved afresh into a new lock, and that lock is what gets installed.  Anything that fails
    before the last step leaves pyproject.toml and the lock byte-identical and the earlier build
    installed.  Returns the pins that were passed to the installer.
    """
    from poetry_torch_plugin.core.urls import redact

    state = lock_state(plan.pyproject.path, plan.source, plan.settings)
    part = machine_part(state, plan.settings, target)
    if part.missing:
        raise part.refusal()
    if plan.local:
        # a machine-local choice replays its own entry of the lock, which it never writes
        if upgrade and part.lock is not None:
            raise InstallError(
                f"--upgrade resolves afresh, and this machine's variant is"
                f" {part.choice}, whose builds {state.path.name} pins (the"
                " hook would put them back); nothing was installed and the files were left as"
                " they were. Run `poetry torch lock --regenerate`, then `poetry torch install`."
            )
    else:
        state.refuse_newer()
    # every file this command may write must be writable before the environment changes
    if plan.edit.changed:
        refuse_read_only(plan.pyproject.path)
        refuse_read_only(plan.pyproject.path.parent / "poetry.lock")
    if (upgrade or not state.fresh) and not plan.local:
        refuse_read_only(state.path)
    access = access_for(plan.settings, plan.source)
    probe = checked_probe(plan, target, *(checked or (None, None)))
    note = None
    if state.error is not None and not plan.local:
        note = f"{state.error.split(';')[0]}: resolving afresh to replace it"

    def failure(problem: str, target: TargetEnv) -> str:
        return (
            f"after installing from {redact(plan.index_url)}, {problem};"
            f" pyproject.toml was not changed, and {put_back(plan.pyproject, target)}."
            f" Check that the index really serves {plan.variant} builds"
            " (`poetry torch check`)."
        )

    steps = Plan(
        plan.settings,
        plan.variant,
        plan.source,
        replay=part.lock if not upgrade else None,
        failure=failure,
        foreign="pyproject.toml and the earlier build were left as they were",
        state=state,
        write_lock=not plan.local,
        pyproject=plan.pyproject,
        edit=plan.edit,
        note=note,
    )
    with exclusive(target, wait=COMMAND_WAIT):
        refuse_changed(plan.pyproject)
        return apply(
            steps,
            target,
            backend,
            access,
            quiet=quiet,
            verbose=verbose,
            say=say,
            page=lambda _: probe,
            wait=COMMAND_WAIT,
        )
