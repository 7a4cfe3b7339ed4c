"""``apply(plan)``: the one way the plugin changes an environment, for ``poetry torch install``,
the hook's repair and the wheelhouse replay.

Replay the plan's files (or resolve them first, or, for the hook without a lock, pin them) ->
refuse builds of another variant -> install them hash-checked -> verify the result -> write
pyproject.toml and poetry-torch.lock -> refresh poetry.lock through Poetry, or put everything
back."""

from __future__ import annotations

import tempfile

from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from packaging.utils import canonicalize_name

from poetry_torch_plugin.core.lockfile import carried
from poetry_torch_plugin.core.record import replace
from poetry_torch_plugin.core.urls import redact
from poetry_torch_plugin.env.installed import HOOK_WAIT
from poetry_torch_plugin.env.installed import exclusive
from poetry_torch_plugin.env.installed import installed_distributions
from poetry_torch_plugin.errors import IndexAccessError
from poetry_torch_plugin.errors import InstallError
from poetry_torch_plugin.index.access import mirror_url
from poetry_torch_plugin.index.pages import IndexPages
from poetry_torch_plugin.index.pages import WheelTarget
from poetry_torch_plugin.index.pages import fetch_listing
from poetry_torch_plugin.installer.backend import environment_wheel_target
from poetry_torch_plugin.installer.backend import pins_of
from poetry_torch_plugin.installer.backend import refuse_foreign_builds
from poetry_torch_plugin.installer.download_once import download_report
from poetry_torch_plugin.installer.resolve import install_locked
from poetry_torch_plugin.installer.resolve import resolve
from poetry_torch_plugin.installer.select import wheelhouse_reason
from poetry_torch_plugin.project import files
from poetry_torch_plugin.project.edits import write_atomic
from poetry_torch_plugin.project.lockstate import write_lock
from poetry_torch_plugin.seam.holdout import refresh_lock
from poetry_torch_plugin.service import standin
from poetry_torch_plugin.service.companions import CompanionsLeftError
from poetry_torch_plugin.service.family import decide
from poetry_torch_plugin.service.plan import as_built
from poetry_torch_plugin.service.render import moved_line
from poetry_torch_plugin.service.settings import request_for
from poetry_torch_plugin.service.verify import companions_left
from poetry_torch_plugin.service.verify import verify


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Sequence

    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.lockfile import TorchLock
    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.index.access import IndexAccess
    from poetry_torch_plugin.index.pages import Listing
    from poetry_torch_plugin.installer.backend import Backend
    from poetry_torch_plugin.project.edits import PyProject
    from poetry_torch_plugin.service.family import Family
    from poetry_torch_plugin.service.plan import Plan


def apply(
    plan: Plan,
    target: TargetEnv,
    backend: Backend,
    access: IndexAccess,
    *,
    quiet: bool = False,
    verbose: bool = False,
    say: Callable[[str], None] | None = None,
    page: Callable[[IndexAccess], Listing | None] | None = None,
    wait: float = HOOK_WAIT,
    summary: Callable[[str], None] | None = None,
) -> tuple[str, ...]:
    """Carry ``plan`` out in ``target`` while holding its mutex (``wait`` seconds at most);
    returns the pins passed to the installer.

    ``access``: how to reach the plan's index.  ``page``: the index's torch page (its PEP 658
    metadata and hashes), read when needed; ``say`` hears one line before each long phase;
    ``summary``, once it all succeeded, the line that says what moved (``render.moved_line``:
    the installed versions before and after, and the project files actually written).
    Anything that fails before the files are written leaves them byte-identical."""

    def tell(line: str) -> None:
        if say is not None:
            say(line)

    with exclusive(target, wait=wait):
        names = plan.settings.package_names
        before = _versions(target, names) if summary is not None else {}
        project = _project_files(plan)
        files_before = [_bytes(path) for path in project]
        built = plan.settings
        if plan.pins:
            family = _family(plan, target, access, None, tell, verbose=verbose)
            built = plan.settings.as_built(plan.settings.packages, family.names)
            installed = install_pins(
                backend,
                target,
                access,
                family.requirements,
                built.package_names,
                quiet=quiet,
                verbose=verbose,
                variant=plan.variant,
            )
            lock = None
        else:
            with tempfile.TemporaryDirectory(prefix="poetry-torch-wheels-") as tmp:
                wheelhouse = plan.wheelhouse
                if plan.replay is not None:
                    lock = plan.replay
                    _refuse_foreign(plan, lock)
                    probe = page(access) if page is not None else None
                else:
                    probe = page(access) if page is not None else None
                    wheelhouse = _wheelhouse(plan, target, backend, probe, Path(tmp), tell)
                    lock = _resolve(
                        plan, target, backend, access, probe, wheelhouse, quiet, verbose, tell
                    )
                    _refuse_foreign(plan, lock)
                if plan.companions:
                    _refuse_companions_left(target, lock)
                tell(_install_line(lock, wheelhouse, plan))
                installed = install_locked(
                    target,
                    lock,
                    access,
                    backend=backend,
                    quiet=quiet,
                    verbose=verbose,
                    wheelhouse=wheelhouse,
                    listing=probe,
                )
        built = as_built(plan.settings, lock) if lock else built
        problems = verify(built, target, plan.variant) if plan.variant else []
        if problems:
            raise plan.failure(problems[0].text, target)
        if lock is not None:
            _write(plan, lock, target)
        if summary is not None:
            written = [path.name for path, was in zip(project, files_before) if _bytes(path) != was]
            summary(
                moved_line(
                    before,
                    _versions(target, names),
                    names,
                    written if project else None,
                )
            )
    return installed


