"""Where the package's installed files live: config/, launch/ and the shipped weights."""
from functools import lru_cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
WEIGHTS_DIR = PACKAGE_DIR / 'weights'


def weights_file(name: str | Path) -> Path:
    """`name` itself when it is an existing file or has a folder part, else the shipped weights file of that name
    (perception/weights/NAME: e.g. lidar_sparse_fast.pt)."""
    path = Path(name)
    return path if path.exists() or path.parent != Path('.') else WEIGHTS_DIR / path


@lru_cache(maxsize=1)
def share_dir() -> Path:
    """The package's share directory.

    A source checkout (or an editable install of one) uses the repository itself; an installed package (colcon,
    or pip with AMENT_PREFIX_PATH set) uses `share/perception` from the ament index.
    """
    checkout = PACKAGE_DIR.parent
    if (checkout / 'package.xml').is_file() and (checkout / 'config').is_dir():
        return checkout
    try:
        from ament_index_python.packages import get_package_share_directory, PackageNotFoundError
    except ImportError as exc:
        raise FileNotFoundError('perception is not a source checkout and ament_index_python is missing') from exc
    try:
        return Path(get_package_share_directory('perception'))
    except PackageNotFoundError as exc:
        raise FileNotFoundError('package perception not found: set AMENT_PREFIX_PATH to its install prefix') from exc


def config_path(name: str) -> Path:
    """A file in the package's config/ directory."""
    return share_dir() / 'config' / name
