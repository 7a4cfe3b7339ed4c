"""``poetry torch install`` from its options to its last line: pick the variant (``--cuda auto``
against the live index; an explicit build this machine cannot run is refused first), build
the plan (``service.plan``), then print it (``--dry-run``) or apply it (``service.apply``),
and only then say what changed.  ``--for KIND`` sets one targets entry."""

from __future__ import annotations

import tempfile

from contextlib import contextmanager
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

import tomlkit

from poetry_torch_plugin.core.config import INDEX_BASE_ENV
from poetry_torch_plugin.core.config import declarations
from poetry_torch_plugin.core.config import effective_index_base
from poetry_torch_plugin.core.config import parse_requirements
from poetry_torch_plugin.core.config import parse_toml
from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.core.record import replace
from poetry_torch_plugin.core.targets import refuse_rewrite
from poetry_torch_plugin.core.urls import redact
from poetry_torch_plugin.core.urls import redact_text
from poetry_torch_plugin.core.urls import without_login
from poetry_torch_plugin.core.variants import Source
from poetry_torch_plugin.core.variants import channel_base
from poetry_torch_plugin.core.variants import from_index_name
from poetry_torch_plugin.core.variants import parse_channel
from poetry_torch_plugin.core.variants import parse_cuda
from poetry_torch_plugin.core.variants import parse_rocm
from poetry_torch_plugin.env.installed import COMMAND_WAIT
from poetry_torch_plugin.env.installed import TargetEnv
from poetry_torch_plugin.env.installed import exclusive
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.errors import IndexAccessError
from poetry_torch_plugin.errors import InstallError
from poetry_torch_plugin.errors import TargetEnvError
from poetry_torch_plugin.errors import TorchPluginError
from poetry_torch_plugin.index.access import mirror_url
from poetry_torch_plugin.index.pages import fetch_listing
from poetry_torch_plugin.index.pages import source_url
from poetry_torch_plugin.installer.backend import Request
from poetry_torch_plugin.installer.download_once import wheelhouse_needed
from poetry_torch_plugin.installer.pip import PipBackend
from poetry_torch_plugin.installer.select import get_backend
from poetry_torch_plugin.installer.select import wheelhouse_reason
from poetry_torch_plugin.project import files
from poetry_torch_plugin.project.edits import EditResult
from poetry_torch_plugin.project.edits import apply_install_edits
from poetry_torch_plugin.project.edits import check_target
from poetry_torch_plugin.project.edits import load
from poetry_torch_plugin.project.edits import set_target
from poetry_torch_plugin.project.files import read_project
from poetry_torch_plugin.project.files import refuse_read_only
from poetry_torch_plugin.project.lockstate import lock_state
from poetry_torch_plugin.seam.locate import locate_project_env
from poetry_torch_plugin.service.apply import apply
from poetry_torch_plugin.service.choose import InstallOptions
from poetry_torch_plugin.service.choose import asked_variant
from poetry_torch_plugin.service.choose import existing_env
from poetry_torch_plugin.service.choose import index_base_for
from poetry_torch_plugin.service.choose import pages_for
from poetry_torch_plugin.service.choose import plan_for
from poetry_torch_plugin.service.choose import published_variants
from poetry_torch_plugin.service.choose import refuse_unpublished
from poetry_torch_plugin.service.choose import wheel_target
from poetry_torch_plugin.service.companions import CompanionsLeftError
from poetry_torch_plugin.service.companions import say_companions
from poetry_torch_plugin.service.companions import taken_along
from poetry_torch_plugin.service.family import decide
from poetry_torch_plugin.service.hook import put_back
from poetry_torch_plugin.service.lock import lock_project
from poetry_torch_plugin.service.lock import relocked
from poetry_torch_plugin.service.lock import universal
from poetry_torch_plugin.service.plan import machine_part
from poetry_torch_plugin.service.plan import own_part
from poetry_torch_plugin.service.settings import access_for
from poetry_torch_plugin.service.settings import existing_source
from poetry_torch_plugin.service.settings import matching_target
from poetry_torch_plugin.service.settings import with_choice


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterator
    from collections.abc import Sequence

    from packaging.requirements import Requirement

    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.env.installed import EnvFinder
    from poetry_torch_plugin.index.access import IndexAccess
    from poetry_torch_plugin.index.pages import IndexPages
    from poetry_torch_plugin.index.pages import Listing
    from poetry_torch_plugin.index.pages import WheelTarget
    from poetry_torch_plugin.installer.backend import Backend
    from poetry_torch_plugin.project.edits import PyProject
    from poetry_torch_plugin.service.plan import MachineVerdict
    from poetry_torch_plugin.service.plan import Plan


