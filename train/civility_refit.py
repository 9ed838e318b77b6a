"""`quality train civility-head`: adapt the civility model to your community's own labels.

    quality train civility-head --data labels.csv [--text-col text] [--label-col label]
                                [--holdout 0.2] [--out-models-dir DIR]

The fine-tuned encoder (LoRA adapter, ONNX build) stays as it is; what is refitted is the
head on top of it, on the fit part of your file (the held-out part, chosen by a hash of each
row's content, is never trained on) plus a replay sample of the original training data:

  0. replay: a file of your own labels rarely covers every kind of insult, and a head fitted on it
     alone learns "offensive = your new words" and forgets the rest. So a stratified sample of
     COLD train (`--replay`, default `<QUALITY_DATA_DIR>/civility/cold_train.csv`, `--replay-rows`)
     is fitted alongside, weighted so your rows and the replay rows count equally;
  1. two new logistic regressions on those rows: one on the fine-tuned embedding, one on char
     1-3-gram TF-IDF (your community's words: slang, nicknames, brand in-jokes), each with C chosen
     by cross-validation, and their out-of-fold logits;
  2. a stacker: logistic regression on those two out-of-fold logits with the current model's
     logit as a fixed offset (weight 1), so what the current model knows (COLD's insults) is kept
     and only what your labels add or correct is learned on top of it;
  3. everything is linear in (embedding, n-gram features), so the stack folds into one head of the
     same format (`head.npz`): serving code, ONNX build and latency are unchanged.

The stacker is a logistic regression fitted on out-of-fold logits, so its probabilities are
calibrated on your rows; the old calibration map belongs to the old head and is replaced by the
identity (refit it on other labels with `quality train calibration` if you have them).

Written: `civility-e5/head.npz`, `civility-e5/calibration.json`, the card `civility-e5/REFIT.md`,
`civility-e5/refit.json` (figures), and the manifest entries `civility-e5` and
`civility-calibration` (new versions, sha256), in the models folder (default) or in a copy of
it (`--out-models-dir`, so old and new can be compared side by side:
`quality eval --task civility --data labels.csv --holdout 0.2 --compare-models-dir models`).
Printed: old vs new on the held-out part (AUC, accuracy, F1, ECE and a paired bootstrap interval
of the AUC change) and, when `--check` (default COLD dev) is there, on a sample of it (did the
refit keep what the model knew?), as one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import date
from pathlib import Path

import numpy as np

from train.targets import add_refit_arguments, output_models_dir

FINETUNED_MODEL = "civility-e5"
CALIBRATION_MODEL = "civility-calibration"
MIN_FIT_ROWS = 40
MIN_CLASS_ROWS = 10
C_GRID = (0.1, 1.0, 10.0, 100.0)
STACKER_L2 = 1e-2  # on the two new logits' weights
ENCODE_BATCH = 64
SEED = 13


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="CSV, JSONL or Parquet with binary labels")
    parser.add_argument("--text-col", default="text")
    parser.add_argument("--label-col", default="label", help="1 = offensive")
    add_refit_arguments(parser)
    parser.add_argument("--replay", type=Path, default=None,
                        help="labelled rows of the original task fitted alongside (COLD format: TEXT, label); "
                             "default <QUALITY_DATA_DIR>/civility/cold_train.csv when it exists")
    parser.add_argument("--replay-rows", type=int, default=3000, help="stratified sample of the replay file")
    parser.add_argument("--no-replay", action="store_true", help="fit on your rows alone (the head may forget)")
    parser.add_argument("--check", type=Path, default=None,
                        help="labelled rows of the original task to check old vs new on (COLD format); default "
                             "<QUALITY_DATA_DIR>/civility/cold_dev.csv when it exists")
    parser.add_argument("--check-rows", type=int, default=1000)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _sample_cold(path: Path, rows: int, salt: str) -> tuple[list[str], np.ndarray]:
    """A stratified, seeded sample of a COLD-format file: (cleaned texts, labels)."""
    from sklearn.model_selection import train_test_split

    from quality.normalize import clean_text
    from train.datasets import read_cold

    records = read_cold(path)
    if rows < len(records):
        records, _ = train_test_split(records, train_size=rows, random_state=SEED + len(salt),
                                      stratify=[r.label for r in records])
    return [clean_text(r.text) for r in records], np.array([r.label for r in records])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _fit_lr(features, labels: np.ndarray, weights: np.ndarray, sparse: bool):
    """Weighted logistic regression with C chosen by 5-fold CV (log loss) on these rows only."""
    import warnings

    from sklearn.linear_model import LogisticRegressionCV

    with warnings.catch_warnings():  # scikit-learn 1.9 announces attribute changes; C_ is what is read
        warnings.simplefilter("ignore", FutureWarning)
        return LogisticRegressionCV(Cs=list(C_GRID), cv=5, scoring="neg_log_loss", max_iter=3000,
                                    solver="liblinear" if sparse else "lbfgs").fit(features, labels,
                                                                                    sample_weight=weights)


def _out_of_fold_logits(features, labels: np.ndarray, weights: np.ndarray, sparse: bool) -> tuple[np.ndarray, object]:
    """Each row's logit from a model fitted without it, and the model fitted on all rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    full = _fit_lr(features, labels, weights, sparse)
    out = np.zeros(len(labels))
    for fit_rows, test_rows in StratifiedKFold(5, shuffle=True, random_state=SEED).split(labels, labels):
        model = LogisticRegression(C=float(full.C_[0]), max_iter=3000, solver="liblinear" if sparse else "lbfgs")
        model.fit(features[fit_rows], labels[fit_rows], sample_weight=weights[fit_rows])
        out[test_rows] = model.decision_function(features[test_rows])
    return out, full


