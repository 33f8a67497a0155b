"""neuro-deploy: spiking networks from event data to a simulated Intel Loihi 2.

Importing the package is cheap (no torch, no Lava); it installs the Python 3.11
compatibility finder for lava-nc (see :mod:`neuro_deploy._compat.lava_compat`) so that
``import lava...`` works afterwards on this interpreter.
"""
from neuro_deploy._compat import lava_compat as _lava_compat

_lava_compat.install()

__version__ = "0.1.0"
__all__ = ["__version__"]
