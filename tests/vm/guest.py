"""A small QEMU guest with real md/raid1 and real mdadm (the host kernel has no md driver).

The initramfs holds busybox (static), mdadm with the libraries `ldd` names, and the kernel
modules of the Debian kernel package (virtio, md-mod, raid1 and what modules.dep says they
need). The guest runs one shell script, prints its sections to the serial console between
markers, and powers off; `sections` splits that output by name.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

BUSYBOX = Path("/bin/busybox")
MDADM = Path("/sbin/mdadm")
WIPEFS = Path("/sbin/wipefs")
MODULES_ROOT = Path("/lib/modules")
WANTED = ("virtio_pci", "virtio_blk", "md-mod", "raid1")
BEGIN = "=====BEGIN "
END = "=====END "
SECTION_RE = re.compile(r"^=====BEGIN (\S+)=====\r?$(.*?)^=====END \1=====\r?$", re.M | re.S)


def kernel() -> tuple[Path, Path] | None:
    """(vmlinuz, modules dir) of an installed Debian kernel package, or None."""
    for vmlinuz in sorted(Path("/boot").glob("vmlinuz-*")):
        release = vmlinuz.name.removeprefix("vmlinuz-")
        modules = MODULES_ROOT / release
        if (modules / "modules.dep").is_file() and os.access(vmlinuz, os.R_OK):
            return vmlinuz, modules
    return None


def missing() -> str | None:
    """Why the guest cannot run here, or None."""
    if shutil.which("qemu-system-x86_64") is None:
        return "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
    if not BUSYBOX.is_file():
        return f"{BUSYBOX} missing (apt-get install busybox-static)"
    if not MDADM.is_file():
        return f"{MDADM} missing (apt-get install mdadm)"
    if not WIPEFS.is_file():
        return f"{WIPEFS} missing (apt-get install util-linux)"
    if kernel() is None:
        return "no readable /boot/vmlinuz-* with /lib/modules (apt-get install linux-image-amd64)"
    if shutil.which("cpio") is None:
        return "cpio missing"
    return None


def module_order(modules: Path) -> list[str]:
    """The .ko files (relative to `modules`) to load, dependencies first."""
    deps: dict[str, list[str]] = {}
    for line in (modules / "modules.dep").read_text().splitlines():
        target, _, rest = line.partition(":")
        deps[target] = rest.split()

    def stem(path: str) -> str:
        return Path(path).name.split(".ko")[0].replace("_", "-")

    by_name = {stem(path): path for path in deps}
    order: list[str] = []

    def visit(path: str) -> None:
        for dep in reversed(deps.get(path, [])):
            visit(dep)
        if path not in order:
            order.append(path)

    for name in WANTED:
        visit(by_name[name.replace("_", "-")])
    return order


def libraries(binary: Path) -> list[Path]:
    done = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
    out = done.stdout if done.returncode == 0 else ""  # "not a dynamic executable"
    found = []
    for line in out.splitlines():
        match = re.search(r"(/\S+) \(0x", line)
        if match:
            found.append(Path(match.group(1)))
    return found


PROBE = """
import sys
import atlas_ha.cli.main as main
import atlas_ha.cli.raid_cmds, atlas_ha.raid.rotate, encodings.ascii, encodings.latin_1
import atlas_ha.settings, pathlib, json
main.build_parser(["raid", "status"])
atlas_ha.settings.from_dict(
    {"esd_data": "/tmp", "sid_data": "/tmp", "raid": {"rotating": {"md0": [2]}}},
    pathlib.Path("/tmp/x.toml"),
)
json.dumps({"a": 1}, indent=2, sort_keys=True, default=str)
for module in list(sys.modules.values()):
    path = getattr(module, "__file__", None)
    if path and path.startswith(sys.base_prefix):
        print(path)
