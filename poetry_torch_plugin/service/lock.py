"""``poetry torch lock`` and ``export``: resolve the torch family into ``poetry-torch.lock``,
check it, write it out as a requirements file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.errors import IndexAccessError
from poetry_torch_plugin.index.pages import fetch_listing
from poetry_torch_plugin.installer.resolve import resolve


if TYPE_CHECKING:
    from pathlib import Path

    from poetry_torch_plugin.core.lockfile import TorchLock
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.service.settings import EnvFinder


def lock_project(
    pyproject: Path,
    target: TargetEnv,
    installer: str | None = None,
    *,
    verbose: bool = False,
    add: tuple[str, ...] = (),
    regenerate: bool = False,
    keep: bool = False,
) -> TorchLock:
    """Resolve the configured packages afresh for this interpreter and write the lock; with
    targets (or ``add``, variants to add), also every other entry the project wants, keeping
    those whose inputs did not change unless ``regenerate``.  Nothing is installed.

    ``add`` (or ``keep``: a target was added) keeps a fresh first part as it is: adding a
    variant or a target re-resolves nothing else."""
    from poetry_torch_plugin.installer.select import get_backend
    from poetry_torch_plugin.project.files import refuse_read_only
    from poetry_torch_plugin.project.lockstate import configured
    from poetry_torch_plugin.project.lockstate import lock_state
    from poetry_torch_plugin.project.lockstate import write_lock
    from poetry_torch_plugin.service.settings import access_for

    settings, source = configured(pyproject)
    state = lock_state(pyproject, source, settings)
    state.refuse_newer()
    refuse_read_only(state.path)
    from poetry_torch_plugin.service.universal import lock_entries
    from poetry_torch_plugin.service.universal import universal

    previous = state.lock
    add = _checked_variants(add)
    if (add or keep) and previous is not None and state.fresh and not regenerate:
        lock = previous
    else:
        access = access_for(settings, source)
        try:
            probe = fetch_listing(access.url, "torch", access=access)
        except IndexAccessError as error:
            raise _for_the_lock(error) from None
        backend = get_backend(installer or settings.installer)
        lock = resolve(
            backend,
            target,
            access,
            state.inputs,
            settings.packages,
            verbose=verbose,
            known={"torch": probe},
        )
    if universal(settings, previous, add):
        lock = lock_entries(
            settings, lock, previous, target, add=add, regenerate=regenerate, verbose=verbose
        )
    write_lock(state.path, lock)
    return lock


def _for_the_lock(error: IndexAccessError) -> IndexAccessError:
    """An unreadable index, said for ``poetry torch lock`` (the index layer's line names
    ``poetry torch install``, which would change the environment)."""
    from poetry_torch_plugin.core.lockfile import LOCK_NAME

    cause = str(error).split("; ", 1)[0]
    return IndexAccessError(
        f"{cause}; {LOCK_NAME}, pyproject.toml and the installed build were left as they were."
        " Run `poetry torch lock` again once the index answers (`poetry torch check --index`"
        " shows what it answers)."
    )


def _checked_variants(add: tuple[str, ...]) -> tuple[str, ...]:
    """``--add-variant`` values as index names; ConfigError for one that is no variant."""
    from poetry_torch_plugin.core.targets import parse_variant

    found: list[str] = []
    for value in add:
        variant = parse_variant(
            value, where="--add-variant", fix="Run `poetry torch lock --add-variant cu128`"
        )
        if variant is None or variant == "auto":
            raise ConfigError(
                f"--add-variant {value!r} names no variant; nothing was changed. Run"
                " `poetry torch lock --add-variant cu128` (or cpu, rocm6.4, …)."
            )
        found.append(variant)
    return tuple(found)


def lock_or_check(
    pyproject: Path,
    find_env: EnvFinder,
    *,
    check: bool = False,
    installer: str | None = None,
    verbose: bool = False,
    add: tuple[str, ...] = (),
    regenerate: bool = False,
) -> str:
    """Write the lock (or, with ``check``, only compare it with pyproject.toml); the line to
    show.  ConfigError in one line when the check fails."""
    from poetry_torch_plugin.core.lockfile import LOCK_NAME
    from poetry_torch_plugin.project.lockstate import check_project
    from poetry_torch_plugin.project.lockstate import configured

    if check and (add or regenerate):
        given = "--add-variant" if add else "--regenerate"
        raise ConfigError(
            f"--check writes nothing, so {given} cannot apply; nothing was changed. Run"
            f" `poetry torch lock {given}{' ' + add[0] if add else ''}` first, then"
            " `poetry torch lock --check`."
        )
    if check:
        state = check_project(pyproject)
        problem = state.problem()
        if problem is None and state.lock is None:
            problem = f"there is no {LOCK_NAME}; run `poetry torch lock` to write it."
        if problem is None and state.lock is not None:
            from poetry_torch_plugin.service.lockparts import universal_problem

            settings, _ = configured(pyproject)
            problem = universal_problem(settings, state.lock)
        if problem is not None:
            raise ConfigError(problem)
        return f"{LOCK_NAME} matches pyproject.toml."
    _checked_variants(add)  # before the project environment is looked for (or created)
    lock = lock_project(
        pyproject,
        find_env(create=True),
        installer,
        verbose=verbose,
        add=add,
        regenerate=regenerate,
    )
    requested = [f"{p.name} {p.version}" for p in lock.packages if p.requested]
    files = sum(len(p.files) for p in lock.packages)
    line = (
        f"Wrote <info>{LOCK_NAME}</info>: {', '.join(requested)}"
        f" ({len(lock.packages)} packages, {files} files)"
    )
    if not lock.entries:
        return line
    kinds = sorted({f"{e.variant} {e.platform}" for e in lock.entries})
    pythons = sorted({e.python for e in lock.entries}, key=lambda p: tuple(map(int, p.split("."))))
    return (
        f"{line}, and {len(lock.entries)} entries for other machines"
        f" ({'; '.join(kinds)}; Python {', '.join(pythons)})"
    )


def export(
    pyproject: Path,
    output: str | None = None,
    form: str | None = None,
    target: str | None = None,
    every: bool = False,
) -> str | None:
    """The requirements text (or, ``form`` "pylock", the PEP 751 text) of a fresh lock; with
    ``output`` (relative to the project) it is written there instead and None comes back."""
    from poetry_torch_plugin.project.files import write_atomic
    from poetry_torch_plugin.project.lockstate import configured
    from poetry_torch_plugin.project.lockstate import export_project

    name = output.replace("\\", "/").rsplit("/", 1)[-1] if output else None
    pylock_named = name is not None and _pylock_name(name)
    # -o pylock.torch.toml alone means the PEP 751 format: requirements text under that name
    # would be a file every installer rejects
    form = (form or ("pylock" if pylock_named else "requirements")).strip().lower()
    if form not in ("requirements", "pylock"):
        raise ConfigError(
            f"unknown export format {form!r}; nothing was exported. Use --format requirements"
            " (the default) or --format pylock (PEP 751)."
        )
    if form == "pylock" and name is not None and not pylock_named:
        raise ConfigError(
            f"PEP 751 names a lock file pylock.toml or pylock.<name>.toml, not {name};"
            " nothing was exported. Use -o pylock.torch.toml."
        )
    if form == "requirements" and pylock_named:
        raise ConfigError(
            f"{name} is a PEP 751 lock file name, but --format requirements writes a"
            " requirements file; nothing was exported. Use --format pylock, or -o"
            " requirements-torch.txt."
        )
    if target is not None and every:
        raise ConfigError(
            "--target and --all exclude each other; nothing was exported. Give one of them."
        )

    def check(lock: TorchLock) -> str | None:
        from poetry_torch_plugin.service.lockparts import universal_problem

        return universal_problem(configured(pyproject)[0], lock)

    text = export_project(pyproject, form, target and target.strip().lower(), every, check)
    if not output:
        return text
    path = pyproject.parent / output
    try:
        write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot write {path}: {exc.strerror}; nothing was exported. Pick another path with -o."
        ) from None
    return None


def _pylock_name(name: str) -> bool:
    import re

    return re.fullmatch(r"pylock\.([^.]+\.)?toml", name) is not None
