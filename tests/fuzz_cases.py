"""Seeded random mutations of real model files, fed to fastinfer's loaders (driven by test_fuzz.py).

Run as a script it executes cases ``first .. first+count-1`` of one target in this process and prints,
for each, ``START <i> <what was mutated>`` before it runs and ``OK <i>`` or ``FAIL <i> <exception>``
after. A case passes when it ends in a ``fastinfer.FastInferError`` or a result; any other exception
is a FAIL, and a signal kills the process after a START without its end, which names the case.

Targets:
    cfg      a Darknet cfg (text, tokens, numbers) -> the core's cfg reader; when it accepts, weights of
             the right size -> the OpenCV Darknet importer (and a forward pass when the network is small)
             and the converter.
    weights  Darknet weights (header, size, values) -> the core's weights check and the OpenCV importer.
    onnx     an ONNX model (bytes near its graph, and fields: opsets, input types and shapes, external
             data) -> the core's ONNX check, ONNX Runtime and OpenCV, and a forward pass when it loads.

A case is reproduced with ``python tests/fuzz_cases.py TARGET --seed S --first I --count 1 --keep DIR``.
"""

from __future__ import annotations

import argparse
import random
import struct
import sys
import traceback
from pathlib import Path

import numpy as np

NUMBERS = ["nan", "-nan", "inf", "-inf", "NaN", "1e308", "-1e308", "1e-320", "0", "-0", "-1", "-7", "1", "2", "3",
           "2147483647", "2147483648", "-2147483648", "4294967296", "99999999999", "1e9", "65536", "100000", "0.5",
           "-0.5", "3.7", "0x10", "1,2", "1,,2", "", "=", "abc", "\x00", "\xff", "1 2", "+5", "--1", "１"]
SECTIONS = ["yolo", "region", "route", "shortcut", "upsample", "maxpool", "convolutional", "net", "reorg",
            "connected", "avgpool", "dropout", "softmax", "local", "crop", "bogus", "", "[", "yolo]"]
KEYS = ["mask", "anchors", "num", "classes", "filters", "size", "stride", "pad", "padding", "groups", "group_id",
        "layers", "from", "width", "height", "channels", "scale_x_y", "new_coords", "batch_normalize", "dilation",
        "activation", "output", "coords", "softmax", "thresh", "nms_threshold", "scale", "stride_x", "binary"]


