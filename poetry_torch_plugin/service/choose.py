"""Which variant a run installs, by which rule, against what the index publishes: the variant
``poetry torch install`` was asked for (``--cuda auto`` and ``--rocm auto`` choose one for this machine
against the live index; an explicit build this machine cannot run is refused first, see
``core/fit.py``), and whether the index publishes every configured package for the
environment's Python and platform.  The machine-local choice of every other path
(``POETRY_TORCH_VARIANT``, poetry.toml, targets, auto) is ``service.settings.with_choice``.
``plan_for`` is the one planner: the ``Plan`` of every run, with this machine's verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from poetry_torch_plugin.core.config import DEFAULT_INDEX_BASE
from poetry_torch_plugin.core.config import TorchConfig
from poetry_torch_plugin.core.config import effective_index_base
from poetry_torch_plugin.core.config import parse_requirements
from poetry_torch_plugin.core.fit import COMPANIONS
from poetry_torch_plugin.core.fit import Exact
from poetry_torch_plugin.core.fit import choose
from poetry_torch_plugin.core.fit import judge_variant
from poetry_torch_plugin.core.fit import requirement_names
from poetry_torch_plugin.core.fit import target_torch_version
from poetry_torch_plugin.core.lockfile import LOCK_NAME
from poetry_torch_plugin.core.record import record
from poetry_torch_plugin.core.record import replace
from poetry_torch_plugin.core.variants import CPU
from poetry_torch_plugin.core.variants import XPU
from poetry_torch_plugin.core.variants import channel_base
from poetry_torch_plugin.core.variants import from_index_name
from poetry_torch_plugin.core.variants import parse_cuda
from poetry_torch_plugin.core.variants import parse_rocm
from poetry_torch_plugin.data import load_facts
from poetry_torch_plugin.env.installed import installed_distributions
from poetry_torch_plugin.errors import ConfigError
from poetry_torch_plugin.errors import IndexAccessError
from poetry_torch_plugin.errors import InstallError
from poetry_torch_plugin.errors import VariantError
from poetry_torch_plugin.index.access import resolve_access
from poetry_torch_plugin.index.pages import NO_VERSION
from poetry_torch_plugin.index.pages import NO_WHEEL
from poetry_torch_plugin.index.pages import IndexPages
from poetry_torch_plugin.index.pages import WheelTarget
from poetry_torch_plugin.index.pages import newest_admitted
from poetry_torch_plugin.index.pages import wanted_packages
from poetry_torch_plugin.installer.backend import environment_wheel_target
from poetry_torch_plugin.machine.detect import detect_machine
from poetry_torch_plugin.project.edits import packages_for
from poetry_torch_plugin.project.files import configured_packages
from poetry_torch_plugin.project.files import read_project
from poetry_torch_plugin.project.lockstate import lock_state
from poetry_torch_plugin.service.plan import FACTS
from poetry_torch_plugin.service.plan import INDEX
from poetry_torch_plugin.service.plan import LOCKED
from poetry_torch_plugin.service.plan import MachineVerdict
from poetry_torch_plugin.service.plan import Plan
from poetry_torch_plugin.service.plan import locked_releases
from poetry_torch_plugin.service.plan import locked_torch


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterable
    from collections.abc import Mapping
    from collections.abc import Sequence
    from pathlib import Path

    from packaging.specifiers import SpecifierSet

    from poetry_torch_plugin.core.facts import Facts
    from poetry_torch_plugin.core.facts import Release
    from poetry_torch_plugin.core.fit import Fit
    from poetry_torch_plugin.core.lockfile import TorchLock
    from poetry_torch_plugin.core.machine import Machine
    from poetry_torch_plugin.core.variants import Source
    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.env.installed import EnvFinder
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.index.access import IndexAccess


@record
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
    compile_bytecode: bool = False  # --compile, as `poetry install --compile`


def index_base_for(current: TorchConfig, index_base: str | None) -> str:
    """The base a new variant's URL is built on: the one given (``--index-base``,
    ``index-base``), else the base of the plugin source already in the file
    (``https://mirror.corp/pytorch/whl/cu129`` gives ``https://mirror.corp/pytorch/whl``) so a
    switch keeps a mirror configured only there, else download.pytorch.org.  Never
    ``POETRY_TORCH_INDEX_BASE``: that mirror is this machine's (``index.access.mirror_url``)."""
    if not index_base and current.index_base.rstrip("/") == DEFAULT_INDEX_BASE:
        for existing in current.sources:
            if existing.variant is None:
                continue
            url = existing.url.rstrip("/")
            tail = f"/{existing.variant.index_name}"
            if url.endswith(tail) and len(url) > len(tail):
                return url[: -len(tail)]
    return effective_index_base(current, index_base)


def wheel_target(env: TargetEnv | None) -> WheelTarget:
    """The tags of the project environment's interpreter; this interpreter's when there is no
    environment yet (or it cannot run), as the install would then create one."""
    found = environment_wheel_target(env.python) if env is not None else None
    return found or WheelTarget.here()


def pages_for(settings: TorchConfig, index_base: str | None = None) -> IndexPages:
    """Pages read with the login and certificates Poetry has for each variant's source."""
    base = effective_index_base(settings, index_base)

    def access(url: str) -> IndexAccess:
        variant = from_index_name(url.rstrip("/").rsplit("/", 1)[-1])
        name = variant.source_name if variant is not None else "pytorch"
        return resolve_access(
            name,
            url,
            allow_http=settings.allow_http,
            index_base=base,
            committed_base=settings.index_base,
        )

    return IndexPages(access)


class LiveIndex:
    """``--cuda auto``'s question to the index about one candidate: ``""`` it publishes every
    wanted package for the target, a few words why not, None once the index proved unreadable
    (``note`` then says so, and the facts decide)."""

    def __init__(
        self,
        pages: IndexPages,
        base: str,
        requirements: Iterable[str],
        target: WheelTarget,
    ) -> None:
        self.pages = pages
        self.base = base.rstrip("/")
        self.wanted = wanted_packages(requirements)
        self.target = target
        self.note: str | None = None

    def __call__(self, variant: Variant) -> str | None:
        if self.note is not None:
            return None
        try:
            found = self.pages.missing(
                f"{self.base}/{variant.index_name}", self.wanted, self.target
            )
        except IndexAccessError as exc:
            self.note = (
                f"{exc.what}; chose from the facts alone (facts.json), without checking which"
                " packages the index publishes"
            )
            return None
        return "" if found is None else str(found)

    def release(self, variant: Variant) -> str | None:
        """The newest torch the variant's index page links that the project admits and the
        target installs (``2.8.0``); None when it has none, or once the index proved
        unreadable (``note`` then says so)."""
        if self.note is not None:
            return None
        try:
            listing = self.pages.page(f"{self.base}/{variant.index_name}", "torch")
        except IndexAccessError as exc:
            self.note = f"{exc.what}; judged by the facts alone (facts.json), not the index"
            return None
        if listing is None:
            return None
        return newest_admitted(listing, self.wanted.get("torch"), self.target)


def refuse_unpublished(
    pages: IndexPages,
    index_url: str,
    variant: Variant,
    requirements: Iterable[str],
    target: WheelTarget | None,
) -> str | None:
    """Stop, before any download, when ``index_url`` lacks a wheel of a wanted package for
    the target: one line naming the variant, the package and why.  An index that cannot be
    read is left to the install, which says what is wrong with it; the first part of its
    reason comes back (for ``--dry-run`` to show), else None."""
    try:
        why = pages.missing(index_url, wanted_packages(requirements), target)
    except IndexAccessError as exc:
        return exc.what
    if why is None:
        return None
    name = why.package
    error = pages.not_published(index_url, "torch") if name == "torch" else None
    if error is not None:
        raise error  # no torch at all: the index's own line (HTTP 404 for …/torch/)
    if why.kind == NO_VERSION:
        fix = "Ask for a version the index publishes (the newest are shown), then run it again."
    elif why.kind == NO_WHEEL:
        fix = (
            "Use a Python this variant publishes it for (`poetry env use 3.X`), or run `poetry"
            " torch install --cuda auto` to take a variant that has every package."
        )
    else:
        fix = (
            "Run `poetry torch install --cuda auto` to take a variant that has every package,"
            f" or drop {name} from [tool.poetry-torch] packages."
        )
    raise IndexAccessError(
        f"{variant.index_name}: {why}",
        kept="nothing was downloaded, and pyproject.toml, poetry-torch.lock and the installed build"
        " were left untouched",
        next=fix,
    )


def live_index_for(
    pyproject: Path,
    requirements: Iterable[str],
    index_base: str | None,
    channel: str | None,
    env: TargetEnv | None,
) -> LiveIndex:
    """The live index ``--cuda auto`` reads: the configured index base (on ``channel`` when
    given, else on the channel of the source in the file), for the configured packages with
    the command line's pins."""
    settings = read_project(pyproject).settings or TorchConfig()
    # the base a new variant's source gets (``plan_install``): a mirror, a channel, or PyTorch's
    base = channel_base(index_base_for(settings, index_base), channel or "stable")
    requested = parse_requirements(list(requirements), where="command line", require_torch=False)
    wanted = packages_for(settings.written, requested) if requested else settings.must_publish
    return LiveIndex(pages_for(settings, index_base), base, wanted, wheel_target(env))


def asked_variant(
    pyproject: Path, options: InstallOptions, find_env: EnvFinder, say: Callable[[str], None]
) -> tuple[Variant | None, LiveIndex | None, MachineVerdict | None]:
    """The variant asked for (None: the configured one), for ``auto`` the live index it was
    chosen against, and the machine verdict (``judge_build``) of a variant the command named."""
    cuda, rocm, cpu, xpu = options.cuda, options.rocm, options.cpu, options.xpu
    if sum(bool(value) for value in (cuda, rocm, cpu, xpu)) > 1:
        raise VariantError(
            "--cuda, --rocm, --xpu and --cpu exclude each other",
            kept="nothing was changed",
            next="Run `poetry torch install` with only one of them.",
        )
    rocm_auto = rocm is not None and rocm.strip().lower() == "auto"
    if (cuda is not None and cuda.strip().lower() == "auto") or rocm_auto:
        machine = detect_machine()
        live = live_index_for(
            pyproject,
            options.requirements,
            options.index_base,
            options.channel and options.channel.strip().lower(),
            existing_env(find_env),
        )
        if rocm_auto:
            # --rocm auto: the ROCm build for the AMD GPUs, whatever else the machine has
            machine = replace(machine, nvidia=None, intel_gpus=(), mps=False)
        choice = judge_build(
            machine,
            options.requirements,
            configured_packages(pyproject),
            installed_torch(find_env),
            live=live,
            locked=locked_here(pyproject, existing_env(find_env)),
        )
        if rocm_auto and choice.variant.kind != "rocm":
            why = (
                choice.reason
                if machine.amd_gpus or machine.rocm is not None
                else "no AMD GPU or ROCm runtime found"
            )
            raise VariantError(
                f"--rocm auto found no ROCm build for this machine ({why})",
                kept="nothing was changed",
                next="Run `poetry torch check` to see what it has, or"
                " `poetry torch install --cuda auto`.",
            )
        flag = f"--{'rocm' if rocm_auto else 'cuda'} auto"
        say(f"{flag}: <c2>{choice.variant}</c2> ({choice.reason})")
        for line in choice.dropped:
            say(f"<comment>{flag}: dropped {line}</comment>")
        if choice.note is not None:
            say(f"<comment>{flag}: {choice.note}</comment>")
        return choice.variant, live, choice
    if cuda is not None:
        variant = parse_cuda(cuda, published_variants)
        asked = f"--cuda {cuda.strip()}"
        return variant, None, refuse_unrunnable(pyproject, options, find_env, say, variant, asked)
    if rocm is not None:
        variant = parse_rocm(rocm, published_variants)
        asked = f"--rocm {rocm.strip()}"
        return variant, None, refuse_unrunnable(pyproject, options, find_env, say, variant, asked)
    if xpu:
        return XPU, None, refuse_unrunnable(pyproject, options, find_env, say, XPU, "--xpu")
    return (CPU if cpu else None), None, None


def refuse_unrunnable(
    pyproject: Path,
    options: InstallOptions,
    find_env: EnvFinder,
    say: Callable[[str], None],
    variant: Variant,
    asked: str,
) -> MachineVerdict:
    """An explicit build this machine cannot run stops here, before any download
    (``--force`` turns the refusal into a warning): judged for the exact torch release
    (``judge_build``; a refusal that no release changes, such as too old a driver, comes
    before the index is read); see ``core/fit.py``."""
    env = existing_env(find_env)
    verdict = judge_build(
        detect_machine(),
        options.requirements,
        configured_packages(pyproject),
        installed_torch(find_env),
        variant=variant,
        live=live_index_for(
            pyproject,
            options.requirements,
            options.index_base,
            options.channel and options.channel.strip().lower(),
            env,
        ),
        locked=locked_here(pyproject, env),
        option=asked,
    )
    fit = verdict.fit
    assert fit is not None  # (an explicit variant's verdict carries its fit)
    if verdict.note is not None:
        say(f"<comment>{asked}: {verdict.note}</comment>")
    # a dry run installs nothing: its lines say what would happen
    doing = f"would install {variant}" if options.dry_run else f"installing {variant}"
    for note in fit.notes:
        say(f"<comment>{note.replace(f'installing {variant} anyway', f'{doing} anyway')}</comment>")
    if fit.refusal is None:
        return verdict
    if not options.force or not fit.forcible:
        raise VariantError(fit.refusal)
    say(f"<comment>--force: {fit.problem}; {doing} anyway.</comment>")
    return verdict


def existing_env(find_env: EnvFinder) -> TargetEnv | None:
    try:
        return find_env(create=False)
    except Exception:
        return None


def installed_torch(find_env: EnvFinder) -> str | None:
    return _torch_in(existing_env(find_env))


def published_variants() -> list[Variant]:
    """Every variant the facts list for some torch release: what a mistyped ``--cuda`` or
    ``--rocm`` value is answered with (offline, so a typo costs no index read)."""
    names = {build.name for release in load_facts().releases for build in release.builds}
    return [variant for variant in map(from_index_name, sorted(names)) if variant is not None]


# --- the machine verdict ---------------------------------------------------------------------
# Which build this machine gets, and whether it runs it, for the exact torch release that will
# be installed: poetry-torch.lock's when it is fresh, else the newest the index publishes that
# the project admits, else (the index unreadable) the facts' guess.


def locked_here(pyproject: Path, target: TargetEnv | None) -> dict[str, str]:
    """``{variant: torch release}`` a fresh poetry-torch.lock pins for this machine; empty when
    there is none (or it is stale, unreadable, or the project names no plugin source)."""
    settings = read_project(pyproject).settings
    try:
        source = settings.source() if settings is not None else None
    except ConfigError:
        return {}  # several plugin sources: the install being planned keeps exactly one
    if settings is None or source is None or source.variant is None:
        return {}
    if not (pyproject.parent / LOCK_NAME).is_file():
        return {}
    return locked_releases(lock_state(pyproject, source, settings), target)


def judge_build(
    machine: Machine,
    requested: Sequence[str],
    configured: Sequence[str],
    installed: str | None,
    *,
    variant: Variant | None = None,
    live: LiveIndex | None = None,
    locked: Mapping[str, str] | None = None,
    option: str | None = None,
) -> MachineVerdict:
    """The one decision of "which build, and does this machine run it": ``variant`` None is
    ``auto`` (the newest (release, variant) pair that the source publishes, the project
    admits and the machine runs, a GPU build before CPU); an explicit ``variant`` is judged
    for its exact release (``fit``).  The release comes from ``locked`` (a fresh
    poetry-torch.lock's pins; not when the command line names packages), else ``live`` (the
    index pages, no wheel downloaded), else the facts (pins, the installed torch, or the
    newest in the table) when the index cannot be read, and the verdict says so."""
    facts = load_facts()
    locked = {} if requested else dict(locked or {})
    # offline, the installed torch keeps its release, else the newest the project admits
    torch = wanted_packages([*configured, *requested]).get("torch")
    installed = installed or _admitted(facts, torch)
    if variant is None:
        return _judge_auto(facts, machine, requested, configured, installed, live, locked)
    companions = sorted(requirement_names([*requested, *configured]) & set(COMPANIONS))
    guess = target_torch_version(requested, configured, installed)

    def judged(version: str | None, by: str) -> MachineVerdict:
        asked = option
        if by != FACTS and version is not None:
            asked = f"{option or variant} (torch {version} {_WHERE[by]})"
        fit = judge_variant(facts, machine, variant, version, companions, option=asked)
        if fit.refusal is not None and by != FACTS:
            # the build to run instead, by the same rule (the lock, then the index)
            pick = _judge_auto(facts, machine, requested, configured, installed, live, locked)
            if pick.by != FACTS:
                fit = judge_variant(
                    facts, machine, variant, version, companions, option=asked, pick=pick.variant
                )
        return MachineVerdict(variant, version, by, fit=fit)

    if variant.index_name in locked:
        return judged(locked[variant.index_name], LOCKED)
    first = judged(guess, FACTS)
    if live is None or not _release_matters(machine, variant, first.fit):
        return first
    release = live.release(variant)
    if release is None:  # unreadable (the note says so), or no torch there: the install says
        return MachineVerdict(variant, guess, FACTS, note=live.note, fit=first.fit)
    return judged(release, INDEX)


def plan_for(
    settings: TorchConfig,
    variant: Variant | None,
    source: Source,
    replay: TorchLock | None,
    target: TargetEnv | None,
    *,
    failure: Callable[[str, TargetEnv], InstallError] | None = None,
    machine: Machine | None = None,
    live: LiveIndex | None = None,
    verdict: MachineVerdict | None = None,
    **how: Any,
) -> Plan:
    """The one way a run's ``Plan`` is built: ``poetry torch install`` (and the dry run that
    prints it), the hook's repair, the wheelhouse replay and ``check`` (which judges the
    environment against it) all call this, so they cannot disagree about the build and whether
    this machine runs it.

    ``variant`` from ``source`` (with ``settings``' packages); ``replay``: this machine's part
    of poetry-torch.lock (``service.plan.machine_part``), None to resolve or pin; ``target``:
    the environment, whose torch is the offline guess of the release.  The machine verdict is
    ``judge_build``'s for the release ``replay`` pins, else the index's (``live``), else the
    facts'; ``verdict``: one the command already judged for this build (``--cuda 12.9``).
    ``how``: the rest of the plan (what it writes, what it says when verification fails)."""
    if verdict is None and variant is not None:
        verdict = judge_build(
            machine or detect_machine(),
            (),
            settings.must_publish if settings.has_tool_table else (),
            _torch_in(target),
            variant=variant,
            live=live,
            locked=locked_torch(variant.index_name, replay),
        )
    return Plan(
        settings,
        variant,
        source,
        replay=replay,
        failure=failure or _unverified,
        verdict=verdict,
        **how,
    )


def _torch_in(target: TargetEnv | None) -> str | None:
    """The torch release installed in ``target`` (None: none, or no environment)."""
    dist = installed_distributions(target.site_packages).get("torch") if target else None
    return dist.version if dist is not None else None


def _unverified(problem: str, target: TargetEnv) -> InstallError:
    """The failure of a plan that is only judged (``check``), never applied."""
    return InstallError(f"{problem} in {target.root}")


_WHERE = {LOCKED: f"in {LOCK_NAME}", INDEX: "on the index"}
_ARCH_CODES = ("arch-not-in-build", "gfx-not-in-build")


def _release_matters(machine: Machine, variant: Variant, fit: Fit | None) -> bool:
    """Whether the exact release can change the verdict: a GPU whose architecture the build's
    list must cover, and no refusal that holds for every release (the driver, the OS)."""
    lasting = fit is not None and (
        not fit.forcible
        or any(finding.checked and finding.code not in _ARCH_CODES for finding in fit.findings)
    )
    if fit is not None and fit.refusal is not None and lasting:
        return False
    if variant.kind == "cuda":
        nvidia = machine.nvidia
        return nvidia is not None and bool(nvidia.gpus) and machine.jetpack_only is None
    return variant.kind == "rocm" and bool(machine.amd_gpus)


def _judge_auto(
    facts: Facts,
    machine: Machine,
    requested: Sequence[str],
    configured: Sequence[str],
    installed: str | None,
    live: LiveIndex | None,
    locked: Mapping[str, str],
) -> MachineVerdict:
    if locked:
        exact = Exact(locked, _WHERE[LOCKED])
        # the lock holds every configured package of each build it pins: nothing to ask
        choice = choose(
            facts, machine, requested, configured, installed, published=_held, exact=exact
        )
        if choice.variant.kind != "cpu" or not machine.has_gpu:
            return MachineVerdict(choice.variant, choice.torch_version, LOCKED, choice.reason)
        # no build the lock holds runs on this machine's GPU: what the index publishes
    probed = _probed(facts, machine, live.wanted.get("torch")) if live is not None else []
    if live is not None and probed:  # (no GPU to use: cpu, whatever the index publishes)
        releases: dict[str, str] = {}
        unpublished: list[str] = []
        for candidate in probed:
            found = live.release(candidate)
            if live.note is not None:
                break
            if found is not None:
                releases[candidate.index_name] = found
            else:
                why = live(candidate) or f"torch has no wheel for {live.target.short}"
                unpublished.append(f"{candidate.index_name}: {why}")
        if live.note is None and not releases:
            spec = live.wanted.get("torch") or ""
            why = f"the index publishes no torch{spec} for this machine's GPU builds"
            return MachineVerdict(CPU, None, INDEX, why, tuple(unpublished))
        if live.note is None:
            exact = Exact(releases, _WHERE[INDEX])
            choice = choose(
                facts, machine, requested, configured, installed, published=live, exact=exact
            )
            dropped = (*unpublished, *choice.dropped)
            return MachineVerdict(
                choice.variant, choice.torch_version, INDEX, choice.reason, dropped
            )
    choice = choose(facts, machine, requested, configured, installed, published=live)
    note = live.note if live is not None else None
    return MachineVerdict(
        choice.variant, choice.torch_version, FACTS, choice.reason, choice.dropped, note
    )


def _held(_: Variant) -> str:
    """A locked build's packages are all published (the lock holds their files)."""
    return ""


def _admitted_releases(facts: Facts, specifier: SpecifierSet | None) -> list[Release]:
    """The facts' releases (``2.8``) of which the project admits some version."""
    return [
        release
        for release in facts.releases
        if not specifier
        or any(
            specifier.contains(f"{release.torch}.{patch}", prereleases=True)
            for patch in ("0", "0a0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
        )
    ]


def _admitted(facts: Facts, specifier: SpecifierSet | None) -> str | None:
    """The newest release in the facts the project admits (None: no constraint, or none)."""
    found = _admitted_releases(facts, specifier) if specifier else []
    return found[-1].torch if found else None


def _probed(facts: Facts, machine: Machine, specifier: SpecifierSet | None) -> list[Variant]:
    """The builds whose index pages ``auto`` reads: those the facts list for the newest three
    releases the project admits (the newest release when the project admits only newer ones),
    of the GPU kinds this machine could run; none when it has no GPU to use."""
    admitted = _admitted_releases(facts, specifier)
    if not admitted:
        admitted = [facts.releases[-1]]
    kinds: set[str] = set()
    nvidia = machine.nvidia
    if nvidia is not None and nvidia.gpus and machine.jetpack_only is None:
        kinds.add("cuda")
    if machine.amd_gpus or machine.rocm is not None:
        kinds.add("rocm")
    if any(gpu.xpu for gpu in machine.intel_gpus):
        kinds.add("xpu")
    names = {build.name for release in admitted[-3:] for build in release.builds}
    found = {variant for variant in map(from_index_name, names) if variant is not None}
    kept = (variant for variant in found if variant.kind in kinds)
    return sorted(kept, key=lambda variant: variant.sort_key(), reverse=True)
