"""Pictures of tensors (grids, confusion matrices, overlays): a layer beside data, models and
metrics, so the tasks draw their pictures without importing the analysis above them."""