def special_number(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return rng.choice(NUMBERS)
    return str(rng.choice([-1, 1]) * int(10 ** rng.uniform(0, 12)))


# ---------------------------------------------------------------- mutations


def mutate_bytes(data: bytes, rng: random.Random, spans: list[tuple[int, int]] | None = None) -> tuple[bytes, str]:
    """Flips, overwrites, inserts, deletes or truncates bytes, preferring positions inside ``spans``."""
    out = bytearray(data)
    kind = rng.choice(["flip", "set", "insert", "delete", "truncate", "repeat"])
    if spans and rng.random() < 0.9:
        lo, hi = rng.choice(spans)
    else:
        lo, hi = 0, len(out)
    pos = rng.randrange(max(lo, 0), max(min(hi, len(out)), lo + 1)) if out else 0
    if kind == "flip" and out:
        out[pos] ^= 1 << rng.randrange(8)
    elif kind == "set" and out:
        for k in range(rng.randint(1, 8)):
            if pos + k < len(out):
                out[pos + k] = rng.choice([0, 0xff, 0x80, 0x7f, rng.randrange(256)])
    elif kind == "insert":
        out[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif kind == "delete":
        del out[pos:pos + rng.randint(1, 64)]
    elif kind == "truncate":
        del out[pos:]
    else:
        out[pos:pos] = out[pos:pos + rng.randint(1, 256)]
    return bytes(out), f"bytes {kind} at {pos}"


def mutate_cfg(text: str, rng: random.Random) -> tuple[str, str]:
    lines = text.split("\n")
    kind = rng.choice(["value", "value", "value", "value", "key", "duplicate", "delete", "section", "swap",
                       "bytes", "list"])
    i = rng.randrange(len(lines))
    options = [k for k, line in enumerate(lines) if "=" in line and not line.lstrip().startswith("#")]
    if kind in ("value", "list") and not options:  # an earlier mutation left no key=value line
        kind = "key"
    if kind in ("value", "list"):
        i = rng.choice(options)
        key = lines[i].split("=", 1)[0]
        if kind == "value":
            value = special_number(rng)
        else:
            value = ",".join(special_number(rng) for _ in range(rng.randint(0, 12)))
        lines[i] = f"{key}={value}"
        return "\n".join(lines), f"line {i + 1}: {lines[i]!r}"
    if kind == "key":
        lines.insert(i, f"{rng.choice(KEYS)}={special_number(rng)}")
    elif kind == "duplicate":
        lines.insert(i, lines[rng.randrange(len(lines))])
    elif kind == "delete":
        del lines[i:i + rng.randint(1, 4)]
    elif kind == "section":
        lines.insert(i, f"[{rng.choice(SECTIONS)}]")
    elif kind == "swap":
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    else:
        data, what = mutate_bytes("\n".join(lines).encode(), rng)
        return data.decode("latin-1"), what
    return "\n".join(lines), f"{kind} at line {i + 1}: {lines[i] if i < len(lines) else ''!r}"


def mutate_weights(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    out = bytearray(data)
    kind = rng.choice(["version", "version", "values", "values", "bytes", "size"])
    if kind == "version":
        field = rng.randrange(3)
        value = rng.choice([0, 1, 2, 9, 10, 999, 1000, 1001, -1, 2**31 - 1, -2**31, rng.randrange(-2**31, 2**31)])
        out[4 * field:4 * field + 4] = struct.pack("<i", value)
        return bytes(out), f"header version field {field} = {value}"
    if kind == "values" and len(out) >= 24:
        values = (len(out) - 20) // 4
        count = min(rng.choice([1, 10, 1000, values]), values)
        start = 20 + 4 * rng.randrange(max(1, values - count))
        value = rng.choice([np.nan, np.inf, -np.inf, 3e38, -3e38, 1e-45, 0.0])
        out[start:start + 4 * count] = np.full(count, value, "<f4").tobytes()[:len(out) - start]
        return bytes(out), f"{count} values from byte {start} = {value}"
    if kind == "size":
        delta = rng.choice([-4, 4, -1, 1, -8, 8, -(len(out) - 13), -(len(out) - 3), 4096])
        if delta < 0:
            del out[len(out) + delta:]
        else:
            out += bytes(delta)
        return bytes(out), f"size changed by {delta}"
    return mutate_bytes(bytes(out), rng, [(0, 64)])


def mutate_onnx_fields(data: bytes, rng: random.Random, folder: Path) -> tuple[bytes, str]:
    """A structural mutation through onnx's own classes: opsets, input types/shapes, inputs, external data."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load_from_string(data)
    graph = model.graph
    kind = rng.choice(["opset", "elem_type", "dims", "inputs", "outputs", "external", "initializer_dims", "ir"])
    if kind == "opset":
        model.opset_import[0].version = rng.choice([0, 1, 6, 7, 21, 22, 23, 24, 99, 2**40])
        what = f"opset {model.opset_import[0].version}"
    elif kind == "ir":
        model.ir_version = rng.choice([0, 1, 3, 11, 12, 99, 2**40])
        what = f"ir_version {model.ir_version}"
    elif kind == "elem_type":
        t = rng.choice([0, 2, 3, 5, 6, 7, 8, 9, 10, 11, 16, 99])
        graph.input[0].type.tensor_type.elem_type = t
        what = f"input elem_type {t}"
    elif kind == "dims":
        dims = graph.input[0].type.tensor_type.shape.dim
        k = rng.randrange(len(dims) + 1)
        if k == len(dims):
            graph.input[0].type.tensor_type.shape.dim.add().dim_value = rng.choice([1, 3, 0])
            what = "input gets a 5th dim"
        else:
            value = rng.choice([0, 1, 2, 3, 4, 2**31, 2**62, -1])
            dims[k].Clear()
            if value >= 0:
                dims[k].dim_value = value
            what = f"input dim {k} = {value}"
    elif kind == "inputs":
        if rng.random() < 0.5 or len(graph.input) == 0:
            graph.input.append(helper.make_tensor_value_info("extra", rng.choice([1, 7]), [1, 3, 8, 8]))
            what = "a second input"
        else:
            del graph.input[0]
            what = "no input"
    elif kind == "outputs":
        if rng.random() < 0.5:
            del graph.output[:]
            what = "no outputs"
        else:
            graph.output[0].type.tensor_type.ClearField("shape")
            what = "output without shape"
    elif kind == "initializer_dims":
        tensor = rng.choice(list(graph.initializer))
        if tensor.dims:
            k = rng.randrange(len(tensor.dims))
            tensor.dims[k] = rng.choice([0, 1, tensor.dims[k] + 1, 2**31, 2**40])
            what = f"initializer {tensor.name} dim {k} = {tensor.dims[k]}"
        else:
            what = "no change (scalar initializer)"
    else:
        tensor = rng.choice([t for t in graph.initializer if t.raw_data] or list(graph.initializer))
        raw = tensor.raw_data or b""
        location = rng.choice(["w.bin", "../w.bin", "/etc/hostname", "", "sub/../../w.bin", "missing.bin", "."])
        tensor.ClearField("raw_data")
        tensor.data_location = TensorProto.EXTERNAL
        entries = {"location": location, "offset": rng.choice(["0", "0", "16", "-1", "99999999999", "x"]),
                   "length": rng.choice([str(len(raw)), str(len(raw)), "0", "-5", str(len(raw) * 2)])}
        for key, value in entries.items():
            if rng.random() < 0.85:
                entry = tensor.external_data.add()
                entry.key, entry.value = key, value
        blob = raw[: rng.choice([len(raw), len(raw), len(raw) // 2, 0])]
        (folder / "w.bin").write_bytes(bytes(16) + blob if entries["offset"] == "16" else blob)
        what = f"tensor {tensor.name} external: {entries}, file of {len(blob)} bytes"
    return model.SerializeToString(), what


# ---------------------------------------------------------------- running


def parameter_count(cfg: Path) -> int:
    from fastinfer import _core

    return int(_core.darknet_cfg_info(str(cfg))["parameter_count"])


def run_cfg(case: int, rng: random.Random, files: dict[str, Path], work: Path) -> str:
    import fastinfer
    from fastinfer import _core, convert

    source = files["cfg"] if rng.random() < 0.6 else files["mini"]
    text = source.read_text()
    what = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        text, change = mutate_cfg(text, rng)
        what.append(change)
    cfg = work / "fuzz.cfg"
    cfg.write_bytes(text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text)
    print(f"START {case} cfg from {source.name}: {'; '.join(what)}", flush=True)
    info = _core.darknet_cfg_info(str(cfg))
    count = int(info["parameter_count"])
    if count > 50_000_000:
        return "accepted (large: not loaded)"
    weights = work / "fuzz.weights"
    values = np.random.default_rng(case).standard_normal(count).astype("<f4") * 0.05
    weights.write_bytes(np.array([0, 2, 0], "<i4").tobytes() + np.array([0], "<i8").tobytes() + values.tobytes())
    net = _core.opencv_from_darknet(str(cfg), str(weights))
    activations = sum(c * h * w for c, h, w in (layer["shape"] for layer in info["layers"]))
    if activations < 5_000_000:
        net.forward(np.zeros((1, info["channels"], info["height"], info["width"]), np.float32))
    if count < 2_000_000 and rng.random() < 0.5:
        try:
            convert.darknet_to_onnx(cfg, weights)
        except fastinfer.FastInferError:
            pass
    return "accepted"


def run_weights(case: int, rng: random.Random, files: dict[str, Path], work: Path) -> str:
    from fastinfer import _core

    data = files["weights"].read_bytes()
    what = []
    for _ in range(rng.choice([1, 1, 2])):
        data, change = mutate_weights(data, rng)
        what.append(change)
    weights = work / "fuzz.weights"
    weights.write_bytes(data)
    print(f"START {case} weights: {'; '.join(what)}", flush=True)
    _core.darknet_weights_info(str(files["cfg"]), str(weights))
    _core.opencv_from_darknet(str(files["cfg"]), str(weights))
    return "accepted"


def run_onnx(case: int, rng: random.Random, files: dict[str, Path], work: Path) -> str:
    from fastinfer import backends

    source = files["onnx"]
    data = source.read_bytes()
    if rng.random() < 0.5:
        data, what = mutate_onnx_fields(data, rng, work)
    else:
        # The graph's nodes come first and its inputs, outputs and opsets last; the weights lie between.
        data, what = mutate_bytes(data, rng, [(0, 65536), (len(data) - 4096, len(data))])
    model = work / "fuzz.onnx"
    model.write_bytes(data)
    backend = rng.choice(["onnxruntime", "opencv"])
    print(f"START {case} onnx from {source.name} on {backend}: {what}", flush=True)
    net = backends.load(model, None, backend)
    net.forward(np.zeros((1, 3, 320, 320), np.float32))
    return "ran"


RUNNERS = {"cfg": run_cfg, "weights": run_weights, "onnx": run_onnx}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", choices=sorted(RUNNERS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--cfg", type=Path, required=True)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--mini", type=Path, required=True)
    parser.add_argument("--onnx", type=Path, required=True)
    parser.add_argument("--keep", type=Path, required=True, help="folder for the mutated files")
    args = parser.parse_args()
    import logging
    import warnings

    import fastinfer

    logging.getLogger("fastinfer").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    files = {"cfg": args.cfg, "weights": args.weights, "mini": args.mini, "onnx": args.onnx}
    args.keep.mkdir(parents=True, exist_ok=True)
    for case in range(args.first, args.first + args.count):
        rng = random.Random(f"{args.seed}:{args.target}:{case}")
        try:
            outcome = RUNNERS[args.target](case, rng, files, args.keep)
            print(f"OK {case} {outcome}", flush=True)
        except fastinfer.FastInferError as exc:
            print(f"OK {case} {type(exc).__name__}", flush=True)
        except Exception as exc:  # everything else is a finding
            last = traceback.extract_tb(exc.__traceback__)[-1]
            message = str(exc).replace("\n", " ")[:300]
            print(f"FAIL {case} {type(exc).__module__}.{type(exc).__name__}: {message} "
                  f"({Path(last.filename).name}:{last.lineno})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