def fit_offset_logistic(offset: np.ndarray, features: np.ndarray, labels: np.ndarray, weights: np.ndarray
                        ) -> tuple[np.ndarray, float]:
    """Weights and intercept of P(y=1) = sigmoid(offset + features @ w + b), row-weighted, L2 on w
    (scipy L-BFGS)."""
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit

    sign = 2.0 * labels - 1.0

    def loss(params):
        z = offset + features @ params[:-1] + params[-1]
        residual = weights * (expit(z) - labels)
        value = -np.sum(weights * log_expit(sign * z)) + STACKER_L2 * np.sum(params[:-1] ** 2)
        gradient = np.append(features.T @ residual + 2 * STACKER_L2 * params[:-1], residual.sum())
        return value, gradient

    result = minimize(loss, np.zeros(features.shape[1] + 1), jac=True, method="L-BFGS-B")
    return result.x[:-1], float(result.x[-1])


def refit_head(head, texts: list[str], embeddings: np.ndarray, labels: np.ndarray, weights: np.ndarray):
    """The folded head (same class as `head`) and the stacker's coefficients."""
    from quality.text.civility_head import char_ngram_tfidf

    ngrams = char_ngram_tfidf(texts, head.idf)
    old = head.logits(texts, embeddings)
    embedding_oof, embedding_model = _out_of_fold_logits(embeddings.astype(np.float64), labels, weights, sparse=False)
    ngram_oof, ngram_model = _out_of_fold_logits(ngrams, labels, weights, sparse=True)
    (a_embedding, a_ngram), stacker_intercept = fit_offset_logistic(
        old, np.column_stack([embedding_oof, ngram_oof]), labels.astype(np.float64), weights)
    a_old = 1.0
    s_finetuned, s_ngram = head.stacker_coef
    weight = a_old * s_finetuned * head.weight.astype(np.float64) + a_embedding * embedding_model.coef_.ravel()
    ngram_coef = a_old * s_ngram * head.ngram_coef.astype(np.float64) + a_ngram * ngram_model.coef_.ravel()
    intercept = (a_old * (s_finetuned * head.bias + s_ngram * head.ngram_intercept + head.stacker_intercept)
                 + a_embedding * embedding_model.intercept_[0] + a_ngram * ngram_model.intercept_[0]
                 + stacker_intercept)
    folded = type(head)(weight=weight.astype(np.float32), bias=0.0, stacker_coef=np.array([1.0, 1.0]),
                        stacker_intercept=float(intercept), idf=head.idf,
                        ngram_coef=ngram_coef.astype(np.float32), ngram_intercept=0.0)
    coefficients = {"old_model": "offset (weight 1)", "embedding_lr": round(float(a_embedding), 4),
                    "ngram_lr": round(float(a_ngram), 4), "intercept": round(stacker_intercept, 4),
                    "embedding_lr_C": float(embedding_model.C_[0]), "ngram_lr_C": float(ngram_model.C_[0])}
    return folded, coefficients


