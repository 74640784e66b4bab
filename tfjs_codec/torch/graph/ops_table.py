"""Hash tables (``tf.lookup.StaticHashTable``), as tfjs-converter's ``hash_table_executor``.

The converter puts the table's construction in ``modelInitializer``, which the
module runs once at build time; the resulting :class:`HashTable` is bound to
the graph's resource input. Keys are strings (numpy arrays of ``bytes`` /
``str``, or a list of ``str``) or integers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .registry import Node, register


class HashTable:
    """A key -> value table: ``key_dtype`` / ``value_dtype`` as in the graph."""

    def __init__(self, key_dtype: Any, value_dtype: Any) -> None:
        self.key_dtype = key_dtype
        self.value_dtype = value_dtype
        self.table: dict[Any, Any] = {}

    def __repr__(self) -> str:
        return f"HashTable({len(self.table)} entries)"


def _keys(keys: Any) -> list[Any]:
    if isinstance(keys, torch.Tensor):
        return keys.reshape(-1).tolist()
    arr = np.asarray(keys, dtype=object).reshape(-1)
    return [k.encode("utf-8") if isinstance(k, str) else k for k in arr.tolist()]


def _shape(keys: Any) -> list[int]:
    return list(keys.shape) if hasattr(keys, "shape") else [len(keys)]


@register("HashTable", "HashTableV2")
def _hash_table(node: Node) -> HashTable:
    return HashTable(node.attr("key_dtype"), node.attr("value_dtype"))


@register("LookupTableImport", "LookupTableImportV2")
def _import(node: Node, table: HashTable, keys: Any, values: Any) -> HashTable:
    vals = values.reshape(-1).tolist() if isinstance(values, torch.Tensor) else np.asarray(values).reshape(-1).tolist()
    table.table.update(zip(_keys(keys), vals, strict=False))
    return table


@register("LookupTableFind", "LookupTableFindV2")
def _find(node: Node, table: HashTable, keys: Any, default: Any) -> torch.Tensor:
    dflt = default.item() if isinstance(default, torch.Tensor) else default
    out = [table.table.get(k, dflt) for k in _keys(keys)]
    dtype = table.value_dtype if isinstance(table.value_dtype, torch.dtype) else torch.int32
    return torch.tensor(out, dtype=dtype).reshape(_shape(keys))


@register("LookupTableSize", "LookupTableSizeV2")
def _size(node: Node, table: HashTable) -> torch.Tensor:
    return torch.tensor(len(table.table), dtype=torch.int32)
