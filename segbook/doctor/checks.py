"""The environment checks behind `segbook doctor`; each returns Check rows and never raises.

Nothing here sends network traffic: reachability is judged from the routing table and the proxy
settings only.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from segbook.core.settings import Settings, environ_snapshot

OK, INFO, WARN, FAIL = "ok", "info", "warn", "fail"
PYTHONS = ((3, 11), (3, 12))  # pyproject: requires-python >=3.11,<3.13
# torch 2.14.1 wheels from PyPI are CUDA 13.0 builds: NVIDIA's driver branch 580 or newer
MIN_DRIVER_MAJOR = 580
CACHE_VARS = ("HOME", "XDG_CACHE_HOME", "MPLCONFIGDIR", "TORCH_HOME")
PROXY_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | info | warn | fail
    detail: str
    hint: str = ""


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def check_python() -> list[Check]:
    found = sys.version_info[:2]
    text = f"{platform.python_version()} ({sys.executable})"
    if found in PYTHONS:
        return [Check("python", OK, text)]
    return [Check("python", FAIL, text, "the kit supports CPython 3.11 and 3.12")]


def check_kit(settings: Settings) -> list[Check]:
    from segbook.core.provenance import kit_info  # noqa: PLC0415

    info = kit_info(settings)
    return [Check("segbook", OK, f"{info['version']} (revision {info['revision'] or 'unknown'})")]


def check_libraries() -> list[Check]:
    from segbook.nnunet.compat import REQUIRED_NNUNET  # noqa: PLC0415 - no nnunetv2 import

    rows = []
    nnunet = _version("nnunetv2")
    if nnunet == REQUIRED_NNUNET:
        rows.append(Check("nnunetv2", OK, nnunet))
    else:
        rows.append(Check("nnunetv2", FAIL, nnunet or "not installed",
                          f"the kit needs nnunetv2=={REQUIRED_NNUNET} (make install, or the image)"))
    sitk = _version("SimpleITK")
    rows.append(Check("SimpleITK", OK, sitk) if sitk else
                Check("SimpleITK", FAIL, "not installed", "pip install -r containers/requirements.lock"))
    try:
        import torch  # noqa: PLC0415

        rows.append(Check("torch", OK, f"{torch.__version__} (CUDA build {torch.version.cuda or 'none'}, "
                                       f"{torch.get_num_threads()} threads)"))
    except Exception as exc:  # a broken install must be reported, not crash the doctor
        return [*rows, Check("torch", FAIL, f"import failed: {exc}", "reinstall from the lock")]
    try:
        import torchvision  # noqa: PLC0415 - a mismatched build breaks nnU-Net's trainer discovery

        rows.append(Check("torchvision", OK, torchvision.__version__))
    except Exception as exc:
        rows.append(Check("torchvision", FAIL, f"import failed: {str(exc)[:120]}",
                          "install the torchvision built for this torch (see containers/requirements.lock)"))
    return rows


def _driver_version() -> str | None:
    proc = Path("/proc/driver/nvidia/version")
    if proc.is_file():
        for word in proc.read_text(errors="replace").split():
            if word[:1].isdigit() and "." in word:
                return word
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20, check=False)
            return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
        except (OSError, subprocess.SubprocessError):
            return None
    return None


def check_gpu(require_gpu: bool) -> list[Check]:
    driver = _driver_version()
    try:
        import torch  # noqa: PLC0415

        available = torch.cuda.is_available()
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if available else []
    except Exception:  # torch already reported as broken
        available, names = False, []
    if available:
        return [Check("gpu", OK, f"{', '.join(names)}; driver {driver or 'unknown'}")]
    status = FAIL if require_gpu else INFO
    if driver:
        major = int(driver.split(".")[0]) if driver.split(".")[0].isdigit() else 0
        hint = (f"this torch is a CUDA 13 build: it needs NVIDIA driver >= {MIN_DRIVER_MAJOR} (found {driver}); "
                "see docs/containers.md for older drivers" if major < MIN_DRIVER_MAJOR else
                "the driver is there but CUDA is not usable: in a container, pass --gpus all / --nv")
        return [Check("gpu", FAIL if require_gpu else WARN, f"driver {driver}, but torch sees no GPU", hint)]
    return [Check("gpu", status, "none (CPU only)",
                  "a GPU was required: check the driver, and --gpus all / --nv" if require_gpu else "")]


def _probe_writable(path: Path) -> tuple[bool, str]:
    """Writable now, or creatable later by this user (the nearest existing parent is writable)."""
    target = path
    while not target.exists():
        if target.parent == target:
            return False, "no existing parent"
        target = target.parent
    if not target.is_dir():
        return False, f"{target} is not a folder"
    try:
        with tempfile.NamedTemporaryFile(dir=target, prefix=".segbook-doctor-"):
            pass
    except OSError as exc:
        return False, exc.strerror or str(exc)
    return True, "writable" if target == path else f"will be created (in {target})"


def check_paths(settings: Settings, out_root: Path) -> list[Check]:
    rows = []
    ok, why = _probe_writable(out_root)
    rows.append(Check("output", OK if ok else FAIL, f"{out_root}: {why}",
                      "" if ok else "pass --out to a writable folder (in a container: mount one at /output)"))
    tmp = Path(tempfile.gettempdir())
    ok, why = _probe_writable(tmp)
    rows.append(Check("tmp", OK if ok else FAIL, f"{tmp}: {why}",
                      "" if ok else "give the process a writable /tmp (--tmpfs /tmp) or set TMPDIR"))
    env = environ_snapshot(prefixes=CACHE_VARS)
    caches = []
    for var in CACHE_VARS:
        value = env.get(var)
        if value:
            writable, _ = _probe_writable(Path(value))
            caches.append(f"{var}={value}{'' if writable else ' (read-only)'}")
    if caches:  # the kit points nnU-Net's caches under the output root, so a read-only HOME is fine
        rows.append(Check("caches", INFO, "; ".join(caches)))
    return rows


def _default_route() -> bool:
    for table, width in (("/proc/net/route", 8), ("/proc/net/ipv6_route", 32)):
        try:
            lines = Path(table).read_text().splitlines()
        except OSError:
            continue
        for line in lines[1:] if table.endswith("/route") else lines:
            fields = line.split()
            if not fields:
                continue
            destination = fields[1] if table.endswith("/route") else fields[0]
            prefix = fields[7] if table.endswith("/route") else fields[1]
            iface = fields[0] if table.endswith("/route") else fields[-1]
            if destination == "0" * width and iface != "lo" and prefix in ("00000000", "00"):
                return True
    return False


def check_network() -> list[Check]:
    route = _default_route()
    proxies = sorted({var.lower() for var in environ_snapshot(prefixes=PROXY_VARS) if var in PROXY_VARS})
    detail = (f"default route: {'yes' if route else 'no'}; proxy: {', '.join(proxies) if proxies else 'none'}"
              " (not needed to run; only `segbook weights fetch` downloads)")
    return [Check("network", INFO, detail)]


def check_weights(settings: Settings, weights_dir: Path | None, registry_path: Path | None,
                  hash_files: bool) -> list[Check]:
    from segbook.core.errors import SegbookError  # noqa: PLC0415
    from segbook.weights.checks import MISMATCH, UNPINNED, check_file  # noqa: PLC0415
    from segbook.weights.registry import load_registry  # noqa: PLC0415

    try:
        registry = load_registry(registry_path, settings.manifests_dir)
    except SegbookError as exc:
        return [Check("weights", FAIL, f"registry: {exc.message}", exc.hint)]
    pinned = sum(e.pinned for e in registry.entries)
    rows = [Check("registry", OK, f"{registry.path} ({len(registry.entries)} checkpoints, {pinned} pinned)")]
    if weights_dir is None:
        return [*rows, Check("weights", INFO, "no weights folder set (SEGBOOK_WEIGHTS_DIR)",
                             "needed only for --init pretrained: segbook weights fetch B --dest DIR")]
    present = [e for e in registry.entries if (weights_dir / e.file).is_file()]
    if not present:
        return [*rows, Check("weights", INFO, f"{weights_dir}: no registered checkpoints",
                             "needed only for --init pretrained: segbook weights fetch B --dest DIR")]
    for entry in present:
        name = f"weights {entry.scale}"
        if not hash_files:
            rows.append(Check(name, INFO, f"{entry.file} present (not hashed: --no-hash)"))
            continue
        try:
            check = check_file(entry, weights_dir / entry.file, tensors=False)
        except SegbookError as exc:
            rows.append(Check(name, FAIL, exc.message, exc.hint))
            continue
        if check.status == MISMATCH:
            rows.append(Check(name, FAIL, f"{entry.file}: {check.problem}",
                              f"segbook weights fetch {entry.scale} --force"))
        elif check.status == UNPINNED:
            rows.append(Check(name, WARN, f"{entry.file}: not pinned{'; ' + check.problem if check.problem else ''}",
                              f"check its origin, then `segbook weights pin {weights_dir / entry.file}`"))
        else:
            rows.append(Check(name, OK, f"{entry.file}: size and sha256 match the pin"))
    return rows


def check_manifests(manifests_dir: Path | None) -> list[Check]:
    from segbook.core.errors import SegbookError  # noqa: PLC0415

    try:
        from segbook.catalog import load_catalog  # noqa: PLC0415

        catalog = load_catalog(manifests_dir)
    except SegbookError as exc:
        return [Check("manifests", FAIL, exc.message, exc.hint)]
    root = getattr(catalog, "root", None)
    return [Check("manifests", OK, f"{len(catalog)} datasets{f' in {root}' if root else ''}")]


def check_container(settings: Settings) -> list[Check]:
    if settings.runtime == "native":
        return [Check("container", INFO, "no (native)")]
    image = settings.image or "unknown image"
    digest = f" {settings.image_digest[:19]}" if settings.image_digest else ""
    return [Check("container", INFO, f"{settings.runtime}: {image}{digest}; uid {os.getuid()}")]
