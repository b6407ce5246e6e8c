"""HAM10000 data: reader, lesion-disjoint splits, decoded-image cache, augmentation."""
from .ham10000 import HAM10000, Record, read_ham10000
from .splits import Split, make_split

__all__ = ["HAM10000", "Record", "read_ham10000", "Split", "make_split"]
