"""neuro-deploy: spiking networks from event data to a simulated Intel Loihi 2.

Importing the package is cheap (no torch, no Lava); it installs the Python 3.11
compatibility finder for lava-nc (see :mod:`neuro_deploy._compat.lava_py311`) so that
``import lava...`` works afterwards on this interpreter.
"""
from neuro_deploy._compat import lava_py311 as _lava_py311

_lava_py311.install()

__version__ = "0.1.0"
__all__ = ["__version__"]