def install_torch(
    pyproject: Path, options: InstallOptions, find_env: EnvFinder, say: Callable[[str], None]
) -> None:
    """Configure the source and install from it (or only say what would happen); ``say``
    hears each line to show, in cleo's markup.  Raises a one-line TorchPluginError."""
    if options.for_kind is not None:
        _install_for(pyproject, options, find_env, say)
        return
    channel = parse_channel(options.channel) if options.channel is not None else None
    variant, live, verdict = asked_variant(pyproject, options, find_env, say)
    plan = plan_install(
        pyproject,
        variant=variant,
        requested=options.requirements,
        index_base=options.index_base,
        channel=channel,
        target=existing_env(find_env) if variant is None else None,
    )
    plan = replace(plan, verdict=verdict)
    choice = plan.settings.choice
    if plan.local and choice is not None:
        left = "would be left" if options.dry_run else "are left"
        say(
            f"Variant <c2>{choice.variant}</c2>, chosen by <c1>{choice.rule}</c1>"
            f" ({choice.detail}); pyproject.toml and poetry-torch.lock {left} as they are"
        )
    backend = get_backend(options.installer or plan.settings.installer, options.compile_bytecode)
    say(
        f"{'Would install' if options.dry_run else 'Installing'}"
        f" <c1>{', '.join(plan.settings.packages)}</c1> for"
        f" <c2>{plan.variant.describe()}</c2> from <info>{plan.source.name}</info>"
        f" ({fetched_from(plan.settings, plan.index_url)})"
    )
    checked = (live.pages, live.target) if live is not None else None
    if options.dry_run:
        describe(
            plan,
            backend,
            upgrade=options.upgrade,
            find_env=find_env,
            say=say,
            checked=checked,
            verbose=options.verbose,
        )
        _binding_notes(plan, say)
        _index_base_note(plan, options, say, dry_run=True)
        _login_note(plan, say, dry_run=True)
        return
    moved: list[str] = []
    target = find_env(create=True)

    def install(plan: InstallPlan, checked: tuple[IndexPages, WheelTarget] | None) -> None:
        execute_install(
            plan,
            target,
            backend,
            quiet=options.quiet,
            verbose=options.verbose,
            upgrade=options.upgrade,
            say=say,
            checked=checked,
            summary=moved.append,
        )

    try:
        install(plan, checked)
    except CompanionsLeftError as left:
        # nothing was installed or written yet: the same transaction takes them along
        choice = plan.settings.choice
        requested = taken_along(
            left,
            options.requirements,
            say,
            original=plan.pyproject.original,
            source=plan.source.name,
            local=choice.line() if plan.local and choice is not None else None,
        )
        again = plan_install(
            plan.pyproject.path,
            variant=variant,
            requested=requested,
            index_base=options.index_base,
            channel=channel,
            target=target,
        )
        plan = replace(again, verdict=plan.verdict)
        install(plan, None)
    if plan.edit.changed:
        say(f"Updated {plan.pyproject.path.name}: {what_changed(plan)}.")
    _binding_notes(plan, say)
    _index_base_note(plan, options, say, dry_run=False)
    _login_note(plan, say, dry_run=False)
    # the last line: what moved (installed versions before -> after) and the files written
    say(f"<info>torch ready</info> for {plan.variant.describe()}: {''.join(moved[-1:])}")


def what_changed(plan: InstallPlan) -> str:
    """What the edit changed, said truly: the source (name or URL), the packages, or else
    only the source entry's form (made explicit, a Poetry 1 priority key dropped)."""
    import json

    try:
        before = read_config(parse_toml(plan.pyproject.original.decode("utf-8")), declared=False)
        old = before.source()
    except (TorchPluginError, ValueError):
        before, old = None, None
    new = plan.settings.source()
    parts = []
    if new is not None and (old is None or (old.name, old.url) != (new.name, new.url)):
        parts.append(f"source <info>{new.name}</info>")
    if before is None or before.written != plan.settings.written:
        parts.append(f"packages = {json.dumps(list(plan.settings.written), ensure_ascii=False)}")
    if plan.edit.bound:
        name = new.name if new is not None else plan.source.name
        parts.append(f"{', '.join(plan.edit.bound)} bound to <info>{name}</info>")
    if not parts:
        name = new.name if new is not None else plan.source.name
        parts.append(f"source <info>{name}</info> entry (priority explicit)")
    return ", ".join(parts)


