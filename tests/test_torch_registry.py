"""The one layer registry: every family registers its classes there, both directions attach to one entry."""

from __future__ import annotations

import pytest
from conftest import require_torch

#: The classes to_module built before the split into family files, by family.
BUILT_BEFORE = {
    "activations": {"Activation"},
    "core": {"InputLayer", "Dense", "Embedding", "Dropout", "SpatialDropout1D", "SpatialDropout2D"},
    "conv": {"Conv1D", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose"},
    "pooling": {
        "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D",
        "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "Flatten", "Reshape", "Permute",
        "RepeatVector",
    },
    "normalization": {"BatchNormalization", "LayerNormalization"},
    "recurrent": {"LSTM", "GRU", "SimpleRNN"},
    "merge": {"Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"},
}


def test_every_class_is_registered_once_in_its_family_file():
    require_torch()
    from tfjs_codec.torch import registry

    table = registry.kinds()
    for family, names in BUILT_BEFORE.items():
        for name in names:
            assert table[name].family == family, name
    assert {k.family for k in table.values()} <= set(registry.FAMILIES)
    for name, kind in table.items():
        assert kind.class_name == name
        assert kind.build.__module__ == f"tfjs_codec.torch.{kind.family}"


def test_registering_a_class_twice_or_exporting_an_unknown_one_is_refused():
    torch = require_torch()
    from tfjs_codec.torch import registry

    registry.kinds()
    with pytest.raises(ValueError) as err:
        registry.register("Dense")(lambda c: None)
    assert str(err.value) == "Keras class 'Dense' is registered twice (core, test_torch_registry)"
    with pytest.raises(ValueError) as err:
        registry.attach_export("NoSuchLayer", torch.nn.Identity)(lambda m: None)
    assert str(err.value) == "Keras class 'NoSuchLayer' is not registered: register its builder first"


def test_export_half_attaches_to_the_entry_and_is_found_from_a_torch_module(monkeypatch):
    torch = require_torch()
    from tfjs_codec.torch import registry

    class MyLinear(torch.nn.Linear):
        pass

    table = registry.kinds()
    # A fresh entry in place of the real one, which the export module may have filled already.
    monkeypatch.setitem(table, "Dense", registry.LayerKind("Dense", "core", table["Dense"].build))

    def export(module):
        return registry.ExportedLayer("Dense", {"units": module.out_features}, {})

    registry.attach_export("Dense", torch.nn.Linear)(export)
    kind = registry.kind_for_torch(MyLinear(2, 3))  # a subclass finds its base's entry
    assert kind is table["Dense"] and kind.export is export
    assert kind.export(MyLinear(2, 3)).config == {"units": 3}
    with pytest.raises(ValueError) as err:
        registry.attach_export("Embedding", torch.nn.Linear)(export)
    assert str(err.value) == "torch type Linear is exported by both 'Dense' and 'Embedding'"
