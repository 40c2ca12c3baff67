"""The chart's security context, for the operator as a process of the local stack.

In a cluster the operator's pod runs as uid/gid 65532 with no supplementary groups, no
capabilities, no privilege escalation, a read-only root filesystem and one writable
emptyDir at /tmp (charts/.../deployment.yaml, docs/deploy.md). On the local stack the
operator is a process started by root, so this launcher gives it the same before it
execs the operator:

1. a private mount namespace (`unshare(CLONE_NEWNS)`, every mount made private), so
   nothing below reaches the host's mounts;
2. a fresh tmpfs at /tmp, the emptyDir: the one place the operator can write (a path
   given with `--expose` beneath it, a checkout in /tmp as CI's, is bind-mounted back
   read-only);
3. the home directory of whoever started the stack (root's is 0700, and the venv and
   pyenv's Python live beneath it) masked by a read-only tmpfs that shows only the
   paths given with `--expose`, each bind-mounted read-only: the operator cannot even
   see the stack's private keys or the other components' kubeconfigs;
4. every other filesystem that stores files remounted read-only (kernel interfaces,
   proc, sysfs, cgroup, devpts, are left as they are: they are not storage);
5. `setpriv`: real and effective uid/gid 65532, groups cleared, no_new_privs (the
   chart's `allowPrivilegeEscalation: false`), every capability dropped from the
   inheritable, ambient and bounding sets (`drop: [ALL]`), then exec.

The pid stays the same from this launcher to the operator (unshare needs no fork for a
mount namespace, and every step execs), so the stack's process record finds it.
Runs as a script with the standard library only (`python -I sandbox.py ...`), so the
operator inherits no PYTHONPATH from it. Linux only, and only as root; the host's
mounts are never changed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

UID = 65532  # the image's USER (Dockerfile): the conventional "nonroot"
GID = 65532
TMP = Path("/tmp")
TMP_SIZE = "64m"  # the chart's emptyDir sizeLimit (64Mi)
# Filesystems that are kernel interfaces, not storage: left as they are.
INTERFACES = {"proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "bpf", "securityfs"}
INTERFACES |= {"debugfs", "tracefs", "pstore", "configfs", "fusectl", "hugetlbfs", "autofs"}


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, filesystem type, per-mount options) of this namespace, in order."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields, _, rest = line.partition(" - ")
        parts = fields.split()
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), parts[4])  # \040: space
        found.append((point, rest.split()[0], set(parts[5].split(","))))
    return found


def _cover(point: Path, exposed: list[Path], options: str, name: str) -> None:
    """Mount a tmpfs over `point`, then bind-mount the `exposed` paths beneath it back,
    read-only.

    Each exposed folder is held open (O_PATH) before the tmpfs hides it, and bind-mounted
    back from that descriptor.
    """
    held = [(os.open(path, os.O_PATH | os.O_DIRECTORY), path) for path in exposed]
    _mount("-t", "tmpfs", "-o", options, name, str(point))
    for fd, path in held:
        target = point / path.relative_to(point)
        target.mkdir(parents=True, exist_ok=True)
        # --no-canonicalize: resolved to its name, the source would be the hidden path
        _mount("--no-canonicalize", "--bind", f"/proc/{os.getpid()}/fd/{fd}", str(target))
        _mount("-o", "remount,bind,ro", str(target))
        os.close(fd)


def _mask(home: Path, exposed: list[Path]) -> None:
    """Cover `home` with a read-only tmpfs holding only the `exposed` paths beneath it."""
    _cover(home, exposed, "mode=0711,size=1m", "sandbox-home")
    _mount("-o", "remount,ro", str(home))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="the directory to mask")
    parser.add_argument("--expose", type=Path, action="append", default=[], metavar="PATH")
    parser.add_argument("command", nargs="+")
    args = parser.parse_args(argv)
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        print("sandbox: setpriv (util-linux) is missing", file=sys.stderr)
        return 1
    home = args.home.resolve()
    exposed = [p.resolve() for p in args.expose]
    os.unshare(os.CLONE_NEWNS)
    _mount("--make-rprivate", "/")
    _mask(home, [p for p in exposed if p.is_relative_to(home)])
    for point, fstype, options in _mounts():
        if fstype in INTERFACES or "ro" in options or Path(point).is_relative_to(home):
            continue  # a kernel interface, read-only already, or the mask's own
        _mount("-o", "remount,bind,ro", point)
    # the emptyDir; what is exposed beneath /tmp (a checkout there, as CI's) shows through
    _cover(
        TMP,
        [p for p in exposed if p.is_relative_to(TMP)],
        f"mode=1777,size={TMP_SIZE},nosuid,nodev",
        "emptydir",
    )
    os.chdir(TMP)
    os.execv(
        setpriv,
        [
            setpriv,
            f"--reuid={UID}",
            f"--regid={GID}",
            "--clear-groups",
            "--no-new-privs",
            "--inh-caps=-all",
            "--ambient-caps=-all",
            "--bounding-set=-all",
            "--",
            *args.command,
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