def _binding_notes(plan: InstallPlan, say: Callable[[str], None]) -> None:
    """One line for each declaration the edit left bound elsewhere or unbound."""
    for note in plan.edit.notes:
        say(f"<comment>{note}</comment>")


def fetched_from(settings: TorchConfig, url: str) -> str:
    """``url`` as shown, and the mirror this machine fetches it from when
    ``POETRY_TORCH_INDEX_BASE`` stands in for the project's index base."""
    mirrored = mirror_url(url, settings.index_base)
    if mirrored is None:
        return redact(url)
    return f"{redact(url)}, fetched from {redact(mirrored)} ({INDEX_BASE_ENV}, this machine only)"


def _index_base_note(
    plan: InstallPlan, options: InstallOptions, say: Callable[[str], None], *, dry_run: bool
) -> None:
    """One line when ``--index-base`` put its URL into the committed source: everyone who uses
    the project now fetches from it (``POETRY_TORCH_INDEX_BASE`` keeps a mirror local)."""
    if not options.index_base or plan.local:
        return
    verb = "would name" if dry_run else "names"
    say(
        f"<comment>--index-base: the source {plan.source.name} in"
        f" {plan.pyproject.path.name} {verb} {redact(without_login(plan.index_url))}, for"
        f" everyone who uses this project; for a mirror on this machine only, set"
        f" {INDEX_BASE_ENV} instead.</comment>"
    )


def _login_note(plan: InstallPlan, say: Callable[[str], None], *, dry_run: bool) -> None:
    """One line when the index base carried a login: it is not written; store it Poetry's way."""
    if not plan.login_not_written:
        return
    name = plan.source.name
    variable = "POETRY_HTTP_BASIC_" + "".join(c if c.isalnum() else "_" for c in name.upper())
    verb = "would not be" if dry_run else "was not"
    say(
        f"<comment>The login in the index URL {verb} written to"
        f" {plan.pyproject.path.name}; store it the Poetry way for later commands:"
        f" `poetry config http-basic.{name} USER` (or {variable}_USERNAME and"
        f" {variable}_PASSWORD).</comment>"
    )


@record
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
    verdict: MachineVerdict | None = None  # the machine verdict of the variant the command named

    @property
    def index_url(self) -> str:
        return self.source.url


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
        existing, variant = existing_source(current)
        url = (index_base and source_url(index_base, variant)) or existing.url
        if channel is not None:
            base = channel_base(effective_index_base(current, index_base), channel)
            url = source_url(base, variant)
        derived = bool(index_base) or channel is not None
        source = Source(existing.name, url, "explicit")
    else:
        if current.poetry_form is not None:  # several sources are fine to replace otherwise
            refuse_rewrite(current.poetry_form, current.source(), variant.index_name)
        refuse_contradicting_target(current, variant)
        same = [s for s in current.sources if s.variant == variant]
        derived = bool(index_base) or channel is not None or not same
        if derived:
            base = channel_base(index_base_for(current, index_base), channel or "stable")
            url = source_url(base, variant)
        else:
            url = same[0].url
        source = Source(variant.source_name, url, "explicit")
    # A login in --index-base, POETRY_TORCH_INDEX_BASE or index-base is never written to a
    # file: the source gets the URL without it, and this run uses it (``plan.source``).
    written = Source(source.name, without_login(source.url), "explicit") if derived else source
    bind, unbound = binding_for(
        current, variant, tuple(dict.fromkeys(d.name for d in declarations(pyproject.document)))
    )
    edit = apply_install_edits(
        pyproject.document,
        source=written,
        configured=current.written,
        requested=requested_reqs,
        original_text=pyproject.original.decode("utf-8"),
        keep=_named_sources(current),
        bind=bind,
    )
    if unbound is not None:
        edit = replace(edit, notes=(unbound, *edit.notes))

    updated = read_config(tomlkit.parse(edit.text))
    return InstallPlan(pyproject, variant, source, updated, edit, written.url != source.url)


