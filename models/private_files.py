"""Files and folders only the bot's user may read: the database holds every NIK, the storage
folder identity cards and death certificates, an export full NIKs. Modes are set explicitly
(0700 folders, 0600 files), so a permissive umask changes nothing."""

import os
import stat
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_folder(path: Path) -> Path:
    """Make ``path`` and any missing parent, each one it creates 0700."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        folder.mkdir(mode=FOLDER_MODE, exist_ok=True)
        os.chmod(folder, FOLDER_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 if it does not exist (SQLite then creates its
    ``-wal`` and ``-shm`` files with the database's own mode)."""
    private_folder(path.parent)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return path
    os.close(descriptor)
    os.chmod(path, FILE_MODE)
    return path


def open_to_others(path: Path) -> bool:
    """Whether the group or anyone else may read or write an existing file or folder."""
    try:
        return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    except FileNotFoundError:
        return False
