"""Hand-written reply pairs (same parent; one constructive, one not), scored by the real models.

These are the project's own sentences, written to cover patient help to newcomers, praise,
reasoned disagreement, dismissiveness, insults, emotional attacks and sarcasm.
"""

from __future__ import annotations

import pytest

from quality.schemas import Parent, Post

NEWCOMER = True
PAIRS = [
    # (parent, parent author is a newcomer, constructive reply, unconstructive reply)
    ("新手提问：刚提车，第一次保养应该什么时候做？", NEWCOMER,
     "新手问题也别嫌烦，我来说下：保养周期看手册，一般首保5000公里或6个月，先到为准。",
     "这都不知道？自己去搜，别在这问"),
    ("请问冬天胎压打多少合适？", NEWCOMER,
     "冬天可以比夏天高0.1到0.2bar，具体看B柱上的标签，冷胎时测量最准。",
     "百度一下会死吗？天天问这种问题"),
    ("我觉得这车油耗偏高，市区要10个油。", False,
     "我不太同意，我同款车市区8.5L左右，可能和驾驶习惯、路况有关，可以试试提前松油门。",
     "你不会开车就别怪车，脑子有问题吧"),
    ("分享一组自驾川西的照片，拍得不好请见谅。", False,
     "拍得很漂亮！第三张的光线特别好，谢谢分享，下次我也想走这条线。",
     "拍成这样也好意思发出来？垃圾"),
    ("第一次跑长途，需要准备些什么？", NEWCOMER,
     "出发前检查轮胎、机油和刹车，带上拖车绳和急救包，每两小时休息一次，祝一路顺风！",
     "连这都要问，还跑什么长途，别出去祸害别人了"),
    ("这款车的车机卡顿怎么办？", False,
     "可以先试试重启车机，再看看有没有系统更新，我升级之后流畅了很多。",
     "买这破车活该，谁让你不买好车"),
    ("大家觉得2.0T和1.5T哪个更值？", False,
     "看用途：经常跑高速2.0T超车更从容，主要市区通勤1.5T更省油，我个人建议试驾两款再定。",
     "呵呵，穷就买1.5T，别在这装"),
    ("我刚入坑，请教一下怎么拍车更好看？", NEWCOMER,
     "欢迎！建议傍晚光线柔和的时候拍，蹲低一点从车头45度角拍，背景尽量简洁。",
     "你懂什么叫构图吗？先去学学再来问"),
    ("说实话，我觉得新款的外观不如老款。", False,
     "理解你的看法，新款前脸确实变化大，不过尾灯设计我更喜欢新款，各有所爱吧。",
     "你审美有问题，闭嘴吧"),
    ("求助：仪表盘亮了个黄色感叹号是什么意思？", NEWCOMER,
     "一般是胎压报警，先看看四个轮胎有没有亏气，如果胎压正常再去4S店读一下故障码。",
     "说明书不会看？懂不懂啊"),
    ("分享我的提车作业，纠结了三个月终于提了！", False,
     "恭喜提车！颜色选得真好看，祝用车愉快，有问题随时交流。",
     "就这？也值得发帖？"),
    ("请问这车后排能放下儿童座椅吗？", NEWCOMER,
     "可以的，我家就装了一个ISOFIX接口的座椅，空间还挺宽裕，建议带座椅去店里试装。",
     "自己去店里看啊，问我们有什么用"),
    ("有人说这车底盘异响是通病，是真的吗？", False,
     "我的车开了3万公里没遇到过，个别车可能有，建议去店里检查一下悬挂衬套。",
     "谣言你也信？智障"),
    ("第一次洗车打蜡，有什么要注意的？", NEWCOMER,
     "打蜡前一定要把车洗干净晾干，不要在太阳直射下打，薄涂一层就够了，加油！",
     "这种问题也要问，真是服了"),
    ("我觉得电车比油车更适合长途。", False,
     "各有优势吧：电车用车成本低，但长途要规划充电，我去年开电车跑了一趟西藏，沿途充电桩比想象的多。",
     "哟，电车长途？您可真是天才，排队充电排到天荒地老吧"),
    ("第一次参加车友会活动，有点紧张。", NEWCOMER,
     "别紧张，大家都很友好，到时候跟着车队走就行，有问题随时问我。",
     "紧张什么，没人在乎你"),
    ("我自己换了刹车片，分享一下过程。", False,
     "动手能力真强！步骤写得很清楚，请问你用的是原厂片还是副厂片？",
     "自己换刹车片？出了事别连累别人，外行就别瞎搞"),
    ("请问大家保险一般买哪几项？", NEWCOMER,
     "一般交强险加商业险，商业险里三者险建议至少200万，车损险新车最好买上，可以多比较几家。",
     "问保险公司去，这里又不是客服"),
    ("这车隔音真的差吗？我试驾感觉还行。", False,
     "高速上确实有些风噪，不过市区基本听不到，你试驾感觉还行的话应该能接受，可以再上高速试试。",
     "你耳朵有问题吧，这都听不出来"),
    ("刚拿驾照，想买辆二手车练手，有什么推荐？", NEWCOMER,
     "练手的话建议选保值、维修便宜的家用车，买之前一定找人查一下出险和维修记录。",
     "新手就别开车上路了，马路杀手"),
]