def save_head(head, path: Path) -> None:
    np.savez_compressed(path, weight=head.weight.astype(np.float32), bias=np.float32(head.bias),
                        stacker_coef=np.asarray(head.stacker_coef, dtype=np.float64),
                        stacker_intercept=np.float64(head.stacker_intercept), idf=head.idf.astype(np.float16),
                        ngram_coef=head.ngram_coef.astype(np.float32), ngram_intercept=np.float64(head.ngram_intercept))


def _encode(encoder, texts: list[str], quiet: bool) -> np.ndarray:
    from tqdm import tqdm

    parts = [encoder.encode(texts[i:i + ENCODE_BATCH])
             for i in tqdm(range(0, len(texts), ENCODE_BATCH), desc="encoding", unit="batch", file=sys.stderr,
                           disable=quiet)]
    return np.vstack(parts) if parts else np.zeros((0, encoder.dim), dtype=np.float32)


def compare(labels: np.ndarray, p_old: np.ndarray, p_new: np.ndarray) -> dict:
    from eval.metrics import binary_metrics, bootstrap_interval

    def rounded(metrics: dict) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}

    def auc_change(y, old, new):
        before, after = binary_metrics(y, old)["auc"], binary_metrics(y, new)["auc"]
        return None if before is None or after is None else after - before

    return {"old": rounded(binary_metrics(labels, p_old)), "new": rounded(binary_metrics(labels, p_new)),
            "auc_change_ci95": bootstrap_interval(auc_change, labels, p_old, p_new)}


def _card(version: str, previous: str, data: Path, report: dict) -> str:
    old, new = report["held_out"]["old"], report["held_out"]["new"]
    rows = "\n".join(f"| {name} | {old[name]} | {new[name]} |" for name in ("auc", "accuracy", "f1", "ece"))
    return f"""# Model card: civility-e5 {version} (head refitted on local labels)

The fine-tuned e5 encoder of civility-e5 {previous} (see MODEL_CARD.md for its training on COLD)
with its head refitted by `quality train civility-head --data {data.name}` on {report['fit_rows']} labelled
rows (sha256 of the file {report['data_sha256'][:16]}…), {date.today().isoformat()}. {report['held_out_rows']}
rows of the file, chosen by a hash of their content (`--holdout {report['holdout']}`), were held out.

Stacker on out-of-fold logits: {json.dumps(report['stacker'])}

| held-out rows | before ({previous}, as served) | after ({version}) |
|---|---|---|
{rows}

AUC change, paired bootstrap 95 % interval: {report['held_out']['auc_change_ci95']}.
{_check_line(report)}
The calibration map is the identity for this head (its stacker is fitted on out-of-fold logits).
"""


def _check_line(report: dict) -> str:
    replay = report.get("replay")
    fitted = (f"Fitted alongside {replay['rows']} replay rows of {Path(replay['file']).name}."
              if replay else "Fitted on these rows alone (no replay of the original training data).")
    check = report.get("original_task_check")
    if not check:
        return fitted
    return (f"{fitted} On {check['old']['n']} rows of {Path(check['file']).name} (the original task): AUC "
            f"{check['old']['auc']} before, {check['new']['auc']} after (change 95 % interval "
            f"{check['auc_change_ci95']}).")


