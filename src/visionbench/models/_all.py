"""Imports every model file so each registers itself; add new model files here."""

from . import autoencoder, lenet, timm_zoo  # noqa: F401