def refuse_contradicting_target(current: TorchConfig, variant: Variant) -> None:
    """A switch (``--cuda 12.8``) on a machine whose ``[tool.poetry-torch.targets]`` entry
    names another variant: refused, since the entry is the team's decision for every such
    machine and would put its variant back at the next ``poetry install``.  ``--for`` changes
    the entry; ``POETRY_TORCH_VARIANT`` overrides it on this machine only."""
    matched = matching_target(current)
    if matched is None or matched[1] in ("auto", variant.index_name):
        return
    key, value = matched
    form = current.poetry_form
    if form is not None and key in dict(form.targets):
        return  # Poetry's multiple-constraints entry says it: the switch rewrites that entry
    raise ConfigError(
        f"{variant.option} asks for {variant.index_name}, but [tool.poetry-torch.targets]"
        f' {key} = "{value}" chooses this machine\'s build',
        kept="nothing was changed",
        next=f"Run `poetry torch install {variant.option} --for {key}` to change that entry for"
        f" every {key} machine (it relocks), or"
        f" `poetry torch lock --add-variant {variant.index_name}` and"
        f" POETRY_TORCH_VARIANT={variant.index_name} for this machine only.",
    )


def binding_for(
    current: TorchConfig, variant: Variant, declared: Sequence[str]
) -> tuple[bool, str | None]:
    """Whether to bind the family's declarations (``declared``: the names) to the one source,
    and, when not, the line that says why.  Poetry's multiple-constraints form binds them per
    platform already (nothing to say); targets that give other machines other builds need that
    form, which one ``source`` key cannot say."""
    if current.poetry_form is not None:
        return False, None
    others = sorted({value for _, value in current.targets if value != variant.index_name})
    if not others:
        return True, None
    if not declared:
        return False, None
    return False, (
        f"The declarations of {', '.join(declared)} were not bound to {variant.source_name}:"
        f" [tool.poetry-torch.targets] gives other machines {', '.join(others)}, which one"
        " source cannot say (to leave the plugin, write Poetry's multiple-constraints form:"
        ' user guide, "Leaving the plugin").'
    )


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
    chosen = with_choice(read_config(pyproject.document), pyproject.path, target)
    choice = chosen.choice
    if choice is None or not choice.machine_local:
        return None
    if requested:
        raise ConfigError(
            f"this machine's variant is {choice.line()}, so `poetry torch install` does not edit"
            " pyproject.toml",
            kept="nothing was changed",
            next="Name packages without the override (or change [tool.poetry-torch] packages),"
            " then run the command again.",
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


def run_plan(
    plan: InstallPlan, target: TargetEnv | None, *, upgrade: bool, compile_bytecode: bool = False
) -> Plan:
    """The ``Plan`` that ``poetry torch install`` applies and ``--dry-run`` prints: this machine's
    part of a fresh poetry-torch.lock replayed (unless ``upgrade``), else the packages resolved
    afresh (the committed variant's written to the lock); ``plan``'s edits.  ``target`` None: no
    environment yet.  Refuses a machine-local choice the lock lacks, ``--upgrade`` over one it
    holds, a newer lock; a failure puts the earlier build back (``compile_bytecode``: compiled)."""
    state = lock_state(plan.pyproject.path, plan.source, plan.settings)
    part = machine_part(state, plan.settings, target)
    if part.missing:
        raise part.refusal()
    # a machine-local choice replays its own entry of the lock, which it never writes
    if plan.local and upgrade and part.lock is not None:
        raise InstallError(
            f"--upgrade resolves afresh, and this machine's variant is {part.choice}, whose builds"
            f" {state.path.name} pins (the hook would put them back)",
            kept="nothing was installed and the files were left as they were",
            next="Run `poetry torch lock --regenerate`, then `poetry torch install`.",
        )
    note = None
    if state.failure is not None and not plan.local:
        note = f"{state.failure.what}: resolving afresh to replace it"

    def back(target: TargetEnv) -> str:  # the earlier build, compiled as this run would be
        return put_back(plan.pyproject, target, compile_bytecode=compile_bytecode)

    def failure(problem: str, target: TargetEnv) -> InstallError:
        return InstallError(
            f"after installing from {redact(plan.index_url)}, {problem}",
            kept=f"pyproject.toml was not changed, and {back(target)}",
            next=f"Check that the index really serves {plan.variant} builds (`poetry torch check`).",
        )

    return plan_for(
        plan.settings,
        plan.variant,
        plan.source,
        part.lock if not upgrade else None,
        target,
        failure=failure,
        verdict=plan.verdict,
        foreign="pyproject.toml and the earlier build were left as they were",
        state=state,
        write_lock=not plan.local,
        pyproject=plan.pyproject,
        edit=plan.edit,
        note=note,
        put_back=back,
        companions=True,
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
    summary: Callable[[str], None] | None = None,
) -> tuple[str, ...]:
    """Install the plan's packages, then (only then) write pyproject.toml and the lock.

    ``checked``: the pages ``--cuda auto`` read and the target's wheel tags, reused by the
    check that every package is published before anything is downloaded.  ``say`` hears one
    line before each phase that can take long (resolving, installing); ``summary`` the line
    that says what moved, once everything succeeded.  A fresh poetry-torch.lock is replayed
    (unless ``upgrade``); otherwise the packages are resolved afresh into a new lock, and that
    lock is what gets installed.  Anything that fails before the last step leaves
    pyproject.toml and the lock byte-identical and the earlier build installed (compiled as
    the backend would have).  Returns the pins that were passed to the installer."""
    steps = run_plan(plan, target, upgrade=upgrade, compile_bytecode=backend.compile_bytecode)
    state = steps.state
    assert state is not None  # (run_plan reads it)
    team = state.lock is not None and universal(plan.settings, state.lock, ())
    if steps.replay is None and steps.write_lock and team:
        # a team lock moves whole: every entry to the release this machine gets
        refuse_read_only(state.path)
        if say is not None:
            say(f"Resolving every entry of {LOCK_NAME} (one torch release per variant)")
        whole = relocked(plan.settings, state, target, verbose=verbose)
        steps = replace(steps, replay=own_part(whole, target), relock=whole)
    # every file this command may write must be writable before the environment changes
    if plan.edit.changed:
        refuse_read_only(plan.pyproject.path)
        refuse_read_only(plan.pyproject.path.parent / "poetry.lock")
    if (upgrade or not state.fresh) and not plan.local:
        refuse_read_only(state.path)
    access = access_for(plan.settings, plan.source)
    probe = checked_probe(plan, target, *(checked or (None, None)))
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
            summary=summary,
        )


