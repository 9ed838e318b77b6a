"""Civility (文明): how a text treats people, read with the message it answers; spans; reply context.

Two models:
- the COLD model: P(offensive) from the LoRA-fine-tuned e5 stacked with char n-grams
  (`civility_e5.py`, `models/civility-e5/`), or the embedding head (`civility_head.py`) in the
  `QUALITY_CIVILITY_MODEL=head` profile — offensiveness about race, gender and region;
- the reply-civility heads (`reply_civility.py`, `models/civility-replies/`): on the e5 encoder's
  embedding of the reply, the sentence encoder's embeddings of reply and parent, the COLD logit
  and lexical counts — P(uncivil towards the person answered), P(constructive), P(disagreement),
  P(reasoned), which the civility signal reads. `civility.score` stays 1 - P(offensive) (COLD's
  notion, calibrated); the signal is what says how a reply treats the person it answers.
Spans come from lexicon hits (each scored by the COLD model on the span's words alone), sarcasm
markers in replies the heads call uncivil, and occlusion attribution on the COLD model for texts
it calls offensive. The context carries what the rubric's civility signal reads.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from quality.calibration import IDENTITY, load_calibration
from quality.model_store import ModelStore
from quality.normalize import clean_text
from quality.schemas import CivilityScore, Span
from quality.text.batch import TextBatch, TextItem, load_encoder, require_trained_on
from quality.text.civility_head import CivilityHead
from quality.text.embedding_cache import EmbeddingCache
from quality.text.lexicon import default_lexicon
from quality.text.politeness_head import PolitenessHead
from quality.text.reply_civility import ReplyCivilityHeads
from quality.text.reply_features import SARCASM, dense_features, lexical_features
from quality.text.scoring import listed
from quality.text.segment import word_spans

HEAD_MODEL = "civility-head"
POLITENESS_MODEL = "politeness-head"
# Occlusion attribution runs only on texts the head calls offensive, and only on texts short
# enough that one extra batch of variants stays cheap.
ATTRIBUTION_MIN_P = 0.5
ATTRIBUTION_CANDIDATES = 8  # words tried by occlusion: the most offensive-looking to the char n-gram part
ATTRIBUTION_MIN_DROP = 0.15  # a word is a span when removing it lowers P(offensive) by this much


FINETUNED_MODEL = "civility-e5"
CALIBRATION_MODEL = "civility-calibration"  # optional: declared once `quality train calibration` has run
REPLY_MODEL = "civility-replies"
PARENT_CACHE_SIZE = 2048  # parents whose embedding is kept (a thread's replies arrive one after another)


def load_civility_head(store: ModelStore) -> CivilityHead:
    return store.get(HEAD_MODEL, lambda s: CivilityHead.load(s.path(HEAD_MODEL)))


class EmbeddingClassifier:
    """civility-head: char n-grams + the service's own sentence embeddings."""

    def __init__(self, store: ModelStore, encoder):
        require_trained_on(store, HEAD_MODEL, encoder)
        self.head = load_civility_head(store)
        self.encoder = encoder
        self.version = self.head.version

    def predict(self, texts: list[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        if embeddings is None:
            embeddings = self.encoder.encode(texts)
        return self.head.offensive_probability(texts, embeddings)


def served_encoder_dirs(store: ModelStore) -> tuple[Path, Path | None]:
    """The civility encoder's adapter directory and, when the manifest declares a distilled student
    (train/civility_distill.py), the student's directory: the student is what is served."""
    roles = {model_file.role for model_file in store.entry(FINETUNED_MODEL).files}
    student_dir = store.path(FINETUNED_MODEL, "student_spec").parent if "student_spec" in roles else None
    return store.path(FINETUNED_MODEL, "adapter_weights").parent, student_dir


class FineTunedClassifier:
    """civility-e5: e5-small fine-tuned on COLD with LoRA (ONNX int8), stacked with char n-grams."""

    def __init__(self, store: ModelStore):
        from quality.text.civility_e5 import StackedCivilityHead, encoder_identity, ensure_civility_onnx
        from quality.text.onnx_encoder import encoder_from_onnx_dir

        settings = store.settings
        adapter_dir, student_dir = served_encoder_dirs(store)
        model_path = ensure_civility_onnx(adapter_dir, settings.cache_dir, student_dir=student_dir)
        self.encoder_identity = encoder_identity(adapter_dir, student_dir)
        self.encoder = encoder_from_onnx_dir(model_path.parent, model_path.name, threads=settings.threads)
        self.head = StackedCivilityHead.load(store.path(FINETUNED_MODEL, "head"))
        self.version = store.entry(FINETUNED_MODEL).version

    def predict(self, texts: list[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        return self.head.offensive_probability(texts, self.encoder.encode(texts))

    def encode_and_predict(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The encoder's embeddings (one pass) and the COLD logits read from them."""
        embeddings = self.encoder.encode(texts)
        return embeddings, self.head.logits(texts, embeddings)


def load_classifier(store: ModelStore, encoder):
    """The fine-tuned model when the manifest declares it (and QUALITY_CIVILITY_MODEL does not ask
    for the head), else the embedding head."""
    declared = {entry.name for entry in store.manifest.models}
    if FINETUNED_MODEL in declared and store.settings.civility_model == "fine-tuned":
        return store.get(FINETUNED_MODEL, FineTunedClassifier)
    return EmbeddingClassifier(store, encoder)


def sarcasm_spans(text: str) -> list[Span]:
    """Where the text uses a sarcasm marker (大师, 您可真是, 呵呵 ...): shown for replies the heads call uncivil."""
    lowered = text.lower()
    spans = []
    for marker in sorted(SARCASM, key=len, reverse=True):
        start = lowered.find(marker.lower())
        while start >= 0:
            end = start + len(marker)
            if not any(s.start < end and start < s.end for s in spans):
                spans.append(Span(start=start, end=end, label="sarcasm", score=1.0))
            start = lowered.find(marker.lower(), end)
    return sorted(spans, key=lambda s: (s.start, s.end))


class CivilityScorer:
    name = "civility"

    def __init__(self, store: ModelStore):
        self.store = store
        self.politeness = store.get(POLITENESS_MODEL, lambda s: PolitenessHead.load(s.path(POLITENESS_MODEL)))
        self.encoder = load_encoder(store)
        require_trained_on(store, POLITENESS_MODEL, self.encoder)
        self.classifier = load_classifier(store, self.encoder)
        self.lexicon = default_lexicon()
        self.version = self.classifier.version
        self.classifier_name = "fine-tuned e5" if isinstance(self.classifier, FineTunedClassifier) else "head"
        # The calibration map was fitted to the fine-tuned model's outputs.
        self.calibration = (load_calibration(store, CALIBRATION_MODEL)
                            if isinstance(self.classifier, FineTunedClassifier) else IDENTITY)
        if self.calibration.method != "identity":
            self.version = f"{self.version}+calibration.{self.calibration.version}"
        self._term_probability = lru_cache(maxsize=4096)(self._offensive_probability_of_term)
        # The reply heads read the fine-tuned encoder's embeddings: not in the head profile.
        self.reply_heads = (store.get(REPLY_MODEL, lambda s: ReplyCivilityHeads(s.path(REPLY_MODEL, "heads")))
                            if isinstance(self.classifier, FineTunedClassifier)
                            and REPLY_MODEL in {entry.name for entry in store.manifest.models} else None)
        if self.reply_heads is not None:
            from quality.errors import ModelIntegrityError

            if self.reply_heads.context_encoder == "sentence" and self.reply_heads.sentence_encoder != self.encoder.name:
                raise ModelIntegrityError(f"{REPLY_MODEL} was trained on {self.reply_heads.sentence_encoder!r} "
                                          f"embeddings, the configured text encoder is {self.encoder.name!r}")
            trained_on = self.reply_heads.civility_encoder
            if trained_on and trained_on != self.classifier.encoder_identity:
                raise ModelIntegrityError(
                    f"{REPLY_MODEL} was trained on another {FINETUNED_MODEL} encoder's embeddings (adapter "
                    f"{trained_on[:12]}, declared {self.classifier.encoder_identity[:12]}): retrain it "
                    "(models/civility-replies/MODEL_CARD.md)")
            self.version = f"{self.version}+replies.{self.reply_heads.version}"
            self._parents = EmbeddingCache(self.classifier.encoder.encode, PARENT_CACHE_SIZE)

    def _offensive_probability_of_term(self, term: str) -> float:
        return float(self.classifier.predict([term])[0])

    def score_batch(self, batch: TextBatch) -> list[CivilityScore | None]:
        p_raw = np.zeros(len(batch.items))
        replies: dict[str, np.ndarray] = {}
        with_text = [i for i, item in enumerate(batch.items) if item.has_text]
        if with_text:  # photo-only posts have no civility: do not run the model on empty strings
            texts = [batch.texts[i] for i in with_text]
            if self.reply_heads is None:
                p_raw[with_text] = self.classifier.predict(texts, batch.embeddings[with_text])
            else:
                civility_embeddings, cold_logits = self.classifier.encode_and_predict(texts)
                p_raw[with_text] = 1.0 / (1.0 + np.exp(-cold_logits))
                items = [batch.items[i] for i in with_text]
                lexical = np.stack([lexical_features(item.full_text, item.parent_text, item.parent_is_newcomer)
                                    for item in items])
                if self.reply_heads.context_encoder == "civility":
                    dense = dense_features(civility_embeddings, None, self._parent_embeddings(items), cold_logits,
                                           lexical)
                else:
                    dense = dense_features(civility_embeddings, batch.embeddings[with_text],
                                           batch.parent_embeddings[with_text], cold_logits, lexical)
                for name, values in self.reply_heads.probabilities(texts, dense).items():
                    replies[name] = np.zeros(len(batch.items))
                    replies[name][with_text] = values
        p_offensive = self.calibration.apply(p_raw)
        relevance = np.einsum("ij,ij->i", batch.embeddings, batch.parent_embeddings)
        politeness = self.politeness.score(batch.embeddings)
        return [
            self._score(item, float(p_offensive[i]), float(p_raw[i]), float(relevance[i]), float(politeness[i]),
                        batch.features[i], {name: float(values[i]) for name, values in replies.items()})
            if item.has_text else None
            for i, item in enumerate(batch.items)
        ]

    def _parent_embeddings(self, items: list[TextItem]) -> np.ndarray:
        """The civility encoder's embedding of each item's parent (zeros without one); a parent is
        encoded once while it stays among the recently seen ones, however many of its replies come."""
        parents = [clean_text(item.parent_text) if item.parent_text else "" for item in items]
        out = np.zeros((len(items), self.classifier.encoder.dim), dtype=np.float32)
        with_parent = [i for i, parent in enumerate(parents) if parent]
        if with_parent:
            out[with_parent] = np.stack(self._parents.embed([parents[i] for i in with_parent]))
        return out

    def _lexicon_spans(self, item: TextItem) -> list[Span]:
        return [
            Span(start=hit.start, end=hit.end, label=hit.label, score=round(self._term_probability(hit.term), 6))
            for hit in self.lexicon.find(item.raw_text)
        ]

    def _attribution_spans(self, item: TextItem, p_offensive: float) -> list[Span]:
        """Words whose removal lowers P(offensive) by at least ATTRIBUTION_MIN_DROP (occlusion on the model)."""
        words = word_spans(item.raw_text)
        if p_offensive < ATTRIBUTION_MIN_P or not words:
            return []
        # Occlusion through the full model costs one encoder pass per word, so only the words the
        # cheap char n-gram part finds most offensive on their own are tried.
        prior = self.classifier.head.ngram_logits([item.raw_text[start:end] for start, end in words])
        ranked = sorted(range(len(words)), key=lambda i: (-prior[i], i))[:ATTRIBUTION_CANDIDATES]
        words = [words[i] for i in sorted(ranked)]
        variants = [TextItem(raw_text=item.raw_text[:start] + item.raw_text[end:], title=item.title).full_text
                    for start, end in words]
        p_without = self.classifier.predict(variants)
        return [
            Span(start=start, end=end, label="offensive", score=round(min(1.0, p_offensive - float(p)), 6))
            for (start, end), p in zip(words, p_without)
            if p_offensive - p >= ATTRIBUTION_MIN_DROP
        ]

    def _spans(self, item: TextItem, p_offensive: float) -> list[Span]:
        """Lexicon hits, plus model-attributed words that no lexicon hit already covers."""
        spans = self._lexicon_spans(item)
        for span in self._attribution_spans(item, p_offensive):
            if not any(s.start < span.end and span.start < s.end for s in spans):
                spans.append(span)
        return sorted(spans, key=lambda s: (s.start, s.end))

    def _score(self, item: TextItem, p_offensive: float, p_raw: float, relevance: float, politeness: float,
               features, reply: dict[str, float]) -> CivilityScore:
        spans = self._spans(item, p_raw)  # occlusion compares raw model outputs
        p_uncivil = reply.get("uncivil")
        called_uncivil = p_uncivil is not None and p_uncivil >= self.reply_heads.uncivil_at
        sarcasm = sarcasm_spans(item.raw_text) if called_uncivil else []
        spans = sorted(spans + [s for s in sarcasm if not any(o.start < s.end and s.start < o.end for o in spans)],
                       key=lambda s: (s.start, s.end))
        dismissive = [s for s in spans if s.label == "dismissive"]
        evidence = [f"P(offensive) = {p_offensive:.2f} (COLD-trained {self.classifier_name})"]
        if p_uncivil is not None:
            evidence.insert(0, f"P(对人不友善 / uncivil towards people) = {p_uncivil:.2f}")
        attack_words = [item.raw_text[s.start:s.end] for s in spans if s.label in ("insult", "profanity")]
        attributed = [item.raw_text[s.start:s.end] for s in spans if s.label == "offensive"]
        if attack_words:
            evidence.append(f"冒犯词语 / offensive words: {listed(attack_words)}")
        if attributed:
            evidence.append(f"模型关注的词 / words driving the call: {listed(attributed)}")
        if dismissive:
            evidence.append(f"敷衍打发 / dismissive: {listed([item.raw_text[s.start:s.end] for s in dismissive])}")
        if sarcasm:
            evidence.append(f"反讽 / sarcasm: {listed([item.raw_text[s.start:s.end] for s in sarcasm])}")
        if features.praise:
            evidence.append(f"鼓励感谢 / praise: {listed(features.praise)}")
        context: dict[str, float | dict[str, float]] = {
            "offensive_probability": round(p_offensive, 6),
            "offensive_probability_uncalibrated": round(p_raw, 6),
            "dismissive": float(len(dismissive)),
            "insult": float(len(attack_words)),
            "praise": float(len(features.praise)),
            "sarcasm": float(len(sarcasm)),
            "politeness": round(politeness, 6),
        }
        if item.parent_text:
            context["parent_relevance"] = round(max(0.0, relevance), 6)
            context["newcomer_parent"] = 1.0 if item.parent_is_newcomer else 0.0
        if p_uncivil is not None:
            context["uncivil_probability"] = round(p_uncivil, 6)
            context["constructive_probability"] = round(reply["constructive"], 6)
            if item.parent_text:  # a disagreement is with the message a reply answers
                context["disagreement"] = {"is_disagreement": round(reply["disagreement"], 6),
                                           "reasoned": round(reply["reasoned"], 6)}
        return CivilityScore(
            score=round(1.0 - p_offensive, 6),
            confidence=round(max(p_offensive, 1.0 - p_offensive), 6),
            evidence=evidence,
            spans=spans,
            context=context,
        )