"""


def add_python(root: Path, src: Path) -> str:
    """This interpreter (its binary, libpython, the stdlib modules atlas-ha's raid commands
    import, lib-dynload) and atlas-ha's source into `root`; the guest's command line."""
    base = Path(sys.base_prefix)
    binary = Path(os.path.realpath(sys.executable))
    if not binary.is_relative_to(base):
        binary = base / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    copy_with_libraries(root, binary)
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, env=env
    ).stdout
    stdlib = base / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    for line in out.splitlines():
        path = Path(line)
        dest = root / path.relative_to("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
        # packages: their __init__ is enough for the imported submodules copied beside it
    for so in (stdlib / "lib-dynload").glob("*.so"):
        copy_with_libraries(root, so)
    for name in ("os.py", "site.py"):
        shutil.copy2(stdlib / name, root / stdlib.relative_to("/") / name)
    shutil.copytree(
        src / "atlas_ha",
        root / "atlas" / "src" / "atlas_ha",
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    # the entry points (transports, verifier kinds) are read from the distribution's metadata
    dist = Path(str(importlib.metadata.distribution("atlas-ha")._path))  # type: ignore[attr-defined]
    shutil.copytree(dist, root / "atlas" / "src" / dist.name, dirs_exist_ok=True)
    # compiled here once: compiling the sources in the emulated guest takes most of its time
    subprocess.run(
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            "-j",
            "2",
            str(root / "atlas"),
            str(root / stdlib.relative_to("/")),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return f"{binary} -S"


def copy_with_libraries(root: Path, binary: Path) -> None:
    dest = root / binary.relative_to("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, dest)
    for lib in libraries(binary):
        target = root / lib.relative_to("/")
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(lib, target)


def build_initramfs(work: Path, script: str, src: Path | None = None) -> Path:
    vmlinuz_modules = kernel()
    assert vmlinuz_modules is not None
    _, modules = vmlinuz_modules
    root = work / "root"
    for sub in ("bin", "sbin", "proc", "sys", "dev", "tmp", "lib/modules", "run"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    for applet in ("sh", "mount", "insmod", "cat", "echo", "sleep", "dd", "poweroff", "ls"):
        (root / "bin" / applet).symlink_to("busybox")
    copy_with_libraries(root, MDADM)
    copy_with_libraries(root, WIPEFS)  # rotate-in lists a disk's signatures first
    python = add_python(root, src) if src is not None else "false"
    loads = []
    for n, rel in enumerate(module_order(modules)):
        src = modules / rel
        name = f"{n:02d}-{Path(rel).name}"
        data = src.read_bytes()
        if rel.endswith(".xz"):
            import lzma

            data, name = lzma.decompress(data), name.removesuffix(".xz")
        elif rel.endswith(".zst"):
            raise RuntimeError(f"{rel}: zstd-compressed modules are not handled")
        (root / "lib" / "modules" / name).write_bytes(data)
        loads.append(f"insmod /lib/modules/{name}")
    init = "\n".join(
        [
            "#!/bin/sh",
            "export PATH=/bin:/sbin",
            "mount -t proc proc /proc",
            "mount -t sysfs sys /sys",
            "mount -t devtmpfs dev /dev",
            *loads,
            "sleep 1",
            f"export PYTHON='{python}' PYTHONPATH=/atlas/src",
            "echo '=====GUEST READY====='",
            script,
            "echo '=====GUEST DONE====='",
            "poweroff -f",
        ]
    )
    (root / "init").write_text(init + "\n")
    (root / "init").chmod(0o755)
    image = work / "initramfs.cpio"
    files = subprocess.run(
        ["find", "."], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    with image.open("wb") as out:
        subprocess.run(
            ["cpio", "-o", "-H", "newc", "--quiet"],
            cwd=root,
            input=files.encode(),
            stdout=out,
            check=True,
        )
    return image


def run(
    work: Path,
    script: str,
    disks: int,
    disk_mib: int = 8,
    timeout: float = 240,
    src: Path | None = None,
) -> str:
    """Boot the guest with `disks` blank raw virtio disks, run `script`, return the console."""
    vmlinuz_modules = kernel()
    assert vmlinuz_modules is not None
    vmlinuz, _ = vmlinuz_modules
    work.mkdir(parents=True, exist_ok=True)
    image = build_initramfs(work, script, src)
    argv = [
        "qemu-system-x86_64",
        "-m",
        "768",
        "-nographic",
        "-no-reboot",
        "-monitor",
        "none",
        "-serial",
        "stdio",
        "-kernel",
        str(vmlinuz),
        "-initrd",
        str(image),
        "-append",
        os.environ.get("RAID_VM_APPEND", "console=ttyS0 rdinit=/init panic=-1 loglevel=3"),
    ]
    if os.environ.get("RAID_VM_ACCEL", "tcg") == "kvm" and os.access("/dev/kvm", os.R_OK | os.W_OK):
        argv += ["-enable-kvm", "-cpu", "host"]
    for n in range(disks):
        disk = work / f"disk{n}.img"
        with disk.open("wb") as f:
            f.truncate(disk_mib * 1024 * 1024)
        argv += ["-drive", f"file={disk},if=virtio,format=raw"]
    log = work / "console.log"
    with log.open("wb") as out:
        subprocess.run(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, timeout=timeout
        )
    return log.read_bytes().decode("utf-8", "replace")


KMSG_RE = re.compile(r"^\[ *\d+\.\d+\] .*\n", re.M)


def sections(console: str) -> dict[str, tuple[str, int]]:
    """name -> (text, exit code) of each marked section (its last line is `rc=N`); the
    serial line's CRs and kernel messages removed."""
    text = KMSG_RE.sub("", console.replace("\r\n", "\n"))
    found = {}
    for m in SECTION_RE.finditer(text):
        body = m.group(2).lstrip("\n")
        lines = body.rstrip("\n").split("\n")
        rc = int(lines[-1].removeprefix("rc=")) if lines and lines[-1].startswith("rc=") else -1
        found[m.group(1)] = ("\n".join(lines[:-1]) + "\n" if len(lines) > 1 else "", rc)
    return found
