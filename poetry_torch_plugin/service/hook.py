"""The hook after Poetry commands: reinstall the configured build only when it is wrong."""

from __future__ import annotations

from typing import TYPE_CHECKING

from poetry_torch_plugin.core.config import parse_toml
from poetry_torch_plugin.core.config import read_config
from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.core.lockfile import TorchLock
from poetry_torch_plugin.core.urls import redact
from poetry_torch_plugin.env.installed import drift
from poetry_torch_plugin.env.installed import exclusive
from poetry_torch_plugin.env.installed import installed_distributions
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.errors import IndexAccessError
from poetry_torch_plugin.errors import InstallError
from poetry_torch_plugin.errors import PoetrySeamError
from poetry_torch_plugin.errors import TorchPluginError
from poetry_torch_plugin.project.lockstate import lock_state
from poetry_torch_plugin.service.plan import as_built
from poetry_torch_plugin.service.plan import machine_part
from poetry_torch_plugin.service.settings import Reporter
from poetry_torch_plugin.service.settings import access_for
from poetry_torch_plugin.service.settings import configured_variant
from poetry_torch_plugin.service.settings import with_choice
from poetry_torch_plugin.service.verify import verify


if TYPE_CHECKING:
    from pathlib import Path

    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.variants import Source
    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.index.access import IndexAccess
    from poetry_torch_plugin.index.pages import Listing
    from poetry_torch_plugin.project.edits import PyProject


def ensure(
    settings: TorchConfig,
    target: TargetEnv,
    reporter: Reporter,
    *,
    quiet: bool = False,
    verbose: bool = False,
    pyproject: Path | None = None,
    dry_run: bool = False,
    lock_only: bool = False,
    compile_bytecode: bool = False,
) -> bool:
    """The hook: reinstall the configured build only when it is missing or wrong.

    ``dry_run``: say in one line what would be reinstalled, and from where; change nothing.
    ``lock_only`` (after ``poetry lock``, ``update --lock``, ...): repair an environment that
    holds a wrong or partial build, but never download the stack into one that has none of it
    (a CI job that only refreshes the lock).  ``compile_bytecode``: the Poetry command was
    given ``--compile``, so a reinstall compiles the build's files too.

    With ``pyproject`` given and a fresh poetry-torch.lock beside it, "wrong" also means "not
    the locked build", and the lock is what gets reinstalled.  Returns True when it had to
    reinstall.  The installer (``settings.installer``) is looked for only then.
    """
    source, variant = configured_variant(settings)
    if lock_only and not set(settings.package_names) & set(
        installed_distributions(target.site_packages)
    ):  # before the lock is read: a machine-local variant it lacks does not fail `poetry lock`
        reporter.detail(
            f"poetry-torch: no torch build in {target.root}; a lock-only command installs none"
            " (run `poetry install` to get one)"
        )
        return False
    lock = _replayable_lock(pyproject, source, settings, reporter, target)
    if lock is not None:  # a default-family companion the build has none of is not missing
        settings = as_built(settings, lock)
    problems = _ensure_problems(settings, target, variant, lock)
    if not problems:
        reporter.detail(f"poetry-torch: {', '.join(settings.package_names)} match {variant}")
        return False
    where = f"{source.name}, {redact(source.url)}"
    origin = (
        f"{LOCK_NAME} ({where})" if lock is not None else f"{source.name} ({redact(source.url)})"
    )
    if dry_run:
        reporter.line(
            f"poetry-torch: {problems[0]}; would reinstall {', '.join(settings.package_names)}"
            f" from {origin}"
        )
        return False
    # The one deliberate boundary: everything above is the hook's fast path, after every
    # Poetry command; the repair path (installers, resolve, relock) loads only when needed.
    from poetry_torch_plugin.index.access import mirror_url
    from poetry_torch_plugin.installer.select import get_backend
    from poetry_torch_plugin.service.apply import apply
    from poetry_torch_plugin.service.choose import plan_for

    house = _wheelhouse(lock, target)  # POETRY_TORCH_WHEELHOUSE: no index at all
    with exclusive(target):
        problems = _ensure_problems(settings, target, variant, lock)
        if not problems:
            return False
        reporter.line(
            f"poetry-torch: {problems[0]}; reinstalling {', '.join(settings.package_names)}"
            f" from {origin}"
        )
        backend = get_backend(settings.installer, compile_bytecode=compile_bytecode)

        def failure(problem: str, _: TargetEnv) -> InstallError:
            # the index served what it should not: say so and fail, rather than reinstall (and
            # succeed) after every Poetry command
            # the index this machine read: a mirror's, when POETRY_TORCH_INDEX_BASE maps it
            read = mirror_url(source.url, settings.index_base) or source.url
            return InstallError(
                f"after reinstalling from {redact(read)}, {problem}",
                kept="no file of the project was changed",
                next=f"Check that the source serves {variant} builds (`poetry torch check`), fix"
                " it in pyproject.toml, then run the command again.",
            )

        # the same planner as `poetry torch install` and `check`: the build, the files this
        # machine replays, and the machine verdict for them
        plan = plan_for(
            settings,
            variant,
            source,
            lock,
            target,
            failure=failure,
            foreign="the installed build was left as it was",
            wheelhouse=house,
            pins=lock is None,
        )
        if plan.verdict is not None:
            reporter.detail(
                f"poetry-torch: {plan.verdict.summary} (judged for {plan.verdict.judged_by})"
            )
        uv_page = backend.name == "uv" and house is None
        apply(
            plan,
            target,
            backend,
            access_for(settings, source),
            quiet=quiet,
            verbose=verbose,
            page=_torch_page if uv_page else None,
            summary=lambda moved: reporter.line(f"poetry-torch: {moved}"),
        )
    return True