def refuse_changed(pyproject: PyProject) -> None:
    """Stop when pyproject.toml changed since this command read it: another poetry torch
    command ran while this one waited for the environment, and the plan is out of date."""
    try:
        now = pyproject.path.read_bytes()
    except OSError:
        now = b""
    if now != pyproject.original:
        raise ConfigError(
            "pyproject.toml changed while this command waited for the environment (another poetry"
            " torch command ran)",
            kept="nothing was changed",
            next="Run the command again.",
        )


def checked_probe(
    plan: InstallPlan,
    env: TargetEnv | None,
    pages: IndexPages | None = None,
    target: WheelTarget | None = None,
) -> Listing:
    """Before any download: refuse a variant whose index lacks a configured package for the
    target (``refuse_unpublished``), then return the torch page (read once: the install reads
    it for its PEP 658 metadata and hashes).  IndexAccessError when it cannot be read."""
    pages = pages or pages_for(plan.settings)
    wanted = plan.settings.must_publish  # the default family's torchaudio: service.family
    refuse_unpublished(pages, plan.index_url, plan.variant, wanted, target or wheel_target(env))
    probe = pages.page(plan.index_url, "torch")
    if probe is not None:
        return probe
    access = access_for(plan.settings, plan.source)
    return fetch_listing(access.url, "torch", access=access)  # says that torch is not there


# Where the commands' temporary files would go: fresh folders of these shapes each run.
TMP = Path(tempfile.gettempdir()) / "poetry-torch-XXXXXXXX"
WHEELS = Path(tempfile.gettempdir()) / "poetry-torch-wheels-XXXXXXXX"
_NEW_ENV = "<new virtualenv>"


