"""The ``tfjs-codec`` command line: inspect, convert, verify, export."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ._version import __version__
from .errors import TfjsFormatError
from .manifest import ManifestGroup, stored_nbytes
from .model import Model
from .progress import ProgressLine
from .reader import load
from .sources import ARCHIVE_SUFFIXES, is_archive_name, option_problem
from .verify import verify
from .weight_files import WEIGHT_FILE_SUFFIXES, read_weights_file, write_weights_file
from .writer import save

__all__ = ["main"]


def _describe(model: Model) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for name, spec in model.specs.items():
        q = spec.quantization
        rows.append(
            {
                "name": name,
                "shape": list(spec.shape),
                "dtype": spec.dtype,
                "quantization": q["dtype"] if q else None,
                "group": spec.group,
                "manifest_group": spec.group_index,
                "offset": spec.offset,
                "bytes": spec.nbytes,
                "shards": model.shards_of(name),
            }
        )
    doc = model.json if isinstance(model.json, dict) else {}
    return {
        "path": model.source or str(model.path),
        "format": doc.get("format"),
        "generatedBy": doc.get("generatedBy"),
        "convertedBy": doc.get("convertedBy"),
        "kind": "weights manifest" if model.is_bare_manifest else "model",
        "groups": [{"paths": list(g.paths), "bytes": b.total} for g, b in zip(model.groups, model.buffers, strict=False)],
        "sidecars": sorted(model.sidecars),
        "weights": rows,
        "total_weights": len(rows),
        "total_elements": sum(math.prod(r["shape"]) for r in rows),
        "total_bytes": sum(r["bytes"] for r in rows),
        "dialect": _dialect(doc, [r["name"] for r in rows if r["group"] != "optimizer"]),
    }


def _dialect(document: Any, names: list[str]) -> str | None:
    """What ``inspect`` says of a layers model tfjs cannot load as it is (a Keras 3 export), else None."""
    from .keras3 import keras3_signs

    signs = keras3_signs(document, names)
    if not signs:
        return None
    return f"Keras 3 export ({'; '.join(signs)}): tfjs 4.22 cannot load it; run tfjs-codec repair"


def _dims(shape: Any) -> list[int] | None:
    """A TensorShapeProto in JSON (``{"dim": [{"size": "3"}]}``) as a list (-1 unknown), None: unknown rank."""
    if not isinstance(shape, dict) or shape.get("unknownRank"):
        return None
    return [int(d.get("size", -1)) for d in shape.get("dim", [])]


_TF_DTYPES = {
    "DT_FLOAT": "float32", "DT_HALF": "float16", "DT_DOUBLE": "float64", "DT_INT32": "int32", "DT_INT64": "int64",
    "DT_INT16": "int16", "DT_INT8": "int8", "DT_UINT8": "uint8", "DT_UINT16": "uint16", "DT_BOOL": "bool",
    "DT_STRING": "string", "DT_COMPLEX64": "complex64", "DT_RESOURCE": "resource", "DT_VARIANT": "variant",
}


def _describe_graph(doc: Any) -> dict[str, Any] | None:
    """A graph model's inputs, outputs and op histogram, from its model.json alone; None otherwise.

    Inputs and outputs are the signature's (as tfjs reads them), else the Placeholders and the
    nodes nothing consumes. Ops are counted per node, most used first.
    """
    topo = doc.get("modelTopology") if isinstance(doc, dict) else None
    if not isinstance(topo, dict) or not isinstance(topo.get("node"), list) or "class_name" in topo:
        return None
    nodes = [n for n in topo["node"] if isinstance(n, dict) and isinstance(n.get("name"), str)]
    ops: dict[str, int] = {}
    consumed: set[str] = set()
    for n in nodes:
        op = str(n.get("op"))
        ops[op] = ops.get(op, 0) + 1
        for ref in n.get("input") or []:
            if isinstance(ref, str):
                consumed.add(ref.lstrip("^").split(":")[0])
    sig: dict[str, Any] = doc["signature"] if isinstance(doc.get("signature"), dict) else {}

    def from_signature(entries: Any) -> list[dict[str, Any]]:
        if not isinstance(entries, dict):
            return []
        return [
            {"name": key, "tensor": info.get("name"), "dtype": info.get("dtype"), "shape": _dims(info.get("tensorShape"))}
            for key, info in entries.items()
            if isinstance(info, dict)
        ]

    def attr(n: dict[str, Any], key: str) -> Any:
        return (n.get("attr") or {}).get(key) or {}

    inputs = from_signature(sig.get("inputs"))
    if not inputs:
        inputs = [
            {
                "name": n["name"],
                "tensor": f"{n['name']}:0",
                "dtype": attr(n, "dtype").get("type"),
                "shape": _dims(attr(n, "shape").get("shape")),
            }
            for n in nodes
            if n.get("op") == "Placeholder"
        ]
    outputs = from_signature(sig.get("outputs"))
    if not outputs:
        outputs = [
            {"name": n["name"], "tensor": f"{n['name']}:0", "dtype": None, "shape": None}
            for n in nodes
            if n["name"] not in consumed and n.get("op") not in ("Const", "NoOp", "Placeholder")
        ]
    library: dict[str, Any] = topo["library"] if isinstance(topo.get("library"), dict) else {}
    functions = [f.get("signature", {}).get("name") for f in library.get("function", []) if isinstance(f, dict)]
    return {
        "nodes": len(nodes),
        "inputs": inputs,
        "outputs": outputs,
        "ops": dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))),
        "functions": functions,
    }


def _write_graph(graph: dict[str, Any], out: TextIO) -> None:
    """The text form of :func:`_describe_graph`: inputs/outputs, then the op histogram."""
    fns = f", {len(graph['functions'])} functions" if graph["functions"] else ""
    out.write(f"graph: {graph['nodes']} nodes, {len(graph['ops'])} ops{fns}\n")
    rows = [["", "name", "tensor", "dtype", "shape"]]
    for kind in ("inputs", "outputs"):
        for t in graph[kind]:
            shape = "?" if t["shape"] is None else "[" + ",".join(map(str, t["shape"])) + "]"
            dtype = _TF_DTYPES.get(t["dtype"], t["dtype"] or "?")
            rows.append([kind[:-1], t["name"], t["tensor"] or "?", dtype, shape])
    _table(rows, out)
    _table([["op", "nodes"]] + [[op, str(n)] for op, n in graph["ops"].items()], out)


def _describe_manifest(source: str, document: Any, groups: Sequence[ManifestGroup]) -> dict[str, Any]:
    """What the manifest alone tells, with None for what needs the shards.

    Offsets are cumulative within a group. A string weight's byte length needs
    its data, so its ``bytes`` and every later ``offset`` of its group are None.
    A weight's shards are known without their sizes only when its group has one
    shard file (or the weight has no bytes); else ``shards`` is None.
    """
    rows: list[dict[str, Any]] = []
    for g in groups:
        offset: int | None = 0
        for entry in g.entries:
            q = entry.get("quantization")
            nbytes = stored_nbytes(entry)
            shards = [] if nbytes == 0 else list(g.paths) if len(g.paths) == 1 else None
            rows.append(
                {
                    "name": entry["name"],
                    "shape": list(entry["shape"]),
                    "dtype": entry["dtype"],
                    "quantization": q["dtype"] if q else None,
                    "group": entry.get("group"),
                    "manifest_group": g.index,
                    "offset": offset,
                    "bytes": nbytes,
                    "shards": shards,
                }
            )
            offset = None if offset is None or nbytes is None else offset + nbytes
    doc = document if isinstance(document, dict) else {}
    known = [r["bytes"] for r in rows if r["bytes"] is not None]
    return {
        "path": source,
        "format": doc.get("format"),
        "generatedBy": doc.get("generatedBy"),
        "convertedBy": doc.get("convertedBy"),
        "kind": "weights manifest" if isinstance(document, list) else "model",
        "shard_sizes_fetched": False,
        "groups": [{"paths": list(g.paths), "bytes": None} for g in groups],
        "sidecars": [],
        "weights": rows,
        "total_weights": len(rows),
        "total_elements": sum(math.prod(r["shape"]) for r in rows),
        "total_bytes": sum(known) if len(known) == len(rows) else None,
    }


def _table(rows: list[list[str]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for k, row in enumerate(rows):
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() + "\n")
        if k == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")


def _shards_label(shards: list[str]) -> str:
    if not shards:
        return "-"
    return shards[0] if len(shards) == 1 else f"{shards[0]} .. {shards[-1]} ({len(shards)})"


def _add_source_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-manifest-bytes",
        type=int,
        help="refuse a larger model.json, from any source, before reading it whole (default 67108864)",
    )
    g = p.add_argument_group("archives and URLs")
    g.add_argument("--member", help="the manifest inside an archive holding several models (e.g. a/model.json)")
    g.add_argument("--cache-dir", help="download cache for URLs (default: $TFJS_CODEC_CACHE or ~/.cache/tfjs_codec)")
    g.add_argument("--no-cache", action="store_true", help="do not cache downloads")
    g.add_argument("--offline", action="store_true", help="use cached downloads only")
    g.add_argument("--timeout", type=float, help="seconds per network operation (default 30)")


def _load_options(args: argparse.Namespace, path: str) -> dict[str, Any]:
    """The load() keywords the source options ask for (none when left unset).

    Raises:
        SystemExit: an option the kind of ``path`` does not take.
    """
    given: dict[str, Any] = {}
    if getattr(args, "no_cache", False):
        given["cache_dir"] = False
    elif getattr(args, "cache_dir", None):
        given["cache_dir"] = args.cache_dir
    if getattr(args, "offline", False):
        given["offline"] = True
    if getattr(args, "timeout", None) is not None:
        given["timeout"] = args.timeout
    member = getattr(args, "member", None)
    names = [*given, *(["member"] if member else [])]
    problem = option_problem(path, names, lambda name: "--" + name.replace("_", "-"))
    if problem is not None:
        raise SystemExit(f"tfjs-codec {args.command}: {problem}")
    options: dict[str, Any] = {}
    if getattr(args, "max_manifest_bytes", None) is not None:
        options["max_manifest_bytes"] = args.max_manifest_bytes
    if member:
        options["member"] = member
    if given:
        from .sources.http_options import HttpOptions

        options["http"] = HttpOptions().updated(given)
    return options


def cmd_inspect(args: argparse.Namespace, out: TextIO) -> int:
    from .sources import is_url

    if is_url(args.model) and not args.probe:
        from .sources.http import read_manifest_url

        options = _load_options(args, args.model)
        fetched = read_manifest_url(args.model, max_manifest_bytes=options.get("max_manifest_bytes"), http=options.get("http"))
        info = _describe_manifest(fetched.url, fetched.document, fetched.groups)
        graph = _describe_graph(fetched.document)
    else:
        with load(args.model, **_load_options(args, args.model)) as model:
            info = _describe(model)
            graph = _describe_graph(model.json)
    if graph is not None:
        info["graph"] = graph
    if args.json:
        json.dump(info, out, indent=2)
        out.write("\n")
        return 0
    out.write(f"{info['path']}: {info['kind']}")
    for key in ("format", "generatedBy", "convertedBy"):
        if info[key]:
            out.write(f", {key} {info[key]}")
    if info.get("shard_sizes_fetched") is False:
        out.write("; shard sizes not fetched (--probe fetches them with HEAD requests)")
    out.write("\n")
    if info.get("dialect"):
        out.write(f"{info['dialect']}\n")
    if info["sidecars"]:
        out.write(f"with {', '.join(info['sidecars'])}\n")
    rows = [["name", "shape", "dtype", "quantization", "group", "shards", "bytes"]]
    for r in info["weights"]:
        rows.append(
            [
                r["name"],
                "[" + ",".join(map(str, r["shape"])) + "]",
                r["dtype"],
                r["quantization"] or "-",
                r["group"] or "-",
                "?" if r["shards"] is None else _shards_label(r["shards"]),
                "?" if r["bytes"] is None else f"{r['bytes']:,}",
            ]
        )
    _table(rows, out)
    for gi in sorted({r["manifest_group"] for r in info["weights"] if r["shards"] is None}):
        out.write(f"shards ? in group {gi}: {_shards_label(info['groups'][gi]['paths'])}\n")
    if info["total_bytes"] is not None:
        size = f"{info['total_bytes']:,} bytes"
    else:
        unknown = sum(r["bytes"] is None for r in info["weights"])
        size = f"{sum(r['bytes'] or 0 for r in info['weights']):,} bytes + {unknown} string weight(s) of unknown size"
    out.write(
        f"{info['total_weights']} weights, {info['total_elements']:,} elements, {size} "
        f"in {sum(len(g['paths']) for g in info['groups'])} shard file(s), {len(info['groups'])} group(s)\n"
    )
    if graph is not None:
        _write_graph(graph, out)
    return 0


def _quantize_arg(value: str | None) -> Any:
    if value is None:
        return None
    if value.startswith("{"):
        return json.loads(value)
    return value


#: Outputs ``convert`` writes through torch.export (the tfjs model as a torch program).
PROGRAM_SUFFIXES = (".onnx", ".pt2")

#: Output names ``convert`` knows, besides weight files: what each other ending would need.
_NOT_WRITTEN = {
    ".pt": "PyTorch: use tfjs_codec.torch (tct.to_module, then torch.save of its state_dict)",
    ".pth": "PyTorch: use tfjs_codec.torch (tct.to_module, then torch.save of its state_dict)",
    ".h5": "Keras HDF5 files are not written by tfjs-codec",
    ".keras": "Keras files are not written by tfjs-codec",
    ".pb": "TensorFlow SavedModels are not written by tfjs-codec",
    ".tflite": "TensorFlow Lite files are not written by tfjs-codec",
}


def _check_dest(dest: str) -> None:
    """Refuse an output name whose ending says a kind of file convert does not write (it would
    otherwise become a TensorFlow.js model in a directory of that name)."""
    path = Path(dest)
    suffix = path.suffix.lower()
    if (
        not suffix
        or suffix == ".json"
        or suffix in WEIGHT_FILE_SUFFIXES
        or is_archive_name(dest)
        or path.is_dir()
        or dest.endswith(("/", os.sep))
    ):
        return
    why = _NOT_WRITTEN.get(suffix, f"'{path.suffix}' is not an output kind tfjs-codec writes")
    raise SystemExit(
        f"tfjs-codec convert: cannot write {dest}: {why}. Outputs: a directory or a .json path (a TensorFlow.js "
        f"model), an archive ({', '.join(ARCHIVE_SUFFIXES)}), {' / '.join(sorted(WEIGHT_FILE_SUFFIXES))} "
        "(the decoded weights), or .onnx / .pt2 (the model as ONNX / a torch.export program); a directory"
        " whose name has a dot: create it first, or end the name with '/'"
    )


def _refuse_model_options(args: argparse.Namespace) -> None:
    """--like, --quantize and --shard-size shape a TensorFlow.js model: an error for any other output."""
    if args.like or args.quantize or args.shard_size:
        raise SystemExit("tfjs-codec convert: --like, --quantize and --shard-size apply when writing a TensorFlow.js model")


def _convert_program(args: argparse.Namespace, dst: Path, out: TextIO) -> int:
    _refuse_model_options(args)
    if Path(args.source).suffix.lower() in WEIGHT_FILE_SUFFIXES:
        raise SystemExit(f"tfjs-codec convert: {dst.suffix} needs a TensorFlow.js model as the source")
    shapes = [[int(d) for d in s.split(",")] for s in args.input_shape] if args.input_shape else None
    try:
        from .torch import onnx_export
    except ImportError as exc:
        raise SystemExit(f"tfjs-codec convert: {exc}") from None
    with load(args.source, **_load_options(args, args.source)) as model:
        if dst.suffix.lower() == ".onnx":
            try:
                onnx_export.to_onnx(model, dst, input_shapes=shapes, dynamic_batch=not args.fixed_batch)
            except ImportError as exc:
                raise SystemExit(f"tfjs-codec convert: {exc}") from None
            out.write(f"wrote {dst} ({onnx_export.describe(dst)})\n")
        else:
            program = onnx_export.to_exported_program(model, input_shapes=shapes, dynamic_batch=not args.fixed_batch)
            onnx_export.save_program(program, dst)
            out.write(f"wrote {dst} (torch.export program)\n")
    return 0


def cmd_convert(args: argparse.Namespace, out: TextIO) -> int:
    if Path(args.dest).suffix.lower() in PROGRAM_SUFFIXES:
        return _convert_program(args, Path(args.dest), out)
    _check_dest(args.dest)
    src, dst = Path(args.source), Path(args.dest)
    quantize = _quantize_arg(args.quantize)
    progress = ProgressLine(f"writing {dst.name}", enabled=None if not args.quiet else False)
    if src.suffix.lower() in WEIGHT_FILE_SUFFIXES:
        if dst.suffix.lower() in WEIGHT_FILE_SUFFIXES:
            raise SystemExit("tfjs-codec convert: one side must be a TensorFlow.js model")
        weights = read_weights_file(src)
        written = save(dst, weights, like=args.like, quantize=quantize, shard_size=args.shard_size, progress=progress)
        out.write(f"wrote {written} ({len(weights)} weights)\n")
        return 0
    with load(args.source, **_load_options(args, args.source)) as model:  # a str: URLs must not go through Path
        if dst.suffix.lower() in WEIGHT_FILE_SUFFIXES:
            _refuse_model_options(args)
            write_weights_file(dst, model.weights, progress=progress)
            out.write(f"wrote {dst} ({len(model.specs)} weights)\n")
            return 0
        like = args.like or model
        written = save(dst, model.weights, like=like, quantize=quantize, shard_size=args.shard_size, progress=progress)
        out.write(f"wrote {written} ({len(model.specs)} weights)\n")
    return 0


def cmd_verify(args: argparse.Namespace, out: TextIO) -> int:
    report = verify(args.model, allow_nonfinite=args.allow_nonfinite, **_load_options(args, args.model))
    if args.json:
        json.dump(report.as_dict(), out, indent=2)
        out.write("\n")
        return 0 if report.ok else 1
    for problem in report.problems:
        out.write(f"problem: {problem}\n")
    for note in report.notes:
        out.write(f"note: {note}\n")
    if report.nonfinite and args.allow_nonfinite:
        for name, (nan, inf) in report.nonfinite.items():
            out.write(f"note: weight {name!r}: {nan} NaN and {inf} infinite value(s)\n")
    out.write(f"{'OK' if report.ok else 'FAILED'}: {report.weights} weights decoded, {len(report.problems)} problem(s)\n")
    return 0 if report.ok else 1


def cmd_repair(args: argparse.Namespace, out: TextIO) -> int:
    from .repair import repair

    with load(args.source, **_load_options(args, args.source)) as model:
        done = repair(model, args.dest)
    out.write(done.summary() + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tfjs-codec``."""
    parser = argparse.ArgumentParser(
        prog="tfjs-codec",
        description="Read, check and convert TensorFlow.js weights (model.json + *.bin) with numpy alone.",
    )
    parser.add_argument("--version", action="version", version=f"tfjs-codec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "inspect",
        help="list the weights of a model",
        description=(
            "List a model's weights: name, shape, dtype, quantization, group, shards, bytes. For a URL only "
            "model.json is fetched (see --probe)."
        ),
    )
    p.add_argument("model", help="model.json, a weights manifest, a directory or archive holding one, or an http(s) URL")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--probe",
        action="store_true",
        help="URLs: learn each shard's size with a HEAD request (and read string weights' length prefixes) to fill in "
        "the shards column and string sizes. Without it only model.json is fetched: the header says so, '?' marks "
        "what is unknown (null in --json, which then has \"shard_sizes_fetched\": false)",
    )
    _add_source_options(p)
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser(
        "convert",
        help="convert to or from .safetensors / .npz, to .onnx / .pt2, or re-save a model",
        description=(
            "MODEL OUT.safetensors|OUT.npz exports the decoded weights. "
            "MODEL OUT.onnx writes an ONNX model (needs tfjs-codec[onnx]); MODEL OUT.pt2 a torch.export program "
            "(needs torch). "
            "IN.safetensors|IN.npz OUT_DIR --like MODEL writes a TensorFlow.js model with MODEL's structure. "
            "MODEL OUT_DIR re-saves a model (e.g. with --quantize or --shard-size)."
        ),
    )
    p.add_argument("source")
    p.add_argument("dest")
    p.add_argument("--like", help="the TensorFlow.js model whose topology, manifest and layout to copy")
    p.add_argument("--quantize", help='uint8, uint16, float16, or a JSON map like \'{"uint8": ["*/kernel"], "float16": true}\'')
    p.add_argument("--shard-size", type=int, help="bytes per shard (default: like's layout, or 4194304)")
    p.add_argument("--input-shape", action="append",
                   help=".onnx/.pt2: an input's shape, e.g. -1,224,224,3 (-1 batch); repeat per input in order, "
                   "for inputs whose sizes the model leaves open")
    p.add_argument("--fixed-batch", action="store_true", help=".onnx/.pt2: do not keep the batch dimension dynamic")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    _add_source_options(p)
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser(
        "verify",
        help="decode everything and report problems",
        description=(
            "Decode every weight; report missing or short shards, trailing bytes and NaN/Inf values. Exit "
            "status 1 on any problem."
        ),
    )
    p.add_argument("model")
    p.add_argument("--allow-nonfinite", action="store_true", help="do not count NaN/Inf values as problems")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_source_options(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser(
        "repair",
        help="rewrite a Keras 3 export so that tfjs 4.22 loads it",
        description=(
            "Write SOURCE, a layers model the tensorflowjs converter wrote under Keras 3 (which tf.loadLayersModel "
            "of tfjs 4.22 cannot load), into DEST in the Keras 2 form tfjs reads: the topology translated, the "
            "weights renamed in model.json, the shard files copied byte for byte (quantization kept), sidecar "
            "files too. A model tfjs already loads is copied as it is. What tfjs 4.22 cannot run (a GRU with "
            "reset_after=True, MultiHeadAttention, Lambda, ...) is an error naming the layer; nothing is written."
        ),
    )
    p.add_argument("source", help="model.json, a directory or archive holding one, or an http(s) URL")
    p.add_argument("dest", help="the directory to write (not the source's)")
    _add_source_options(p)
    p.set_defaults(func=cmd_repair)

    p = sub.add_parser(
        "export",
        help="write a PyTorch module as a TensorFlow.js layers or graph model (needs torch)",
        description=(
            "Build a torch.nn.Module with MODULE (FILE.py:build_fn or package.module:build_fn, called without "
            "arguments; an nn.Module object is used as it is) and write it as a tfjs layers model (or, with "
            "--format graph, a graph model for tf.loadGraphModel) with tfjs_codec.torch.export (checked against "
            "torch unless --no-verify)."
        ),
    )
    p.add_argument("module", help="FILE.py:NAME or package.module:NAME")
    p.add_argument("out", help="the directory to write")
    p.add_argument("--input-shape", action="append", required=True,
                   help="the example input's shape in the module's layout, e.g. 1,3,32,32 (repeat for several inputs)")
    p.add_argument("--input-dtype", action="append", choices=["float32", "int32", "int64"],
                   help="the example input's dtype (default float32; int ids are zeros)")
    p.add_argument("--quantize", help='uint8, uint16, float16, or a JSON map like \'{"uint8": ["*/kernel"]}\'')
    p.add_argument("--shard-size", type=int, help="bytes per shard (default 4194304)")
    p.add_argument("--labels", help="comma-separated class names: write Teachable Machine's metadata.json")
    p.add_argument("--channels-first", action="store_true", help="keep the module's layout at the model's edges")
    p.add_argument("--no-verify", action="store_true", help="skip the comparison with torch")
    p.add_argument("--format", choices=["layers", "graph"], default="layers",
                   help="layers: tf.loadLayersModel (the default); graph: tf.loadGraphModel, any module torch.export traces")
    p.set_defaults(func=cmd_export)
    return parser


def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    try:
        from .torch.exporter.command import run
    except ImportError as exc:
        raise SystemExit(f"tfjs-codec export: {exc}") from None
    return run(args, out)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    try:
        return int(args.func(args, out))
    except TfjsFormatError as exc:
        sys.stderr.write(f"tfjs-codec: error: {exc}\n")
        return 2
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"tfjs-codec: error: {exc}\n")
        return 2