def _manifest_blocks(text: str, version: str, data: Path, report: dict, head_sha: str, calibration_sha: str
                     ) -> tuple[str, str]:
    """The civility-e5 entry with the new head, version, card and figures; the identity calibration entry."""
    from quality.manifest import refitted_entry_text

    held = report["held_out"]["new"]
    entry = refitted_entry_text(
        text, "civility-e5", version, "head", head_sha, "civility-e5/REFIT.md",
        f"Head refitted by quality train civility-head on {data.name}; figures on its held-out rows.",
        f"{{dataset: {data.name} held out, auc: {held['auc']}, accuracy: {held['accuracy']}, f1: {held['f1']}, "
        f"previous_auc: {report['held_out']['old']['auc']}}}")
    calibration = f"""  - name: {CALIBRATION_MODEL}
    kind: calibration
    version: "{version}-identity"
    description: Identity calibration of civility-e5 {version}, whose refitted head is calibrated by its stacker.
    licence: Apache-2.0
    card: civility-e5/REFIT.md
    files:
      - {{role: calibration, path: civility-e5/calibration.json, sha256: {calibration_sha}}}
    preprocessing:
      applies_to: "civility-e5 raw P(offensive); civility.score = 1 - calibrated P"
"""
    return entry, calibration


def main(args: argparse.Namespace, service=None) -> int:
    from eval.data import LabelFileError, read_labelled, split_holdout
    from quality.calibration import Calibration
    from quality.artifacts import sha256_file
    from quality.manifest import upsert_entry_text
    from quality.service import QualityService
    from quality.settings import Settings
    from quality.text.batch import TextItem
    from quality.text.civility import FineTunedClassifier

    def fail(message: str) -> int:
        print(f"quality train civility-head: {message}", file=sys.stderr)
        return 2

    service = service or QualityService(Settings(**({"models_dir": args.models_dir} if args.models_dir else {})))
    classifier = service.scorers["civility"].classifier
    if not isinstance(classifier, FineTunedClassifier):
        return fail("the models folder does not declare civility-e5; refitting the fallback head is "
                    "`python -m train.civility`")
    source = service.settings.models_dir
    try:
        target, copy = output_models_dir(args, source)
    except ValueError as error:
        return fail(str(error))
    try:
        data = read_labelled(args.data, text_col=args.text_col, label_col=args.label_col, label_range=(0, 1))
        fit, held = split_holdout(data, args.holdout)
    except LabelFileError as error:
        return fail(str(error))
    if data.skipped:
        print(f"skipped rows: {dict(data.skipped)}", file=sys.stderr)
    y_fit = np.array([int(r.label) for r in fit.rows])
    y_held = np.array([int(r.label) for r in held.rows])
    if len(y_fit) < MIN_FIT_ROWS or min(np.bincount(y_fit, minlength=2)) < MIN_CLASS_ROWS:
        return fail(f"need at least {MIN_FIT_ROWS} rows to fit, {MIN_CLASS_ROWS} of each label "
                    f"(got {len(y_fit)}: {np.bincount(y_fit, minlength=2).tolist()})")
    if len(y_held) == 0 or y_held.min() == y_held.max():
        return fail(f"the held-out part ({len(y_held)} rows) needs both labels; use more rows or a larger --holdout")

    def texts_of(rows):
        return [TextItem(raw_text=r.text, title=r.title or "").full_text for r in rows]

    fit_texts, held_texts = texts_of(fit.rows), texts_of(held.rows)
    data_dir = service.settings.data_dir / "civility"
    replay = None if args.no_replay else (args.replay or data_dir / "cold_train.csv")
    check = args.check or data_dir / "cold_dev.csv"
    if args.replay is not None and not args.replay.is_file():
        return fail(f"--replay {args.replay}: no such file")
    replay_texts, y_replay = _sample_cold(replay, args.replay_rows, "replay") if replay and replay.is_file() else ([], [])
    if check.is_file() and check.resolve() == Path(args.data).resolve():
        check = Path("")  # your file is the check file: its held-out part already is the check
    check_texts, y_check = _sample_cold(check, args.check_rows, "check") if check.is_file() else ([], [])
    if replay is not None and not replay_texts:
        print(f"no replay file at {replay}: fitting on your rows alone (the head may forget what it knew)",
              file=sys.stderr)
    texts = fit_texts + list(replay_texts)
    embeddings = _encode(classifier.encoder, texts + held_texts + list(check_texts), args.quiet)
    train_embeddings = embeddings[:len(texts)]
    held_embeddings = embeddings[len(texts):len(texts) + len(held_texts)]
    check_embeddings = embeddings[len(texts) + len(held_texts):]
    labels = np.concatenate([y_fit, np.asarray(y_replay, dtype=int)])
    # Your rows and the replay rows weigh the same in total, and the weights average 1.
    weights = np.concatenate([np.full(len(y_fit), 1.0), np.full(len(y_replay), len(y_fit) / max(1, len(y_replay)))])
    weights *= len(weights) / weights.sum()

    old_head = classifier.head
    calibration = service.scorers["civility"].calibration
    new_head, stacker = refit_head(old_head, texts, train_embeddings, labels, weights)
    p_old = calibration.apply(old_head.offensive_probability(held_texts, held_embeddings))
    p_new = new_head.offensive_probability(held_texts, held_embeddings)

    entry = service.store.entry(FINETUNED_MODEL)
    data_sha = sha256_file(args.data)
    version = f"{date.today().strftime('%Y.%m.%d')}-refit-{data_sha[:8]}"
    report = {"target": "civility-head", "version": version, "previous_version": entry.version,
              "data": str(args.data), "data_sha256": data_sha, "holdout": args.holdout, "fit_rows": len(y_fit),
              "held_out_rows": len(y_held), "skipped": dict(data.skipped), "stacker": stacker,
              "replay": {"file": str(replay), "rows": len(y_replay)} if len(y_replay) else None,
              "held_out": compare(y_held, p_old, p_new)}
    if len(y_check):
        report["original_task_check"] = {"file": str(check), **compare(
            np.asarray(y_check), calibration.apply(old_head.offensive_probability(check_texts, check_embeddings)),
            new_head.offensive_probability(check_texts, check_embeddings))}

    if copy:
        shutil.copytree(source, target)
    folder = target / "civility-e5"
    save_head(new_head, folder / "head.npz")
    Calibration("identity", version=f"{version}-identity",
                meta={"why": "the refitted head's stacker is fitted on out-of-fold logits"}
                ).save(folder / "calibration.json")
    (folder / "refit.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / "REFIT.md").write_text(_card(version, entry.version, args.data, report), encoding="utf-8")
    manifest = target / service.settings.manifest_file
    finetuned_block, calibration_block = _manifest_blocks(
        manifest.read_text(encoding="utf-8"), version, args.data, report, sha256_file(folder / "head.npz"),
        sha256_file(folder / "calibration.json"))
    upsert_entry_text(manifest, FINETUNED_MODEL, finetuned_block)
    upsert_entry_text(manifest, CALIBRATION_MODEL, calibration_block)

    old, new = report["held_out"]["old"], report["held_out"]["new"]
    print(f"\ncivility-e5 {version} (head refitted on {len(y_fit)} rows); held-out {len(y_held)} rows:\n"
          f"  AUC {old['auc']} -> {new['auc']} (change 95% CI {report['held_out']['auc_change_ci95']}), "
          f"accuracy {old['accuracy']} -> {new['accuracy']}, ECE {old['ece']} -> {new['ece']}\n"
          + (f"  original task ({report['original_task_check']['file']}, {len(y_check)} rows): AUC "
             f"{report['original_task_check']['old']['auc']} -> {report['original_task_check']['new']['auc']}\n"
             if len(y_check) else "") +
          f"wrote {folder} and the manifest entries {FINETUNED_MODEL}, {CALIBRATION_MODEL}; "
          "restart the service to use it", file=sys.stderr)
    print(json.dumps(report, ensure_ascii=False))
    return 0
