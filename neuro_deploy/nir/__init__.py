"""NIR (Neuromorphic Intermediate Representation) to and from netx for Loihi 2."""

from neuro_deploy.nir.importer import ConversionReport, NirImportConfig, nir_to_netx

__all__ = ["ConversionReport", "NirImportConfig", "nir_to_netx"]