def _torch_page(access: IndexAccess) -> Listing | None:
    """The index's torch page (whether it offers PEP 658 metadata); None when unreadable,
    and the installer says what is wrong with the index."""
    from poetry_torch_plugin.index.pages import fetch_listing  # the repair path (see ensure)

    try:
        return fetch_listing(access.url, "torch", access=access)
    except IndexAccessError:
        return None


def _replayable_lock(
    pyproject: Path | None,
    source: Source,
    settings: TorchConfig,
    reporter: Reporter,
    target: TargetEnv,
) -> TorchLock | None:
    """The fresh lock to replay; a stale or unreadable one is reported and not used."""
    if pyproject is None:
        return None
    part = machine_part(lock_state(pyproject, source, settings), settings, target, reporter.detail)
    if part.missing:
        raise part.refusal()
    if part.choice is not None and part.problem is not None:
        # a machine-local choice replays its own entry of the lock (service.plan)
        reporter.detail(f"poetry-torch: variant {part.choice}; {LOCK_NAME} not replayed")
    elif part.problem is not None:
        reporter.line(f"poetry-torch: {part.problem}")
    return part.lock


def _ensure_problems(
    settings: TorchConfig, target: TargetEnv, variant: Variant, lock: TorchLock | None
) -> list[str]:
    problems = [problem.text for problem in verify(settings, target, variant, companions=True)]
    if lock is not None:
        # Only what Poetry never manages: torch's other dependencies (filelock, ...) belong to
        # poetry.lock too, and chasing them would reinstall after every Poetry command.
        installed = installed_distributions(target.site_packages)
        problems += [
            item.text
            for item in drift(lock, installed)
            if item.kind != "unlocked" and settings.held(item.name)
        ]
    return problems


def held_in_lock(settings: TorchConfig, lock_path: Path) -> None:
    """Fail closed: after Poetry wrote poetry.lock, no configured torch package may be in it."""
    from importlib.metadata import version

    try:
        data = parse_toml(lock_path.read_bytes().decode("utf-8"))
    except (OSError, ValueError):
        return  # no lock written (dry run, --lock with nothing to do): nothing to check
    entries = data.get("package", [])
    names = {str(e.get("name", "")) for e in entries if isinstance(e, dict)}
    found = sorted(names & set(settings.package_names))
    if found:
        raise PoetrySeamError(
            f"{lock_path.name} holds {', '.join(found)} although the plugin holds them out (Poetry"
            f" {version('poetry')} is not one this plugin was verified with, or another plugin"
            " wrapped the same methods)",
            kept="nothing was installed",
            next="Run `poetry lock` again, or upgrade poetry-torch-plugin.",
        )


def _wheelhouse(lock: TorchLock | None, target: TargetEnv | None = None) -> Path | None:
    """``POETRY_TORCH_WHEELHOUSE``: the hook replays the lock from that folder, no index.
    Set, it must hold wheels and there must be a lock to replay: the user asked for no
    network, so the hook never falls back to the index (ConfigError, nothing installed)."""
    # the repair path, as in ``ensure``: the wheelhouse module loads only when repairing
    from poetry_torch_plugin.installer.backend import environment_tag_set
    from poetry_torch_plugin.service.wheelhouse import WHEELHOUSE_ENV
    from poetry_torch_plugin.service.wheelhouse import from_env
    from poetry_torch_plugin.service.wheelhouse import holds

    house = from_env()
    if house is not None and lock is not None:
        return holds(house, lock, environment_tag_set(target.python) if target else None)
    if house is not None:
        raise ConfigError(
            f"{WHEELHOUSE_ENV} is set but there is no fresh {LOCK_NAME} for this machine to replay"
            f" from {house} (`poetry torch check` says why)",
            kept="nothing was installed and no index was read",
            next=(
                f"Run `poetry torch lock` where the index is reachable, or unset {WHEELHOUSE_ENV}."
            ),
        )
    return house


class _Quiet:
    """A Reporter that keeps the restore's lines to itself: the command prints one line."""

    def line(self, text: str) -> None:
        return

    def detail(self, text: str) -> None:
        return


def put_back(pyproject: PyProject, target: TargetEnv, *, compile_bytecode: bool = False) -> str:
    """Reinstall what the unchanged pyproject.toml configures (compiled when the failed command
    asked ``--compile``); say how that went (a clause)."""
    failed = "the earlier build could not be put back: run poetry install to reinstall it"
    try:
        settings = read_config(parse_toml(pyproject.original.decode("utf-8")))
        if not settings.active:
            return failed
        settings = with_choice(settings, pyproject.path, target)
        ensure(
            settings,
            target,
            _Quiet(),
            quiet=True,
            pyproject=pyproject.path,
            compile_bytecode=compile_bytecode,
        )
        if verify(settings, target, configured_variant(settings)[1]):
            return failed
    except (TorchPluginError, ValueError, UnicodeDecodeError):
        return failed
    return "the configured build was put back"