def _refuse_companions_left(target: TargetEnv, lock: TorchLock) -> None:
    """CompanionsLeftError when installing ``lock`` would leave a companion check fails."""
    locked = {package.name: package.version for package in lock.packages}
    left = companions_left(installed_distributions(target.site_packages), locked)
    if left:
        raise CompanionsLeftError(
            tuple(problem.name for problem in left), tuple(problem.text for problem in left)
        )


def _versions(target: TargetEnv, names: Sequence[str]) -> dict[str, tuple[str, object]]:
    """``{name: (version, stamp)}`` of every installed distribution, the local label of those
    ``names`` read from version.py when the dist-info lacks it; the stamp (the dist-info
    folder's inode and mtime) tells a reinstall at the same version."""
    found: dict[str, tuple[str, object]] = {}
    for name, dist in installed_distributions(target.site_packages).items():
        try:
            info = dist.dist_info.stat()
            stamp: object = (info.st_ino, info.st_mtime_ns)
        except OSError:
            stamp = None
        found[name] = (dist.build_version() if name in names else dist.version, stamp)
    return found


def _project_files(plan: Plan) -> list[Path]:
    """The files an install may write, in the order it writes them (none for the hook and the
    wheelhouse replay, which write no project file)."""
    if plan.pyproject is None or plan.state is None:
        return []
    root = plan.pyproject.path.parent
    return [plan.pyproject.path, plan.state.path, root / "poetry.lock"]


def _bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _refuse_foreign(plan: Plan, lock: TorchLock) -> None:
    if plan.foreign is not None and plan.variant is not None:
        refuse_foreign_builds(
            {package.name: package.version for package in lock.packages},
            plan.variant,
            plan.source.url,
            kept=plan.foreign,
        )


def _wheelhouse(
    plan: Plan,
    target: TargetEnv,
    backend: Backend,
    probe: Listing | None,
    tmp: Path,
    tell: Callable[[str], None],
) -> Path | None:
    """Where a resolution downloads each file once, when it must (else None), said in one line.

    Without PEP 658 metadata (or with a pip older than 25.3) the installer would download
    every wheel to resolve and again to install: download once, into a wheelhouse, and install
    from it."""
    if plan.note is not None:
        tell(plan.note)
    reason = wheelhouse_reason(probe, backend, target)
    tell(
        f"Resolving {', '.join(plan.settings.package_names)} for"
        f" {plan.variant.describe() if plan.variant else plan.source.name} against"
        f" {_fetched(plan)}"
        + (
            f" ({reason}: downloading each file once, into a temporary wheelhouse)"
            if reason is not None
            else ""
        )
    )
    return tmp if reason is not None else None


