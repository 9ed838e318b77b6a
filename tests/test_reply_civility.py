"""The reply-civility model and its data: replies read with their parents, the three-way signal,
disagreement, the team's labelled replies and `quality eval --task civility_signal`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eval.signal import evaluate_signal, signal_metrics
from quality.schemas import Parent, Post
from quality.text.reply_features import LEXICAL_NAMES, char_features, dense_features, lexical_features
from train.reply_data import OUT, check, split_of

# Put-downs quoted in the civility issue (measured on main before the reply model: the first two
# came out constructive, the third neutral with the reason 用语文明). Not in any training data.
PUT_DOWNS = [
    ("刚学会侧方停车，今天去商场试了一下", False, "压线还开什么车，回驾校重学吧"),
    ("周末拍的一组车照，大家给点意见", False, "哟，这构图，大师啊，建议直接去开摄影展"),
    ("大家觉得这款车的内饰怎么样？", False, "你们这些人懂什么，滚"),
]


def reply(service, parent: str, newcomer: bool, text: str):
    return service.score(Post(kind="reply", text=text, parent=Parent(text=parent, author_is_newcomer=newcomer)))


@pytest.mark.parametrize("parent, newcomer, text", PUT_DOWNS)
def test_the_issues_put_downs_are_uncivil_and_never_called_civil(service, parent, newcomer, text):
    signal = reply(service, parent, newcomer, text).civility_signal
    assert signal.label == "uncivil", signal
    assert "civil" not in signal.reason_codes and "用语文明" not in "".join(signal.reasons)
    assert abs(sum(signal.probabilities.values()) - 1.0) < 1e-5


def test_reasoned_disagreement_is_told_from_an_attack(service):
    parent = "我觉得这车油耗偏高，市区要10个油。"
    reasoned = reply(service, parent, False, "我不太同意，我同款车市区8.5L左右，可能和驾驶习惯、路况有关，可以试试提前松油门。")
    attack = reply(service, parent, False, "你不会开车就别怪车，收了多少钱来黑的，脑子有问题吧")
    for result in (reasoned, attack):
        assert result.dimensions.civility.context["disagreement"]["is_disagreement"] > 0.5
    assert reasoned.dimensions.civility.context["disagreement"]["reasoned"] > 0.5
    assert "reasoned_disagreement" in reasoned.civility_signal.reason_codes
    assert reasoned.civility_signal.label != "uncivil" and attack.civility_signal.label == "uncivil"


def test_a_post_without_a_parent_disagrees_with_nobody(service):
    result = service.score(Post(text="首先说结论：高速油耗6.2L，市区8.1L。缺点是胎噪偏大，建议换静音胎。"))
    assert "disagreement" not in result.dimensions.civility.context
    assert not {"reasoned_disagreement", "attack_on_disagreement"} & set(result.civility_signal.reason_codes)


def test_the_same_words_are_read_with_their_parent(service):
    """A reply's probabilities depend on what it answers (the parent's embedding is a feature)."""
    text = "大师啊，这张怎么拍的？"
    praised = reply(service, "夕阳下的新车，光线刚好，参数f/8 1/250", False, text).civility_signal.probabilities
    mocked = reply(service, "倒车蹭了柱子，拍了张照片，心疼", False, text).civility_signal.probabilities
    assert praised["uncivil"] != mocked["uncivil"]


def test_probabilities_do_not_depend_on_the_batch(service):
    posts = [Post(kind="reply", text=text, parent=Parent(text=parent, author_is_newcomer=newcomer))
             for parent, newcomer, text in PUT_DOWNS]
    together = service.score_each(posts)
    for post, result in zip(posts, together):
        alone = service.score(post).civility_signal.probabilities
        assert all(abs(alone[k] - result.civility_signal.probabilities[k]) < 1e-4 for k in alone)


def test_lexical_features_count_what_they_name():
    sarcastic = dict(zip(LEXICAL_NAMES, lexical_features("呵呵，您可真是天才🙄", "倒车蹭了柱子", False)))
    plain = dict(zip(LEXICAL_NAMES, lexical_features("保养看手册，5000公里一次。", None, True)))
    assert sarcastic["sarcasm"] > 0 and sarcastic["sarcastic_emoji"] > 0 and sarcastic["parent_mistake"] > 0
    assert sarcastic["sarcasm_x_parent_mistake"] > 0 and sarcastic["has_parent"] > 0
    assert plain["sarcasm"] == 0 and plain["has_parent"] == 0 and plain["newcomer_parent"] == 0
    assert plain["numbers_with_units"] > 0


def test_char_features_are_unit_rows():
    idf = np.ones(2**18, dtype=np.float32)
    rows = char_features(["你是不是傻", "", "ＡＢＣ"], idf)
    norms = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
    assert norms[0] == pytest.approx(1.0) and norms[1] == 0.0 and norms[2] == pytest.approx(1.0)


def test_the_teams_replies_are_valid_and_split_by_their_rule():
    rows = [json.loads(line) for line in OUT.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) >= 600 and check(rows) == []
    assert all(row["split"] == split_of(row["thread"]) for row in rows)
    for split in ("dev", "test"):
        written = [json.loads(line) for line in (OUT.parent / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]
        assert written == [row for row in rows if row["split"] == split]
    threads = {}
    for row in rows:
        threads.setdefault(row["thread"], set()).add(row["split"])
    assert all(len(splits) == 1 for splits in threads.values())  # no parent in two splits


def test_extra_training_replies_are_valid_and_never_repeat_an_evaluation_reply():
    from train.reply_data import EXTRA, check_extra, read_rows

    extra, replies = read_rows(EXTRA), read_rows(OUT)
    assert extra and not check_extra(extra, replies)
    evaluation = next(row for row in replies if row["split"] == "test")
    leaked = {**extra[0], "id": "leak-1", "text": evaluation["text"]}
    assert check_extra(extra + [leaked], replies) == ["leak-1: repeats a reply of replies.jsonl"]


@pytest.mark.parametrize("name", ["dev2", "dev3", "test2"])
def test_each_blind_dev_set_is_valid_and_shares_no_thread_or_reply_with_the_other_files(name):
    from train.reply_data import BLIND_SETS, EXTRA, beside, check_blind_dev, read_rows

    others = beside(name, read_rows(OUT), read_rows(EXTRA), {n: read_rows(path) for n, path in BLIND_SETS.items()})
    dev = read_rows(BLIND_SETS[name])
    assert len(dev) >= 200 and not check_blind_dev(dev, others, name)
    assert {row["label"] for row in dev} == {"uncivil", "neutral", "constructive"}
    assert {row["split"] for row in dev} == {name}
    test_row = next(row for row in others if row.get("split") == "test")
    leaked = {**dev[0], "id": "v-leak", "text": test_row["text"]}
    borrowed = {**dev[1], "id": "v-borrow", "thread": test_row["thread"], "parent": test_row["parent"]}
    unmarked = {**dev[2], "id": "v-unmarked", "split": "dev"}
    assert check_blind_dev(dev + [leaked, borrowed, unmarked], others, name) == [
        f"v-unmarked: rows of {name}.jsonl carry split {name}",
        f"v-borrow: thread {test_row['thread']} is another file's",
        "v-leak: repeats a reply of another file"]


@pytest.mark.parametrize("name", ["dev2", "dev3", "test2"])
def test_adding_extra_rows_drops_a_reply_of_a_blind_dev_set(tmp_path, name):
    from train.reply_data import BLIND_SETS, add_extra, read_rows

    dev_row = read_rows(BLIND_SETS[name])[0]
    part = tmp_path / "part.jsonl"
    new = {**dev_row, "id": "x-0001", "thread": "x-t001", "text": "新写的一条回复，谁都没见过"}
    part.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in
                              ({**dev_row, "id": "x-0002", "thread": "x-t001"}, new)) + "\n", encoding="utf-8")
    extra, dropped = add_extra([part], read_rows(OUT))
    assert dropped == 1 and extra[-1]["id"] == "x-0001" and all(row["id"] != "x-0002" for row in extra)


def test_signal_metrics_count_the_confusion():
    metrics = signal_metrics(["uncivil", "uncivil", "neutral", "constructive"],
                             ["uncivil", "neutral", "neutral", "uncivil"])
    assert metrics["confusion"]["matrix"] == [[1, 1, 0], [0, 1, 0], [1, 0, 0]]
    assert metrics["uncivil_precision"] == 0.5 and metrics["uncivil_recall"] == 0.5
    assert metrics["accuracy_3way"] == 0.5


def test_eval_civility_signal_on_a_small_labelled_file(service, tmp_path):
    rows = [
        {"text": parent_text_reply[2], "parent": parent_text_reply[0], "label": "uncivil", "kind": "put_down"}
        for parent_text_reply in PUT_DOWNS
    ] + [
        {"text": "别急，首保一般5000公里或者6个月，先到为准，手册上写着。", "parent": "新手，首保什么时候做？",
         "parent_author_is_newcomer": True, "label": "constructive", "kind": "help", "is_disagreement": False},
        {"text": "同意", "parent": "这车隔音一般", "label": "neutral", "kind": "chat"},
        {"text": "", "parent": "x", "label": "neutral"},  # skipped: empty
        {"text": "好", "parent": "x", "label": "rude"},  # skipped: not one of the three labels
    ]
    path = tmp_path / "replies.jsonl"
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    report = evaluate_signal(service, path, kind_col="kind", quiet=True)
    assert report["n"] == 5 and report["skipped"] == {"empty_or_invalid": 1, "label_not_one_of_three": 1}
    assert sum(map(sum, report["model"]["confusion"]["matrix"])) == 5
    assert report["model"]["uncivil_recall"] == 1.0  # the three put-downs
    kinds = {k["kind"]: k for k in report["kinds"]}
    assert kinds["put_down"]["uncivil_recall"] == 1.0 and kinds["help"]["called_uncivil"] == 0.0
    assert report["disagreement"]["n"] == 1


def test_civility_signal_on_the_ray_engine_is_refused_clearly(tmp_path, capsys):
    from api.cli import main

    path = tmp_path / "replies.jsonl"
    path.write_text(json.dumps({"text": "同意", "parent": "这车隔音一般", "label": "neutral"}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    assert main(["eval", "--task", "civility_signal", "--data", str(path), "--engine", "ray", "--quiet"]) == 2
    assert "--engine local" in capsys.readouterr().err


def test_uncivil_cut_off_is_the_best_f1_or_the_highest_recall_at_the_precision_asked():
    from types import SimpleNamespace

    from train.civility_replies import HEADS, fit_thresholds

    p_uncivil = np.array([0.9, 0.8, 0.7, 0.6, 0.35, 0.65, 0.3, 0.2, 0.1, 0.05])
    gold = ["uncivil"] * 5 + ["neutral"] * 5
    logits = {name: np.log(p_uncivil / (1 - p_uncivil)) for name in HEADS}
    identity = {name: [1.0, 0.0] for name in HEADS}
    data = SimpleNamespace(examples=[SimpleNamespace(label=label) for label in gold])
    # best F1: call all five put-downs and one neutral reply (P 0.83, R 1.0)
    assert fit_thresholds(logits, identity, data)["uncivil_at_or_above"] == 0.35
    # precision >= 0.9: only the three clearest (P 1.0, R 0.6), the cut-off nearest 0.5 that does it
    assert fit_thresholds(logits, identity, data, min_precision=0.9)["uncivil_at_or_above"] == 0.66
    # balanced: the worse of precision and recall is 0.83 at 0.31-0.35 (P 0.83, R 1.0), 0.8 at 0.36-0.60,
    # 0.6 at 0.66 — the rule takes the highest, nearest 0.5, whatever the precision asked for
    assert fit_thresholds(logits, identity, data, balanced=True)["uncivil_at_or_above"] == 0.35
    assert fit_thresholds(logits, identity, data, min_precision=0.9, balanced=True)["uncivil_at_or_above"] == 0.35


def test_dev_folds_keep_a_thread_together():
    from train.civility_replies import thread_folds
    from train.reply_sources import read_team_replies

    dev = read_team_replies("dev")
    folds = thread_folds(dev, 5)
    by_thread: dict[str, set] = {}
    for example, fold in zip(dev, folds):
        by_thread.setdefault(example.group, set()).add(int(fold))
    assert all(example.group for example in dev)
    assert all(len(found) == 1 for found in by_thread.values()) and len(set(folds.tolist())) == 5


def test_dense_features_hold_the_context_of_the_encoder_the_heads_name():
    """Sentence-encoder context: [civility, reply, parent, reply x parent, COLD, lexical]; civility
    context (no sentence pass): [civility, parent, civility x parent, COLD, lexical]."""
    rng = np.random.default_rng(0)
    civility, reply_, parent, lexical = (rng.normal(size=(3, d)).astype(np.float32) for d in (4, 5, 5, 2))
    civility_parent = rng.normal(size=(3, 4)).astype(np.float32)
    cold = np.array([0.5, -1.0, 2.0])
    sentence = dense_features(civility, reply_, parent, cold, lexical)
    assert sentence.shape == (3, 4 + 5 + 5 + 5 + 1 + 2)
    np.testing.assert_allclose(sentence[:, 14:19], reply_ * parent, rtol=1e-6)
    own = dense_features(civility, None, civility_parent, cold, lexical)
    assert own.shape == (3, 4 + 4 + 4 + 1 + 2)
    np.testing.assert_allclose(own[:, 4:8], civility_parent)
    np.testing.assert_allclose(own[:, 8:12], civility * civility_parent, rtol=1e-6)
    np.testing.assert_allclose(own[:, 12], cold, rtol=1e-6)


def test_reply_heads_trained_on_another_civility_encoder_are_refused(tmp_path):
    """The heads read civility-e5's embeddings: heads that recorded another encoder (another adapter)
    stop start-up; the served heads record the served encoder (adapter and distilled student)."""
    import hashlib
    import shutil

    from quality.artifacts import read_head_file, write_head_file
    from quality.errors import ModelIntegrityError
    from quality.model_store import ModelStore
    from quality.service import QualityService
    from quality.settings import PROJECT_ROOT, Settings
    from quality.text.civility import served_encoder_dirs
    from quality.text.civility_e5 import encoder_identity

    served_heads = PROJECT_ROOT / "models" / "civility-replies" / "heads.npz"
    arrays, meta = read_head_file(served_heads)
    assert meta["civility_encoder"] == encoder_identity(*served_encoder_dirs(ModelStore(Settings())))
    models = tmp_path / "models"
    shutil.copytree(PROJECT_ROOT / "models", models)
    heads = models / "civility-replies" / "heads.npz"
    write_head_file(heads, {**meta, "civility_encoder": "0" * 64}, **arrays)
    manifest = models / "manifest.yaml"
    old, new = (hashlib.sha256(path.read_bytes()).hexdigest() for path in (served_heads, heads))
    manifest.write_text(manifest.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    with pytest.raises(ModelIntegrityError, match="trained on another civility-e5 encoder"):
        QualityService(Settings(models_dir=models)).warm_up()


def test_multitask_reply_heads_read_the_parent_only_with_context():
    """`--context`: the reply tasks' logits change with the parent's embedding, the COLD (offensive)
    logit never does; without context no head reads a parent."""
    import torch
    import transformers

    from train.civility_multitask import MultiTaskModel

    torch.manual_seed(0)
    encoder = transformers.BertModel(transformers.BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1,
                                                             num_attention_heads=2, intermediate_size=16))
    ids, mask = torch.tensor([[2, 5, 7, 3], [2, 9, 3, 0]]), torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    one, other = torch.zeros(2, 8), torch.randn(2, 8)
    with torch.no_grad():
        model = MultiTaskModel(encoder, context=True).eval()
        a, b = model.all_logits(ids, mask, one), model.all_logits(ids, mask, other)
        assert a.shape == (2, 5) and torch.equal(a[:, 0], b[:, 0]) and not torch.allclose(a[:, 1:], b[:, 1:])
        plain = MultiTaskModel(encoder).eval()
        assert plain.task_heads["uncivil"].in_features == 8 and plain.all_logits(ids, mask).shape == (2, 5)
