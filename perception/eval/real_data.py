"""Where the real sample data lives: ``../shared/data`` beside a source checkout (never inside the repository)."""
from perception.paths import PACKAGE_DIR

DEFAULT_DATA_ROOT = PACKAGE_DIR.parent.parent / 'shared' / 'data'
