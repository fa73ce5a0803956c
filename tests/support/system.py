"""Real servers and browsers the tests start themselves: find their programs, or say why not.

Outside CI a missing program skips the test with the command that installs it; in CI (CI=true) it
fails, so a skip is never counted as a pass where everything should be installed.
"""

from __future__ import annotations

import glob
import os
import shutil

import pytest

INSTALL = "scripts/install-system-packages (apt-get install {package})"


def require_program(name: str, package: str, *alternatives: str) -> str:
    """The path of `name` (or of the first existing alternative glob), else skip/fail saying how to install it."""
    found = shutil.which(name)
    for pattern in alternatives:
        if found:
            break
        matches = sorted(glob.glob(pattern))
        found = matches[-1] if matches else None
    if found:
        return found
    reason = f"{name} is not installed; run " + INSTALL.format(package=package)
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)