def _resolve(
    plan: Plan,
    target: TargetEnv,
    backend: Backend,
    access: IndexAccess,
    probe: Listing | None,
    wheelhouse: Path | None,
    quiet: bool,
    verbose: bool,
    tell: Callable[[str], None],
) -> TorchLock:
    if plan.state is None:
        raise InstallError("nothing to resolve the packages for", kept="nothing was installed")
    family = _family(plan, target, access, probe, tell, verbose=verbose)
    known = {name: listing for name, (_, listing) in family.elsewhere.items()}
    if probe is not None:
        known["torch"] = probe
    return resolve(
        backend,
        target,
        access,
        plan.state.inputs,
        family.requirements,
        verbose=verbose,
        quiet=quiet,
        known=known,
        wheelhouse=wheelhouse,
        origins={name: index for name, (index, _) in family.elsewhere.items()},
    )


def _family(
    plan: Plan,
    target: TargetEnv,
    access: IndexAccess,
    probe: Listing | None,
    tell: Callable[[str], None],
    *,
    verbose: bool = False,
) -> Family:
    """What to resolve (``service.family``: the default family's torchaudio from the index,
    PyPI or not at all), said in one line when it is not all from the index; with
    ``verbose``, a line for each PEP 658 metadata file that did not match its sha256."""
    pages = IndexPages(lambda _url: access)
    if probe is not None:
        pages.known(access.url, "torch", probe)
    wheels = environment_wheel_target(target.python) or WheelTarget.here()
    family = decide(plan.settings, pages, access.url, wheels, access, tell if verbose else None)
    if family.line is not None:
        tell(family.line)
    return family


def _write(plan: Plan, lock: TorchLock, target: TargetEnv) -> None:
    """pyproject.toml, then poetry-torch.lock, then poetry.lock (or all of them put back)."""
    edit, pyproject, state, put_back = plan.edit, plan.pyproject, plan.state, plan.put_back
    if edit is None or pyproject is None or state is None or put_back is None:
        return
    if edit.changed:
        write_atomic(pyproject, edit.text)
    lock_before = state.path.read_bytes() if state.path.is_file() else None
    if plan.relock is not None and plan.write_lock:
        write_lock(state.path, plan.relock)  # every entry moved with this machine's part
    elif plan.replay is None and plan.write_lock and plan.variant is not None:
        # the entries for other machines stay: `poetry torch lock --check` says when the
        # targets changed, and each entry is checked against its inputs before a replay
        write_lock(state.path, carried(lock, state.lock, plan.variant.index_name))
    if edit.changed:
        refresh_or_put_back(
            pyproject, edit.text, plan.settings, target, state.path, lock_before, put_back
        )


def _install_line(lock: TorchLock, wheelhouse: Path | None, plan: Plan) -> str:
    """``Installing 3 files (812.4 MB), downloaded once, with no index …`` (from a wheelhouse)
    or ``Downloading and installing 3 packages from <index> …``; either way a package the lock
    takes from elsewhere (PyPI's torchaudio for cu132) is named with where it comes from."""
    origins, mixed = _origins(lock, plan)
    files = sorted(wheelhouse.iterdir()) if wheelhouse is not None else []
    if files:
        size = sum(path.stat().st_size for path in files)
        return (
            f"Installing {len(files)} files ({size / 1e6:.1f} MB), downloaded once, with no"
            f" index{f': {origins}' if mixed else ''}, each checked against its sha256 in the lock"
        )
    return f"Downloading and installing {origins}, each checked against its sha256 in the lock"


def _origins(lock: TorchLock, plan: Plan) -> tuple[str, bool]:
    """Where the lock's packages come from (``2 packages from <index> and torchaudio from
    <PyPI>``), and whether any comes from elsewhere than the index: a companion the index does
    not publish comes from where the lock says, and the line names it rather than claim the
    index for it."""
    elsewhere: dict[str, list[str]] = {}
    for package in lock.packages:
        if package.index:
            elsewhere.setdefault(redact(package.index.rstrip("/")), []).append(package.name)
    here = len(lock.packages) - sum(len(names) for names in elsewhere.values())
    parts = [f"{here} package{'s' if here != 1 else ''} from {_fetched(plan)}"]
    parts += [f"{', '.join(sorted(names))} from {index}" for index, names in elsewhere.items()]
    return " and ".join(parts), bool(elsewhere)


def _fetched(plan: Plan) -> str:
    """The index URL this machine reads for the plan's source: a mirror's, when
    ``POETRY_TORCH_INDEX_BASE`` stands in for the project's base (``index.access.mirror_url``)."""
    return redact(mirror_url(plan.source.url, plan.settings.index_base) or plan.source.url)