def describe(
    plan: InstallPlan,
    backend: Backend,
    *,
    upgrade: bool,
    find_env: EnvFinder,
    say: Callable[[str], None],
    checked: tuple[IndexPages, WheelTarget] | None = None,
    verbose: bool = False,
) -> None:
    """Say what ``execute_install`` would run and write; run and change nothing.  A
    configured package the index lacks stops it as it would stop the install (``checked``:
    the pages and wheel target ``--cuda auto`` already read; ``verbose``: a line for each
    PEP 658 metadata file that did not match its sha256)."""
    target = _dry_run_target(plan.pyproject.path, find_env, say)
    pages, tags = checked or (
        pages_for(plan.settings),
        wheel_target(None if str(target.root) == _NEW_ENV else target),
    )
    unread = refuse_unpublished(
        pages, plan.index_url, plan.variant, plan.settings.must_publish, tags
    )
    if unread is not None and checked is None:
        say(f"<comment>Could not check which packages the index publishes: {unread}.</comment>")
    access = access_for(plan.settings, plan.source)
    # the plan the install would apply, refusals included
    steps = run_plan(plan, None if str(target.root) == _NEW_ENV else target, upgrade=upgrade)
    if steps.verdict is not None:
        say(f"Machine verdict: {steps.verdict.summary} (judged for {steps.verdict.judged_by}).")
    wheels = None
    if steps.replay is not None and plan.local:
        say(
            f"Would install the builds pinned in {LOCK_NAME} for {plan.variant.index_name}"
            f" ({steps.replay.resolved_for}), hash-checked."
        )
    elif steps.replay is not None:
        say(f"Would install the builds pinned in {LOCK_NAME}, hash-checked.")
    else:
        if steps.write_lock:
            say(f"Would resolve the packages afresh and write {LOCK_NAME}.")
        else:
            say(
                "Would resolve the packages afresh for this machine's choice"
                f" ({LOCK_NAME} is not replayed here); nothing would be written."
            )
        try:  # the page the index check above read, else the one the install would read
            probe = pages.page(plan.index_url, "torch") or fetch_listing(
                access.url, "torch", access=access
            )
        except IndexAccessError:
            probe = None  # the real run stops there, before any installer command
        if str(target.root) == _NEW_ENV:  # its pip is not known yet: the index decides
            wheels = WHEELS if wheelhouse_needed(probe) else None
        else:
            wheels = WHEELS if wheelhouse_reason(probe, backend, target) is not None else None
        # the default family's torchaudio: from the index, PyPI or not at all (service.family)
        family = decide(
            plan.settings, pages, plan.index_url, tags, access, say if verbose else None
        )
        if family.line is not None:
            say(f"Would resolve: {family.line}.")
        resolving = Request.for_access(access, family.requirements)
        pip = PipBackend()
        try:
            download = pip.download_command(target, resolving, WHEELS) if wheels else None
        except TargetEnvError:
            download, wheels = None, None  # no pip to download with: the installer resolves
        if download is not None:
            say(
                "The index offers no PEP 658 metadata: each file would be downloaded once,"
                " into a temporary wheelhouse, and installed from there."
            )
            _say_command(download, resolving, pip, access, say)
        else:
            first = backend.report_command(target, resolving, TMP)
            _say_command(first, resolving, backend, access, say)
    if str(target.root) != _NEW_ENV:
        wanted = plan.settings.package_names
        say_companions(wanted, target, say, source=plan.source.name, local=plan.local)
    arguments = ("--require-hashes", "-r", str(TMP / "torch-requirements.txt"))
    install = Request.for_access(access, arguments)
    if wheels is not None:
        install = replace(install, find_links=str(wheels))
    _say_command(backend.command(target, install), install, backend, access, say)
    say("(XXXXXXXX: each temporary folder gets a random name, and is removed after the run.)")
    if steps.edit is not None and steps.edit.changed:
        say(f"Would update {plan.pyproject.path.name}: {what_changed(plan)}.")


def _say_command(
    command: list[str],
    request: Request,
    backend: Backend,
    access: IndexAccess,
    say: Callable[[str], None],
) -> None:
    """``Would run: [PIP_INDEX_URL=https://user:***@… ]<command>``: a login travels in that
    variable, never in the command line, and is shown masked."""
    import shlex

    login = access.has_credentials and request.find_links is None
    variable = getattr(backend, "login_variable", "")
    shown = redact(access.url_with_credentials())  # https://user:***@host/…
    prefix = f"{variable}={shown} " if login and variable else ""
    say(f"Would run: {redact_text(prefix + shlex.join(command))}")


