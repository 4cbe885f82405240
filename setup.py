"""Builds the agent extension for pip users. `make` does the same without setuptools
(3.12+ ship none), compiling with the interpreter's sysconfig values."""
import glob
import sysconfig

from setuptools import Extension, setup

include = sysconfig.get_paths()["include"]
setup(
    ext_modules=[
        Extension(
            "flamewatch._agent",
            sources=sorted(glob.glob("agent/*.c") + glob.glob("agent/pyversion/*.c") +
                           glob.glob("common/*.c")),
            include_dirs=["agent", "common", include],
            define_macros=[("_GNU_SOURCE", "1")],
            extra_compile_args=["-std=c11", "-fvisibility=hidden"],
            libraries=["z"],  # libcurl is loaded at run time (common/fw_curl.c)
        )
    ]
)
