"""``poetry torch install`` from its options to its last line: pick the variant, plan, then
either describe the plan (``--dry-run``) or carry it out (``service/install.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from poetry_torch_plugin.service.install import execute_install
from poetry_torch_plugin.service.install import plan_install


if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.service.install import InstallPlan
    from poetry_torch_plugin.service.published import LiveIndex
    from poetry_torch_plugin.service.settings import EnvFinder


@dataclass(frozen=True)
class InstallOptions:
    """The command line of ``poetry torch install``, as given."""

    requirements: tuple[str, ...] = ()
    cuda: str | None = None
    rocm: str | None = None
    cpu: bool = False
    xpu: bool = False
    installer: str | None = None
    index_base: str | None = None
    dry_run: bool = False
    upgrade: bool = False
    quiet: bool = False
    verbose: bool = False
    force: bool = False
    channel: str | None = None  # stable, test or nightly; None keeps the source's
    for_kind: str | None = None  # --for: the [tool.poetry-torch.targets] entry to set


def install_torch(
    pyproject: Path, options: InstallOptions, find_env: EnvFinder, say: Callable[[str], None]
) -> None:
    """Configure the source and install from it (or only say what would happen); ``say``
    hears each line to show, in cleo's markup.  Raises a one-line TorchPluginError."""
    from poetry_torch_plugin.core.urls import redact
    from poetry_torch_plugin.core.variants import parse_channel
    from poetry_torch_plugin.installer.select import get_backend

    if options.for_kind is not None:
        _install_for(pyproject, options, find_env, say)
        return
    channel = parse_channel(options.channel) if options.channel is not None else None
    variant, live = _variant(pyproject, options, find_env, say)
    plan = plan_install(
        pyproject,
        variant=variant,
        requested=options.requirements,
        index_base=options.index_base,
        channel=channel,
        target=_existing_env(find_env) if variant is None else None,
    )
    choice = plan.settings.choice
    if plan.local and choice is not None:
        say(
            f"Variant <c2>{choice.variant}</c2>, chosen by <c1>{choice.rule}</c1>"
            f" ({choice.detail}); pyproject.toml and poetry-torch.lock are left as they are"
        )
    backend = get_backend(options.installer or plan.settings.installer)
    say(
        f"Installing <c1>{', '.join(plan.settings.packages)}</c1> for"
        f" <c2>{plan.variant.describe()}</c2> from <info>{plan.source.name}</info>"
        f" ({redact(plan.index_url)})"
    )
    checked = (live.pages, live.target) if live is not None else None
    if options.dry_run:
        from poetry_torch_plugin.service.dry_run import describe

        describe(
            plan, backend, upgrade=options.upgrade, find_env=find_env, say=say, checked=checked
        )
        _login_note(plan, say, dry_run=True)
        return
    execute_install(
        plan,
        find_env(create=True),
        backend,
        quiet=options.quiet,
        verbose=options.verbose,
        upgrade=options.upgrade,
        say=say,
        checked=checked,
    )
    if plan.edit.changed:
        say(f"Updated {plan.pyproject.path.name}: {what_changed(plan)}.")
    _login_note(plan, say, dry_run=False)
    say(f"<info>torch ready:</info> {plan.variant.describe()}")


def what_changed(plan: InstallPlan) -> str:
    """What the edit changed, said truly: the source (name or URL), the packages, or else
    only the source entry's form (made explicit, a Poetry 1 priority key dropped)."""
    import json

    from poetry_torch_plugin.core.config import parse_toml
    from poetry_torch_plugin.core.config import read_config
    from poetry_torch_plugin.errors import TorchPluginError

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
    if not parts:
        name = new.name if new is not None else plan.source.name
        parts.append(f"source <info>{name}</info> entry (priority explicit)")
    return ", ".join(parts)


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


