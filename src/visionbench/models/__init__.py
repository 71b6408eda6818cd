from .registry import MODELS, ModelSpec, Recipe, create_model, register_model

__all__ = ["MODELS", "ModelSpec", "Recipe", "create_model", "register_model"]
