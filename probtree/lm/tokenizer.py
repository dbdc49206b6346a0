"""Tokenizers for the JAX backend, built with the ``tokenizers`` library.

Two sources: a Hugging Face ``tokenizer.json``, and the tokenizer stored in a GGUF file
(``tokenizer.ggml.*``: a byte-level BPE vocabulary with merges, token types and a pre-tokenizer
name), rebuilt as a ``tokenizers.Tokenizer`` with the same pre-tokenization regexes llama.cpp uses.
Decoding goes token by token to bytes (the GPT-2 byte-to-unicode table inverted), so each token's
character span in the decoded text is exact, including tokens that split a UTF-8 character.

References:
    Radford et al., "Language Models are Unsupervised Multitask Learners" (2019): byte-level BPE.
    Sennrich et al., "Neural Machine Translation of Rare Words with Subword Units" (2016).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from pathlib import Path

from tokenizers import AddedToken, Regex, decoders, models, pre_tokenizers
from tokenizers import Tokenizer as HFTokenizer

__all__ = ["Tokenizer"]

# Pre-tokenizer regexes by GGUF ``tokenizer.ggml.pre`` name (as in llama.cpp's llama-vocab.cpp).
_LLAMA3_PAT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_DIGIT_SPLIT_PRES = {"smollm", "starcoder", "refact", "codeshell", "command-r", "exaone"}
_GPT2_PRES = {"default", "gpt2", "gpt-2", "olmo", "jais"}
_LLAMA3_PRES = {"llama-bpe", "llama3", "llama-v3", "smaug-bpe", "dbrx"}
_END_TOKENS = ("<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "</s>")


@functools.cache
def _byte_decoder() -> dict[str, int]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


_HEX_BYTE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


class Tokenizer:
    """Text <-> token ids, with per-token bytes for exact character offsets.

    Args:
        tok: a ``tokenizers.Tokenizer``.
        bos_id: the beginning-of-sequence id, or None.
        add_bos: whether prompts start with ``bos_id``.
        eos_ids: ids that end generation.
        byte_level: whether the vocabulary is GPT-2 byte-level (else SentencePiece style, with
            ``▁`` for spaces and ``<0xNN>`` byte tokens).
    """

    def __init__(
        self,
        tok: HFTokenizer,
        *,
        bos_id: int | None = None,
        add_bos: bool = False,
        eos_ids: Sequence[int] = (),
        byte_level: bool = True,
    ):
        self._tok = tok
        self.bos_id = bos_id
        self.add_bos = bool(add_bos and bos_id is not None)
        self.eos_ids = frozenset(int(i) for i in eos_ids)
        self.byte_level = byte_level
        self.vocab_size = tok.get_vocab_size(with_added_tokens=True)
        special = {t.content for t in tok.get_added_tokens_decoder().values() if t.special}
        dec = _byte_decoder()
        self._bytes: list[bytes] = []
        for i in range(self.vocab_size):
            piece = tok.id_to_token(i)
            if piece is None:
                self._bytes.append(b"")
            elif piece in special:
                self._bytes.append(piece.encode("utf-8"))
            elif byte_level:
                try:
                    self._bytes.append(bytes(dec[c] for c in piece))
                except KeyError:
                    self._bytes.append(piece.encode("utf-8"))
            else:
                m = _HEX_BYTE.match(piece)
                self._bytes.append(
                    bytes([int(m.group(1), 16)]) if m else piece.replace("▁", " ").encode()
                )

    def __repr__(self) -> str:
        eos = sorted(self.eos_ids)
        return f"Tokenizer(vocab_size={self.vocab_size}, bos={self.bos_id}, eos={eos})"

    def encode(self, text: str, *, bos: bool | None = None) -> list[int]:
        """Token ids of ``text`` (special-token strings in it map to their ids).

        Args:
            text: the text.
            bos: prepend the BOS id; None follows ``add_bos``.
        """
        if not isinstance(text, str):
            raise TypeError(f"text: expected str, got {type(text).__name__}")
        ids = self._tok.encode(text, add_special_tokens=False).ids
        if (self.add_bos if bos is None else bos) and self.bos_id is not None:
            ids = [self.bos_id, *ids]
        return ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """:meth:`encode` of many texts (in parallel inside ``tokenizers``)."""
        out = [e.ids for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]
        if self.add_bos:
            out = [[self.bos_id, *ids] for ids in out]
        return out

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes a token stands for."""
        return self._bytes[token_id]

    def token_str(self, token_id: int) -> str:
        """The token's text (invalid UTF-8 shown as U+FFFD)."""
        return self._bytes[token_id].decode("utf-8", errors="replace")

    def decode(self, ids: Sequence[int]) -> str:
        """The text of a sequence of ids."""
        return b"".join(self._bytes[i] for i in ids).decode("utf-8", errors="replace")

    @classmethod
    def from_file(cls, path: str | Path) -> Tokenizer:
        """Loads a Hugging Face ``tokenizer.json`` (and ``tokenizer_config.json`` beside it)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"tokenizer file not found: {path}")
        tok = HFTokenizer.from_file(str(path))
        spec = json.loads(path.read_text(encoding="utf-8"))
        byte_level = "ByteLevel" in json.dumps(spec.get("decoder") or spec.get("pre_tokenizer"))
        conf_path = path.parent / "tokenizer_config.json"
        conf = json.loads(conf_path.read_text(encoding="utf-8")) if conf_path.is_file() else {}
        model_conf_path = path.parent / "config.json"
        mconf = (
            json.loads(model_conf_path.read_text(encoding="utf-8"))
            if model_conf_path.is_file()
            else {}
        )

        def tid(v):
            if isinstance(v, dict):
                v = v.get("content")
            return tok.token_to_id(v) if isinstance(v, str) else v

        bos = tid(conf.get("bos_token")) if conf.get("bos_token") else mconf.get("bos_token_id")
        eos: list[int] = []
        for v in (conf.get("eos_token"), mconf.get("eos_token_id")):
            v = tid(v) if not isinstance(v, list) else v
            eos.extend(v if isinstance(v, list) else [v] if v is not None else [])
        eos.extend(i for t in _END_TOKENS if (i := tok.token_to_id(t)) is not None)
        return cls(
            tok,
            bos_id=bos,
            add_bos=bool(conf.get("add_bos_token", False)),
            eos_ids=eos,
            byte_level=byte_level,
        )

    @classmethod
    def from_gguf_fields(cls, fields: dict) -> Tokenizer:
        """Builds the tokenizer stored in a GGUF file.

        Args:
            fields: ``tokenizer.ggml.*`` values (python lists/str/int), keys without the prefix,
                as read by :func:`probtree.lm.gguf_loader.read_gguf`.

        Raises:
            ValueError: the GGUF tokenizer is not a byte-level BPE ("gpt2") model, or its
                pre-tokenizer is unknown.
        """
        kind = fields.get("model")
        if kind != "gpt2":
            raise ValueError(
                "GGUF tokenizer.ggml.model: only byte-level BPE ('gpt2') is supported, "
                f"got {kind!r}"
            )
        tokens: list[str] = fields["tokens"]
        merges = [tuple(m.split(" ", 1)) for m in fields["merges"]]
        vocab = {t: i for i, t in enumerate(tokens)}
        tok = HFTokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
        pre = fields.get("pre", "default")
        if pre in _DIGIT_SPLIT_PRES:
            tok.pre_tokenizer = pre_tokenizers.Sequence(
                [
                    pre_tokenizers.Digits(individual_digits=True),
                    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
                ]
            )
        elif pre in _GPT2_PRES:
            tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        elif pre in _LLAMA3_PRES:
            tok.pre_tokenizer = pre_tokenizers.Sequence(
                [
                    pre_tokenizers.Split(Regex(_LLAMA3_PAT), behavior="isolated"),
                    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
                ]
            )
        else:
            raise ValueError(
                f"GGUF tokenizer.ggml.pre: unsupported pre-tokenizer {pre!r}; supported: "
                f"{sorted(_DIGIT_SPLIT_PRES | _GPT2_PRES | _LLAMA3_PRES)}"
            )
        tok.decoder = decoders.ByteLevel()
        types = fields.get("token_type") or [1] * len(tokens)
        special = [AddedToken(t, special=True, normalized=False)
                   for t, ty in zip(tokens, types) if ty in (3, 4)]  # CONTROL, USER_DEFINED
        if special:
            tok.add_special_tokens(special)
        eos = [fields["eos_token_id"]] if "eos_token_id" in fields else []
        eos.extend(vocab[t] for t in _END_TOKENS if t in vocab)
        return cls(
            tok,
            bos_id=fields.get("bos_token_id"),
            add_bos=bool(fields.get("add_bos_token", False)),
            eos_ids=eos,
            byte_level=True,
        )