def _variant(
    pyproject: Path, options: InstallOptions, find_env: EnvFinder, say: Callable[[str], None]
) -> tuple[Variant | None, LiveIndex | None]:
    """The variant asked for (None: the configured one), and for ``auto`` the live index it
    was chosen against."""
    from poetry_torch_plugin.core.variants import CPU
    from poetry_torch_plugin.core.variants import XPU
    from poetry_torch_plugin.core.variants import parse_cuda
    from poetry_torch_plugin.core.variants import parse_rocm
    from poetry_torch_plugin.errors import VariantError

    cuda, rocm, cpu, xpu = options.cuda, options.rocm, options.cpu, options.xpu
    if sum(bool(value) for value in (cuda, rocm, cpu, xpu)) > 1:
        raise VariantError(
            "--cuda, --rocm, --xpu and --cpu exclude each other; nothing was changed."
            " Run `poetry torch install` with only one of them."
        )
    rocm_auto = rocm is not None and rocm.strip().lower() == "auto"
    if (cuda is not None and cuda.strip().lower() == "auto") or rocm_auto:
        from dataclasses import replace

        from poetry_torch_plugin.core.fit import choose
        from poetry_torch_plugin.data import load_facts
        from poetry_torch_plugin.machine.detect import detect_machine
        from poetry_torch_plugin.project.files import configured_packages
        from poetry_torch_plugin.service.published import live_index_for

        machine = detect_machine()
        live = live_index_for(
            pyproject,
            options.requirements,
            options.index_base,
            options.channel and options.channel.strip().lower(),
            _existing_env(find_env),
        )
        if rocm_auto:
            # --rocm auto: the ROCm build for the AMD GPUs, whatever else the machine has
            machine = replace(machine, nvidia=None, intel_gpus=(), mps=False)
        choice = choose(
            load_facts(),
            machine,
            options.requirements,
            configured_packages(pyproject),
            _installed_torch(find_env),
            published=live,
        )
        if rocm_auto and choice.variant.kind != "rocm":
            why = (
                choice.reason
                if machine.amd_gpus or machine.rocm is not None
                else "no AMD GPU or ROCm runtime found"
            )
            raise VariantError(
                f"--rocm auto found no ROCm build for this machine ({why});"
                " nothing was changed. Run `poetry torch check` to see what it has, or"
                " `poetry torch install --cuda auto`."
            )
        flag = f"--{'rocm' if rocm_auto else 'cuda'} auto"
        say(f"{flag}: <c2>{choice.variant}</c2> ({choice.reason})")
        for line in choice.dropped:
            say(f"<comment>{flag}: dropped {line}</comment>")
        if live.note is not None:
            say(f"<comment>{flag}: {live.note}</comment>")
        return choice.variant, live
    if cuda is not None:
        variant = parse_cuda(cuda, published_variants)
        _refuse_unrunnable(pyproject, options, find_env, say, variant, f"--cuda {cuda.strip()}")
        return variant, None
    if rocm is not None:
        variant = parse_rocm(rocm, published_variants)
        _refuse_unrunnable(pyproject, options, find_env, say, variant, f"--rocm {rocm.strip()}")
        return variant, None
    if xpu:
        _refuse_unrunnable(pyproject, options, find_env, say, XPU, "--xpu")
        return XPU, None
    return (CPU if cpu else None), None


def _refuse_unrunnable(
    pyproject: Path,
    options: InstallOptions,
    find_env: EnvFinder,
    say: Callable[[str], None],
    variant: Variant,
    asked: str,
) -> None:
    """An explicit build this machine cannot run stops here, before the index is read
    (``--force`` turns the refusal into a warning); see ``core/fit.py``."""
    from poetry_torch_plugin.core.fit import COMPANIONS
    from poetry_torch_plugin.core.fit import judge_variant
    from poetry_torch_plugin.core.fit import requirement_names
    from poetry_torch_plugin.core.fit import target_torch_version
    from poetry_torch_plugin.data import load_facts
    from poetry_torch_plugin.errors import VariantError
    from poetry_torch_plugin.machine.detect import detect_machine
    from poetry_torch_plugin.project.files import configured_packages

    configured = list(configured_packages(pyproject))
    requested = list(options.requirements)
    companions = requirement_names([*requested, *configured]) & set(COMPANIONS)
    fit = judge_variant(
        load_facts(),
        detect_machine(),
        variant,
        target_torch_version(requested, configured, _installed_torch(find_env)),
        sorted(companions),
        option=asked,
    )
    for note in fit.notes:
        say(f"<comment>{note}</comment>")
    if fit.refusal is None:
        return
    if not options.force or not fit.forcible:
        raise VariantError(fit.refusal)
    say(f"<comment>--force: {fit.problem}; installing {variant} anyway.</comment>")


def _existing_env(find_env: EnvFinder) -> TargetEnv | None:
    try:
        return find_env(create=False)
    except Exception:
        return None


def _installed_torch(find_env: EnvFinder) -> str | None:
    from poetry_torch_plugin.env.installed import installed_distributions

    target = _existing_env(find_env)
    if target is None:
        return None
    dist = installed_distributions(target.site_packages).get("torch")
    return dist.version if dist else None


def _install_for(
    pyproject: Path, options: InstallOptions, find_env: EnvFinder, say: Callable[[str], None]
) -> None:
    """``--for KIND``: set that targets entry (nothing else in the file), then install it only
    where this machine is of that kind."""
    from dataclasses import replace

    from poetry_torch_plugin.core.lockfile import LOCK_NAME
    from poetry_torch_plugin.core.variants import parse_cuda
    from poetry_torch_plugin.core.variants import parse_rocm
    from poetry_torch_plugin.errors import ConfigError
    from poetry_torch_plugin.service.targets import applying_target
    from poetry_torch_plugin.service.targets import check_target
    from poetry_torch_plugin.service.targets import lock_put_back
    from poetry_torch_plugin.service.targets import set_target
    from poetry_torch_plugin.service.targets import undone_on_failure

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
            " --rocm, --cpu or --xpu (no package names, --channel, --upgrade or --index-base);"
            f" nothing was changed. Example: `poetry torch install --cuda 12.9 --for {kind}`."
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
            from poetry_torch_plugin.service.lock import lock_project

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


def published_variants() -> list[Variant]:
    """Every variant the facts list for some torch release: what a mistyped ``--cuda`` or
    ``--rocm`` value is answered with (offline, so a typo costs no index read)."""
    from poetry_torch_plugin.core.variants import from_index_name
    from poetry_torch_plugin.data import load_facts

    names = {build.name for release in load_facts().releases for build in release.builds}
    return [variant for variant in map(from_index_name, sorted(names)) if variant is not None]