def signal(service, parent: str, newcomer: bool, text: str):
    return service.score(Post(kind="reply", text=text, parent=Parent(text=parent, author_is_newcomer=newcomer))).civility_signal


PAIR_IDS = [f"pair{i + 1}" for i in range(len(PAIRS))]


@pytest.mark.parametrize("parent, newcomer, constructive, unconstructive", PAIRS, ids=PAIR_IDS)
def test_constructive_reply_scores_higher(service, parent, newcomer, constructive, unconstructive):
    good, bad = signal(service, parent, newcomer, constructive), signal(service, parent, newcomer, unconstructive)
    assert good.score > bad.score, (good, bad)


@pytest.mark.parametrize("parent, newcomer, constructive, unconstructive", PAIRS, ids=PAIR_IDS)
def test_unconstructive_reply_is_not_labelled_constructive(service, parent, newcomer, constructive, unconstructive):
    """Pair 15 is a sarcastic put-down (您可真是天才): polite words, mocking intent."""
    assert signal(service, parent, newcomer, unconstructive).label != "constructive"


def test_replies_near_the_uncivil_threshold_carry_needs_review(service):
    """The review band is where the signal is least sure: every reply whose P(uncivil) is inside it
    is sent to people, none outside it is."""
    rubric = service.rubric.civility_signal
    replies = [(p, n, text) for p, n, g, b in PAIRS for text in (g, b)]
    signals = [signal(service, p, n, text) for p, n, text in replies]
    for s in signals:
        p_uncivil = s.probabilities["uncivil"]
        assert s.needs_review == (abs(p_uncivil - rubric.uncivil_at_or_above) <= rubric.review_margin), s
    flagged = [s for s in signals if s.needs_review]
    assert all("near_threshold" in s.reason_codes for s in flagged)


def test_the_newcomer_example_is_clearly_apart(service):
    parent, newcomer, good_text, bad_text = PAIRS[0]
    good, bad = signal(service, parent, newcomer, good_text), signal(service, parent, newcomer, bad_text)
    assert good.score - bad.score >= 0.3
    assert good.label == "constructive" and bad.label == "uncivil"


def test_most_pairs_are_labelled_the_right_side(service):
    """Labels, not only the order: most constructive replies are not uncivil and most bad ones are not constructive."""
    good = [signal(service, p, n, g).label for p, n, g, _ in PAIRS]
    bad = [signal(service, p, n, b).label for p, n, _, b in PAIRS]
    assert sum(label != "uncivil" for label in good) >= len(PAIRS) - 1
    # Regression guard at today's level (8 of 20 put-downs uncivil with civility-e5): COLD's
    # notion of offensive misses many car-forum put-downs, which then rest on the lexicon and
    # politeness signals; see the civility-e5 model card.
    assert sum(label == "uncivil" for label in bad) >= 8, list(zip(bad, [p[3] for p in PAIRS]))
    assert sum(label == "constructive" for label in good) >= 18