def _dry_run_target(pyproject: Path, find_env: EnvFinder, say: Callable[[str], None]) -> TargetEnv:
    """The environment the install would use.  When there is none yet, a placeholder: the
    install creates it first (as ``poetry install`` would), so naming the interpreter Poetry
    runs on would show the wrong ``--python``."""
    if locate_project_env(pyproject.parent, read_project(pyproject).name) is not None:
        return find_env(create=False)
    say("Would create the project's virtual environment first.")
    new = Path(_NEW_ENV)
    return TargetEnv(new, new / "bin" / "python", ())


def _install_for(
    pyproject: Path, options: InstallOptions, find_env: EnvFinder, say: Callable[[str], None]
) -> None:
    """``--for KIND``: set that targets entry (nothing else in the file), then install it only
    where this machine is of that kind."""
    kind = str(options.for_kind).strip().lower()
    flags = [(options.cuda, parse_cuda), (options.rocm, parse_rocm)]
    values = [
        "auto" if text.strip().lower() == "auto" else parse(text, published_variants).index_name
        for text, parse in flags
        if text is not None
    ]
    values += ["cpu"] * options.cpu + ["xpu"] * options.xpu
    # --index-base too: the entry records a variant, not an index, so the next `poetry
    # install` would read another one (set [tool.poetry-torch] index-base instead)
    extra = options.requirements or options.channel or options.upgrade or options.index_base
    if len(values) != 1 or extra:
        raise ConfigError(
            "--for sets one [tool.poetry-torch.targets] entry and takes exactly one of --cuda,"
            " --rocm, --cpu or --xpu (no package names, --channel, --upgrade or --index-base)",
            kept="nothing was changed",
            next=f"Example: `poetry torch install --cuda 12.9 --for {kind}`.",
        )
    kind = check_target(kind, values[0])  # before anything is said, planned or written
    entry = f'[tool.poetry-torch.targets] {kind} = "{values[0]}"'
    if options.dry_run:
        say(f"Would set {entry} in {pyproject.name}.")
        return
    before = set_target(pyproject, kind, values[0])
    say(f"Updated {pyproject.name}: {entry}." if before else f"{entry} is already set.")
    lock_path = pyproject.parent / LOCK_NAME
    locked = lock_path.read_bytes() if before and lock_path.is_file() else None
    with undone_on_failure(pyproject, before), lock_put_back(lock_path, locked):
        if locked is not None:
            # a project with a lock gets the new target's entries, the others kept as they are

            lock = lock_project(pyproject, find_env(create=True), keep=True)
            say(f"Locked {kind} in {LOCK_NAME} ({len(lock.entries)} entries for other machines).")
        applies = applying_target(pyproject)
        if applies != kind:
            why = f"the {applies} entry applies here" if applies else "no entry applies here"
            say(
                f"This machine is not what {kind} covers ({why}): nothing installed here"
                " (`poetry torch check` shows which entry applies to it)."
            )
            return
        plain = replace(options, cuda=None, rocm=None, cpu=False, xpu=False, for_kind=None)
        install_torch(pyproject, plain, find_env, say)


@contextmanager
def undone_on_failure(pyproject: Path, before: bytes | None) -> Iterator[None]:
    """``--for`` writes its entry, then installs: when the install fails (or Ctrl-C), put
    pyproject.toml back byte for byte, unless someone changed it meanwhile, so a failed
    command leaves the file as it was (and its "pyproject.toml was not changed" holds)."""
    if before is None:
        yield
        return

    written = pyproject.read_bytes()
    try:
        yield
    except BaseException:
        with suppress(OSError, ConfigError):  # changed meanwhile, or unwritable: left so
            files.write_atomic(pyproject, before, expected=written)
        raise


@contextmanager
def lock_put_back(path: Path, before: bytes | None) -> Iterator[None]:
    """poetry-torch.lock as it was (``before``), should the rest of ``--for`` fail."""
    if before is None:
        yield
        return

    try:
        yield
    except BaseException:
        with suppress(OSError, ConfigError):
            files.write_atomic(path, before)
        raise


def applying_target(pyproject: Path) -> str | None:
    """The ``[tool.poetry-torch.targets]`` key that applies to this machine, if any."""
    matched = matching_target(read_config(load(pyproject).document))
    return matched[0] if matched is not None else None
