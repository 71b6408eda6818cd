from .registry import DATASETS, DataBundle, DataInfo, DatasetSpec, load_dataset, register_dataset

__all__ = ["DATASETS", "DataBundle", "DataInfo", "DatasetSpec", "load_dataset", "register_dataset"]
