"""Writes inside one snapshot area on behalf of a partner, never through a symlink.

Used by a delta receive (sync.delta): the names come from a partner's Manifest. Every
operation starts from a descriptor of the area's directory and opens each component with
O_NOFOLLOW | O_DIRECTORY, so a symlink anywhere on the way (planted by anyone, at any
moment) makes the write fail instead of leaving the area: nothing is ever resolved by path.
Files are written to a temporary name in their directory and renamed over the old object;
without an fsync of their own while the area is flagged invalid by this process (receive-begin
flagged it InvalidSend): receive-commit clears the flag only after one syncfs
(layout.durable), so a crash before it leaves an invalid area that the next cycle resends.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator

from atlas_ha.errors import ReceiveError
from atlas_ha.layout import durable, tempnames

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
IS_ROOT = os.geteuid() == 0
NEW_DIR_MODE = 0o700  # directories above listed objects: private, like the rest of SID_DATA


class AreaWriter:
    def __init__(self, area_path: str, where: str) -> None:
        self.where = where
        self.deferred = durable.deferred(f"{area_path.rstrip('/')}/Manifest")
        try:
            self.root = os.open(area_path, DIR_FLAGS)
        except OSError as exc:
            raise ReceiveError(f"{where}: cannot open the area {area_path}: {exc}") from exc

    def close(self) -> None:
        os.close(self.root)

    def __enter__(self) -> AreaWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def parent(self, parts: list[str], create: bool) -> Iterator[int]:
        """A descriptor of the directory holding parts[-1] (missing ones made if `create`)."""
        fd = os.dup(self.root)
        try:
            for name in parts[:-1]:
                child = self._open_dir(fd, name, create)
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    def _open_dir(self, fd: int, name: str, create: bool) -> int:
        """A descriptor of the directory `name` in `fd` (never through a symlink)."""
        try:
            return os.open(name, DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                raise
        except OSError as exc:  # ELOOP (a symlink), ENOTDIR (a file)
            raise ReceiveError(f"{self.where}: {name!r} on the way is not a directory") from exc
        os.mkdir(name, NEW_DIR_MODE, dir_fd=fd)
        return self._open_dir(fd, name, create=False)

    def write_file(self, parts: list[str], data: bytes, meta: tuple[int, int, int, int]) -> None:
        """Replace parts (a file, or nothing) by a file with `data`; meta: mode, uid, gid,
        mtime_ns."""
        mode, uid, gid, mtime_ns = meta
        with self.parent(parts, create=True) as pfd:
            name, tmp = parts[-1], tempnames.temp_name(parts[-1])
            self._refuse_dir(pfd, name)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=pfd)
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=pfd
            )
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    self._set_meta(handle.fileno(), mode, uid, gid, mtime_ns)
                    if not self.deferred:  # else: the syncfs before InvalidSend is cleared
                        os.fsync(handle.fileno())
                os.replace(tmp, name, src_dir_fd=pfd, dst_dir_fd=pfd)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=pfd)
                raise

    def set_file_meta(self, parts: list[str], meta: tuple[int, int, int, int]) -> None:
        """Same content, other metadata: set mode, owner and mtime of the file parts."""
        with self.parent(parts, create=False) as pfd:
            try:
                fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=pfd)
            except OSError as exc:
                raise ReceiveError(f"{self.where}: {parts[-1]!r} is not a file") from exc
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise ReceiveError(f"{self.where}: {parts[-1]!r} is not a file")
                if st.st_nlink > 1:  # shared with another area (a conversion's hard link)
                    with os.fdopen(os.dup(fd), "rb") as handle:
                        data = handle.read()
                    self.write_file(parts, data, meta)  # a copy of its own, not in place
                    return
                self._set_meta(fd, *meta)
            finally:
                os.close(fd)

    def symlink(self, parts: list[str], target: str, owner: tuple[int, int]) -> None:
        with self.parent(parts, create=True) as pfd:
            name, tmp = parts[-1], tempnames.temp_name(parts[-1])
            self._refuse_dir(pfd, name)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=pfd)
            os.symlink(target, tmp, dir_fd=pfd)
            if IS_ROOT:
                os.chown(tmp, *owner, dir_fd=pfd, follow_symlinks=False)
            os.replace(tmp, name, src_dir_fd=pfd, dst_dir_fd=pfd)

    def directory(self, parts: list[str], mode: int, owner: tuple[int, int]) -> None:
        """Make parts a directory (kept writable for its owner, as every area copy)."""
        with self.parent(parts, create=True) as pfd:
            with contextlib.suppress(FileExistsError):
                os.mkdir(parts[-1], NEW_DIR_MODE, dir_fd=pfd)
            fd = self._open_dir(pfd, parts[-1], create=False)
            try:
                os.fchmod(fd, mode | 0o700)
                if IS_ROOT:
                    os.fchown(fd, *owner)
            finally:
                os.close(fd)

    def remove(self, parts: list[str]) -> None:
        """Remove the object parts (a directory only when empty); absent is fine."""
        try:
            with self.parent(parts, create=False) as pfd:
                try:
                    st = os.stat(parts[-1], dir_fd=pfd, follow_symlinks=False)
                except FileNotFoundError:
                    return
                if stat.S_ISDIR(st.st_mode):
                    os.rmdir(parts[-1], dir_fd=pfd)
                else:
                    os.unlink(parts[-1], dir_fd=pfd)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ReceiveError(f"{self.where}: cannot remove {'/'.join(parts)}: {exc}") from exc

    def _refuse_dir(self, pfd: int, name: str) -> None:
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            raise ReceiveError(f"{self.where}: {name!r} is a directory here")

    @staticmethod
    def _set_meta(fd: int, mode: int, uid: int, gid: int, mtime_ns: int) -> None:
        if IS_ROOT:
            os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
        os.utime(fd, ns=(mtime_ns, mtime_ns))