_HOOK_KEPT = "the installed build was left as it was"


def install_pins(
    backend: Backend,
    target: TargetEnv,
    access: IndexAccess,
    settings_requirements: Sequence[str],
    names: Sequence[str],
    *,
    quiet: bool,
    verbose: bool,
    variant: Variant | None = None,
) -> tuple[str, ...]:
    """Install ``settings_requirements`` from the index in one transaction; with ``variant``,
    only after checking that the index resolved that variant's builds.

    When part of the family is already installed, pip would keep a build that merely satisfies
    the version range (a +cu129 torch satisfies ``torch==2.8.0`` for a cu128 install), so the
    exact versions are resolved from the index first and pinned.
    """
    request = request_for(access, settings_requirements, quiet=quiet, verbose=verbose)
    try:
        probe = fetch_listing(access.url, "torch", access=access)
    except IndexAccessError:
        probe = None  # the installer says what is wrong with the index
    if wheelhouse_reason(probe, backend, target) is not None:
        # no PEP 658 metadata, or a pip whose dry run downloads every wheel: download the
        # closure once, then install it with no index
        with tempfile.TemporaryDirectory(prefix="poetry-torch-wheels-") as tmp:
            report = download_report(target, request, Path(tmp))
            if report is not None:
                pins = pins_of(report)
                if variant is not None:
                    refuse_foreign_builds(pins, variant, access.url, kept=_HOOK_KEPT)
                pinned = _pinned(settings_requirements, names, pins)
                request = replace(
                    request_for(access, pinned, quiet=quiet, verbose=verbose), find_links=tmp
                )
                backend.install(target, request)
                return request.requirements
    installed = installed_distributions(target.site_packages)
    if any(name in installed for name in names) or variant is not None:
        pins = pins_of(backend.report(target, request))
        if variant is not None:
            refuse_foreign_builds(pins, variant, access.url, kept=_HOOK_KEPT)
        pinned = _pinned(settings_requirements, names, pins)
        request = request_for(access, pinned, quiet=quiet, verbose=verbose)
    backend.install(target, request)
    return request.requirements


def _pinned(
    requirements: Sequence[str], names: Sequence[str], pins: dict[str, str]
) -> tuple[str, ...]:
    """``name==version`` for each of ``names`` resolved; a requirement naming a file by URL
    (PyPI's torchaudio, ``service.family``) stays as it is: the index has no such version."""
    by_url: dict[str, str] = {
        canonicalize_name(text.split("@", 1)[0].strip()): text
        for text in requirements
        if " @ " in text
    }
    return tuple(by_url.get(name) or f"{name}=={pins[name]}" for name in names if name in pins)


def refresh_or_put_back(
    pyproject: PyProject,
    edited: str,
    settings: TorchConfig,
    target: TargetEnv,
    lock_path: Path,
    lock_before: bytes | None,
    put_back: Callable[[TargetEnv], str],
) -> None:
    """After ``poetry torch install`` wrote ``edited`` (the sources are part of poetry.lock's
    content-hash): refresh poetry.lock through Poetry's own Installer, with torch held out, so
    that ``poetry install`` and ``poetry check --lock`` pass with no extra step.  When Poetry
    cannot lock, the command fails closed: pyproject.toml and poetry-torch.lock are put back
    byte for byte, the earlier build is reinstalled, and one line says so."""

    def bind(poetry: Any, installer: Any) -> None:
        hold = standin.build(settings, target, pyproject.path, lambda _text: None)
        standin.bind(poetry, installer, hold)

    try:
        refresh_lock(pyproject.path.parent, bind)
    except (RuntimeError, InstallError) as why:  # Poetry could not lock
        files.write_atomic(pyproject.path, pyproject.original, expected=edited.encode("utf-8"))
        if lock_before is None:
            lock_path.unlink(missing_ok=True)
        else:
            files.write_atomic(lock_path, lock_before)
        cause = why.what if isinstance(why, InstallError) else why  # the field, not the line
        raise InstallError(
            f"poetry.lock could not be refreshed for the new source ({cause})",
            kept=f"pyproject.toml and {lock_path.name} were put back as they were, and"
            f" {put_back(target)}",
            next="Fix what Poetry reported (`poetry lock` shows it), then run the command again.",
        ) from None
