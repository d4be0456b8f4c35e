"""Build the optional C speedups of the market-data path; the rest of the metadata is in pyproject.toml.

`optional=True`: without a C compiler the build goes on and ibkrws runs on its pure-Python path.
IBKRWS_NO_EXTENSIONS=1 skips building it.
"""

import os

from setuptools import Extension, setup

extensions = []
if not os.environ.get("IBKRWS_NO_EXTENSIONS"):
    extensions.append(Extension("ibkrws._speedups", ["src/ibkrws/_speedups.c"], optional=True))

setup(ext_modules=extensions)
