"""Builds the agent extension for pip users. `make` does the same without setuptools
(3.12+ ship none), compiling with the interpreter's sysconfig values."""
import glob
import sysconfig

from setuptools import Extension, setup

include = sysconfig.get_paths()["include"]
# common/ less its readers, which the agent never uses (fw_gunzip needs libdeflate): as mk/agent.mk.
COMMON_AGENT_SKIP = {"common/fw_gunzip.c", "common/fw_pprof_decode.c", "common/fw_pprof_samples.c"}
setup(
    ext_modules=[
        Extension(
            "flamewatch._agent",
            sources=sorted(glob.glob("agent/*.c") + glob.glob("agent/pyversion/*.c") +
                           [f for f in glob.glob("common/*.c") if f not in COMMON_AGENT_SKIP]),
            include_dirs=["agent", "common", include],
            define_macros=[("_GNU_SOURCE", "1")],
            extra_compile_args=["-std=c11", "-fvisibility=hidden"],
            libraries=["z"],  # libcurl is loaded at run time (common/fw_curl.c)
        )
    ]
)
