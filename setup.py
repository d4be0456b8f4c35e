"""Build the optional C speedups (csrc/speedups/, see module.c there); the rest of the metadata is in
pyproject.toml.

`optional=True`: without a C compiler the build goes on and ibkrws runs on its pure-Python path.
IBKRWS_NO_EXTENSIONS=1 skips building it.
"""

import os
from pathlib import Path

from setuptools import Extension, setup

SOURCES = Path("csrc/speedups")
extensions = []
if os.environ.get("IBKRWS_NO_EXTENSIONS", "") in ("", "0"):  # as ibkrws.speedups reads it at run time
    extensions.append(Extension(
        "ibkrws._speedups",
        sources=sorted(str(p) for p in SOURCES.glob("*.c")),
        depends=sorted(str(p) for p in SOURCES.glob("*.h")),
        include_dirs=[str(SOURCES)],
        optional=True,
    ))

setup(ext_modules=extensions)
