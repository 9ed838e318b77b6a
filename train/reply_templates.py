"""Template-generated Chinese replies with their parents: weak training data for interpersonal civility.

COLD labels offensiveness about race, gender and region; a car community's incivility is mostly
aimed at the person answered. No licensed Chinese labels of that exist here, so these templates
write it: parents (questions, newcomers' questions, opinions, photo posts, write-ups, mistakes
owned up to) and replies of every kind in `data/replies/GUIDE.md` — insults, profanity, belittling,
dismissing newcomers, mocking work, sarcasm, attacks on disagreement, stereotypes — and the hard
negatives (blunt but fair criticism, reasoned disagreement, terse answers, banter, rough car
slang, praise, help).

The word lists were written for this generator from general knowledge of Chinese forum speech,
not from the team's hand-labelled replies (`data/replies/`): those are only ever used to measure
what a model trained on this learned (their dev split), never to write templates.

    python -m train.reply_templates --n 12000 --out /tmp/reply_templates.jsonl

Deterministic for a seed. Each row: parent, parent_author_is_newcomer, text, label, kind,
is_disagreement, reasoned (as the guide's fields).
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

# ----------------------------------------------------------------------------- topics
# Each topic: questions a member asks, facts a helpful answer gives, claims members argue about,
# and reasons a disagreement gives.
TOPICS = {
    "保养": {
        "questions": ["首保一般多少公里做？", "机油多久换一次比较合适？", "保养一定要去4S店吗？", "小保养都换些什么？",
                      "空调滤芯多久换？", "刹车油要换吗？几年一换？", "变速箱油需要换吗？"],
        "facts": ["首保一般5000公里或者6个月，哪个先到算哪个", "全合成机油一般7500到10000公里换一次", "保养手册上写得很清楚，按里程和时间先到为准",
                  "小保养就是机油机滤，大保养再加空滤空调滤和火花塞", "空调滤芯建议一年或者一万公里换，雾霾多的地方勤换",
                  "刹车油吸水，一般两年或者四万公里换一次", "变速箱油看车型，很多是六万公里检查"],
        "claims": ["保养必须去4S店，外面的店都不靠谱", "机油越贵越好", "新车根本不用磨合", "全合成机油可以一万五千公里再换"],
        "reasons": ["过了质保期去正规连锁店也一样，配件对就行", "机油标号对就行，贵的不一定适合你的发动机",
                    "手册写了前1500公里别急加速，磨合还是有必要的", "一万五太长了，城市拥堵工况建议缩短到八千左右"],
    },
    "油耗": {
        "questions": ["百公里油耗8个正常吗？", "冬天油耗为什么高这么多？", "市区油耗怎么降下来？", "跑高速油耗多少算正常？"],
        "facts": ["冬天热车时间长，油耗高一到两个是正常的", "市区堵车多油耗高，平稳给油能省不少", "高速保持90到110最省油",
                  "胎压低也会让油耗升高，先量一下胎压", "空调开着油耗会多0.5到1个"],
        "claims": ["这车油耗太高了根本没法开", "关空调开窗更省油", "加95比92省油", "混动车油耗都是吹出来的"],
        "reasons": ["高速上开窗风阻大，反而比开空调费油", "发动机压缩比要求92就加92，加95并不会更省",
                    "我实测两个月，市区5.1，高速5.8，跟宣传差不多", "看路况，我同款市区9个，高速6个，属于正常水平"],
    },
    "电车": {
        "questions": ["冬天续航掉多少？", "家里没有充电桩能买电车吗？", "电池衰减严重吗？", "快充伤电池吗？"],
        "facts": ["北方冬天续航一般打七折左右，开空调更多", "没有家充也能开，就是得常去公共桩", "正常用三年衰减一般在5%到10%",
                  "偶尔快充没关系，日常慢充对电池更友好", "低温时先预热电池再快充会快很多"],
        "claims": ["电车就是智商税", "油车永远比电车好", "电车冬天根本没法开", "电池五年就报废"],
        "reasons": ["算下来我一年电费比油费省了七八千", "我东北的，冬天续航打六五折，通勤完全够用",
                    "看质保，很多电池质保八年16万公里", "电车保养几乎不用花钱，长期成本低"],
    },
    "改装": {
        "questions": ["换轮毂会影响年检吗？", "贴膜选什么牌子好？", "改排气合法吗？", "换大尺寸轮胎要注意什么？"],
        "facts": ["轮毂尺寸不变一般不影响年检", "改排气声浪超标会被查，备案的件才合规", "换轮胎注意载重指数和速度级别",
                  "大灯改装要用有认证的透镜，不然年检过不了"],
        "claims": ["改装都是瞎折腾", "降低车身就是为了装", "原厂轮胎最好", "改排气不犯法"],
        "reasons": ["合规的改装能提升操控和舒适，不能一概而论", "降低车身重心低了过弯确实更稳", "原厂胎多数偏舒适，换性能胎抓地提升明显",
                    "法规对排气噪声有限值，超标被查要罚款"],
    },
    "驾驶": {
        "questions": ["倒车入库总是压线怎么办？", "高速超车要注意什么？", "坡道起步老溜车怎么办？", "雨天开车有什么技巧？"],
        "facts": ["倒车时看后视镜里车身和线的距离，慢一点多调整", "超车从左侧，超完打灯回原车道，别长时间占左道",
                  "坡起用手刹或者自动驻车，松刹车同时给点油", "雨天降速拉大车距，别急刹"],
        "claims": ["自动挡根本不用学", "开车就要快，慢了才危险", "跟车近一点不会被加塞", "新手就该买便宜车练手"],
        "reasons": ["车距太近追尾全责，安全距离还是要留", "速度越快刹车距离越长，这是物理",
                    "新手买什么车看预算，安全配置更重要", "自动挡也要熟悉坡道和倒车，练练没坏处"],
    },
    "买车": {
        "questions": ["二十万预算买什么车？", "加价提车值得吗？", "落地价怎么谈？", "二手车怎么看事故？"],
        "facts": ["先定需求，家用看空间和油耗，再比配置", "加价不值，等两三个月一般就不加了", "多跑几家店比价，金融和保险分开谈",
                  "看A柱B柱有没有钣金痕迹，查维保记录"],
        "claims": ["国产车质量不行", "合资车就是买个标", "买车一定要全款", "二手车都是坑"],
        "reasons": ["现在自主品牌三大件进步很大，故障率数据不比合资差", "贷款有免息政策的话比全款划算",
                    "正规渠道带检测报告的二手车风险没那么大", "我开国产车五年没大毛病，小问题都在质保里解决了"],
    },
    "自驾": {
        "questions": ["第一次跑长途要准备什么？", "318自驾什么季节去？", "高原开车要注意什么？", "跑长途多久休息一次？"],
        "facts": ["出发前检查胎压机油玻璃水，带好备胎工具", "318建议五月到十月去，冬天路况差", "高原上车子动力会下降，慢慢开别急",
                  "两小时左右进服务区休息一次"],
        "claims": ["小排量的车别去高原", "自驾游不如跟团", "长途一定要开SUV", "夜里开高速更快"],
        "reasons": ["涡轮车在高原动力衰减小，小排量涡轮也能上去", "夜里疲劳又看不清，事故率更高", "轿车只要底盘不太低，国道完全能走",
                    "我开1.5T轿车走过318，慢点开完全没问题"],
    },
    "事故": {
        "questions": ["追尾了怎么处理？", "小剐蹭要不要走保险？", "定损价格太低怎么办？", "被加塞撞了谁的责任？"],
        "facts": ["先开双闪放三角牌，拍照后挪车，报保险", "几百块的剐蹭自己修，走保险第二年保费涨", "对定损有异议可以申请复勘",
                  "加塞一般是变道方主责，有行车记录仪更好说"],
        "claims": ["小事故私了最划算", "女司机事故率高", "有行车记录仪就不会被讹", "全责就认倒霉"],
        "reasons": ["私了容易扯皮，金额大的还是走保险稳妥", "统计数据上男司机的事故率更高", "记录仪要角度对才有用，后装的也要检查",
                    "全责也可以跟保险公司协商维修方案"],
    },
    "摄影": {
        "questions": ["车怎么拍好看？", "夜景拍车用什么参数？", "手机拍车有什么技巧？", "什么时间拍车光线好？"],
        "facts": ["低机位三分之四侧拍最显车型", "夜景用三脚架，长曝光压低ISO", "手机拍车蹲低一点，别用广角畸变太大",
                  "日出后一小时和日落前一小时光线最好"],
        "claims": ["拍车一定要单反", "后期修图就是作假", "白色车最难拍", "正侧面最好看"],
        "reasons": ["现在手机夜景算法很强，构图对了比器材重要", "适当调色是表达，不是作假", "三分之四侧更有立体感，正侧面显得平"],
    },
}

# Photo posts and write-ups that members share, and mistakes they own up to (what sarcasm mocks).
PHOTO_POSTS = ["分享一张夕阳下的新车，随手拍的", "地库随手拍，灯光有点暗", "周末去海边拍了几张，大家看看", "换了新轮毂，发个照片",
               "雪地里拍的，冻死我了", "第一次用手机拍夜景，有点糊", "洗完车拍一张，锃亮", "拍了张车内氛围灯",
               "在山顶拍的，风景还行吧", "刚贴完膜，发图"]
WRITE_UPS = ["记录一下我的第一次长途自驾，三天一千二百公里", "提车三个月用车感受，优缺点都说说", "自己动手换了机油，记录一下过程",
             "冬季续航实测，零下十度跑了一百公里", "分享一下我的改装清单和花费", "新手第一次上高速的经历，有点紧张"]
MISTAKES = ["刚才倒车蹭了柱子，心疼死了", "加错油了，加了92，车要求95", "停车压线被贴条了", "忘关大灯电瓶没电了",
            "高速错过出口多绕了五十公里", "洗车的时候把天窗开着了", "第一次自己换雨刮，装反了", "导航没看清开进了单行道"]

NEWBIE_PREFIXES = ["新手求助，", "刚提车一周，", "小白问一下，", "第一次买车，", "萌新请教，", "刚拿驾照，", "新人报道，问个问题："]
PLAIN_PREFIXES = ["", "", "请问", "问一下，", "各位车友，", "大家帮忙看看，"]

# ----------------------------------------------------------------------------- reply vocabulary
YOU = ["你", "你", "你", "楼主", "lz", "这位", "兄弟", "哥们"]
INSULT_NOUNS = ["脑残", "智障", "傻逼", "SB", "sb", "蠢货", "废物", "白痴", "傻子", "猪脑子", "二百五", "憨批", "弱智", "沙雕",
                "神经病", "垃圾", "low货", "巨婴", "戏精", "喷子"]
INSULT_PREDICATES = ["脑子进水了吧", "是不是有病", "智商堪忧", "脑子被门夹了", "没长脑子", "是猪吗", "眼瞎啊", "怕不是个傻子",
                     "有毛病吧", "真是蠢到家了", "开车不带脑子", "活该", "就是个笑话", "不配开车"]
PROFANITY = ["操", "卧槽", "妈的", "他妈的", "TMD", "tm", "特么", "去你妈的", "滚你妈", "草"]
BELITTLE = ["你懂什么", "这都不懂还开车", "外行就别说话了", "就你这水平还好意思问", "穷就别买车", "连这都不知道", "你也配谈车",
            "一看就没开过车", "小学生都知道", "你这种人买什么车", "别丢人现眼了", "这种水平也敢上路"]
DISMISS = ["自己搜", "百度一下会死啊", "说明书不会看吗", "这种问题也好意思问", "伸手党", "问之前先搜搜行不行", "懒得回你",
           "别在这问了", "论坛搜一下全是答案", "又是这种问题，烦不烦", "问这种问题不嫌丢人", "自己不会查？"]
MOCK_WORK = ["这也叫照片？", "拍的什么玩意", "手机都拿不稳吧", "这构图辣眼睛", "开成这样也敢发出来", "这停车水平堪忧",
             "改成这样真丑", "土得掉渣", "这也好意思晒", "审美堪忧", "什么破技术", "糊成这样还发", "浪费流量"]
SARCASM = ["您可真是天才", "大师啊", "厉害了我的哥", "佩服佩服", "真是学到了", "不愧是老司机", "建议申请专利", "666",
           "真是人才", "高手在民间", "这操作我服了", "您说得都对", "您开心就好", "长见识了"]
SARCASM_HINTS = ["这都能搞错", "下次记得带脑子", "建议回驾校重学", "一般人干不出来", "这水平可以去开摄影展了", "这么懂怎么不去造车",
                 "压线停车也是一种艺术", "糊成这样也是一种风格", "我是想不到的", "全网独一份"]
ATTACK_DISAGREE = ["杠精", "水军滚", "收了多少钱", "被洗脑了吧", "键盘侠", "没开过就别逼逼", "你懂个屁", "买不起就黑", "脑残粉",
                   "又一个五毛", "喷子滚", "黑子别来", "吃了几碗饭就出来杠"]
STEREOTYPE_GROUPS = ["女司机", "河南人", "东北人", "开宝马的", "开奥迪的", "老头", "大妈", "新手", "开电车的", "开五菱的", "外地车",
                     "学生党", "开出租的"]
STEREOTYPE_PREDICATES = ["都这样", "果然又是", "就没一个会开车的", "素质就这样", "能不能别上路了", "就是马路杀手", "都是穷鬼",
                         "脑子都不好使", "天生开不好车"]

HELP_OPENERS = ["", "", "别急，", "不用担心，", "正常的，", "我来说下，", "说下我的经验：", "可以参考一下："]
HELP_CLOSERS = ["", "", "有问题再问。", "祝用车愉快！", "希望有帮助", "慢慢就熟了", "有不懂的随时问"]
DISAGREE_OPENERS = ["我不太同意，", "其实不一定，", "这个说法不太准确，", "我有不同看法，", "不完全是这样，", "恕我直言，",
                    "这点我持保留意见，", "我的情况正好相反，"]
BLUNT = ["这车隔音就是差", "这价格不值", "这4S店太坑了", "这设计真丑", "这车机卡得要命", "内饰塑料感太强", "后排空间太小了",
         "这标题党了吧", "这个配置真不行", "悬挂太硬了颠得慌", "这车毛病太多", "售后服务太差了"]
TERSE = ["多练", "看手册", "看项目", "正常", "去4S店", "换", "不用管", "能开", "0W-20", "一万公里", "别买", "等等党", "正常现象",
         "问销售", "看保养手册", "胎压", "没事", "买", "去店里看看", "以实际为准"]
BANTER = ["哈哈你又去洗车了", "土豪请客", "老司机带带我", "羡慕嫉妒恨", "你这是要起飞啊", "车比人贵系列", "又在炫车了哈哈",
          "下次聚会你开车", "凡尔赛了哈哈", "我酸了", "给大佬递茶", "这车我也想要，馋哭了", "晒车狂魔又来了"]
SLANG_SUBJECTS = ["这车", "这台", "这发动机", "这底盘", "新款", "这个变速箱", "这套动力"]
SLANG_PREDICATES = ["推背感太猛了", "刚度真不错", "弹射起步爽翻", "地板油干到200稳如老狗", "暴打同级", "吊打同价位", "吃胎是真吃",
                    "抖得要死", "太肉了", "虐菜没问题", "这杀价杀得狠", "烧机油有点严重", "拉缸了修了一万", "差点爆缸",
                    "过弯稳得一批", "动力猛得离谱", "秒杀一众合资"]
PRAISE = ["拍得真好", "这光线绝了", "写得太详细了，感谢分享", "学到了，谢谢", "这个构图很舒服", "太有用了，收藏了",
          "大佬用心了", "这颜色真好看", "改得很有品味", "谢谢耐心解答", "照片很有氛围感", "攻略很实用，点赞"]
CHAT = ["同意", "+1", "顶", "路过", "说得对", "确实", "有道理", "mark一下", "同款车，握手", "我也是这么想的", "围观", "坐等后续"]

EMOJI = ["", "", "", "😂", "🙄", "😅", "👍", "🤣", "😓", "[捂脸]", "[微笑]", "。。。", "！", "？？", "..."]


@dataclass
class Row:
    parent: str
    parent_author_is_newcomer: bool
    text: str
    label: str
    kind: str
    is_disagreement: bool
    reasoned: bool | None


class Generator:
    def __init__(self, seed: int = 13):
        self.rng = random.Random(seed)

    def pick(self, items):
        return self.rng.choice(items)

    def maybe(self, p: float) -> bool:
        return self.rng.random() < p

    def tail(self) -> str:
        return self.pick(EMOJI)

    # -- parents -------------------------------------------------------------------------------
    def question(self, newcomer: bool) -> tuple[str, str, bool]:
        topic = self.pick(list(TOPICS))
        prefix = self.pick(NEWBIE_PREFIXES) if newcomer else self.pick(PLAIN_PREFIXES)
        return topic, prefix + self.pick(TOPICS[topic]["questions"]), newcomer

    def opinion(self) -> tuple[str, str]:
        topic = self.pick(list(TOPICS))
        claim = self.pick(TOPICS[topic]["claims"])
        return topic, self.pick(["", "说句实话，", "我觉得", "个人观点：", "不服来辩，"]) + claim

    def showcase(self) -> tuple[str, bool]:
        if self.maybe(0.6):
            return self.pick(PHOTO_POSTS), self.maybe(0.3)
        return self.pick(WRITE_UPS), self.maybe(0.3)

    # -- replies -------------------------------------------------------------------------------
    def uncivil(self, kind: str) -> Row:
        you = self.pick(YOU)
        if kind == "dismissing_newcomer":
            _, parent, newcomer = self.question(newcomer=True)
            text = self.pick(DISMISS) + self.pick(["", "，" + self.pick(BELITTLE), "，" + self.pick(INSULT_PREDICATES)]) \
                if self.maybe(0.4) else self.pick(DISMISS)
            return Row(parent, newcomer, text + self.tail(), "uncivil", kind, False, None)
        if kind == "mocking_work":
            parent, newcomer = self.showcase() if self.maybe(0.8) else (self.pick(MISTAKES), False)
            text = self.pick(MOCK_WORK) + self.pick(["", "", "，" + self.pick(["笑死", "哈哈哈", "丢人", "真的服了"])])
            return Row(parent, newcomer, text + self.tail(), "uncivil", kind, False, None)
        if kind == "sarcasm":
            parent, newcomer = (self.pick(MISTAKES), self.maybe(0.3)) if self.maybe(0.6) else self.showcase()
            opener = self.pick(SARCASM)
            text = opener + self.pick(["", "，", "！", "。"]) + (self.pick(SARCASM_HINTS) if self.maybe(0.7) else "")
            if self.maybe(0.3):
                text = self.pick(["呵呵，", "哟，", "啧啧，", "哇哦，"]) + text
            return Row(parent, newcomer, text + self.tail(), "uncivil", kind, False, None)
        if kind == "attack_on_disagreement":
            topic, parent = self.opinion()
            text = self.pick(ATTACK_DISAGREE)
            reasoned = False
            if self.maybe(0.3):  # a reason wrapped in an attack: still an attack on the person
                text = self.pick(TOPICS[topic]["reasons"]) + "，" + text
                reasoned = True
            elif self.maybe(0.4):
                text = text + "，" + self.pick(BELITTLE)
            return Row(parent, False, text + self.tail(), "uncivil", kind, True, reasoned)
        if kind == "stereotype":
            topic, parent = (self.opinion() if self.maybe(0.5) else (None, self.pick(MISTAKES)))
            text = self.pick(STEREOTYPE_GROUPS) + self.pick(STEREOTYPE_PREDICATES)
            return Row(parent, False, text + self.tail(), "uncivil", kind, False, None)
        # insult, profanity, belittling: to any parent
        parent_kind = self.rng.random()
        if parent_kind < 0.4:
            _, parent, newcomer = self.question(newcomer=self.maybe(0.4))
        elif parent_kind < 0.7:
            _, parent = self.opinion()
            newcomer = False
        else:
            parent, newcomer = self.showcase()
        disagreement = parent_kind >= 0.4 and parent_kind < 0.7
        if kind == "insult":
            text = self.pick([you + self.pick(INSULT_PREDICATES), self.pick(INSULT_NOUNS),
                              you + "就是个" + self.pick(INSULT_NOUNS), "问这种问题的都是" + self.pick(INSULT_NOUNS),
                              self.pick(INSULT_NOUNS) + "，" + self.pick(DISMISS)])
        elif kind == "profanity":
            text = self.pick(PROFANITY) + self.pick(["，", "", "！"]) + self.pick(
                [you + self.pick(INSULT_PREDICATES), "滚", "闭嘴吧" + you, "什么玩意", you + "懂个屁"])
        else:  # belittling
            text = self.pick(BELITTLE) + self.pick(["", "", "，" + self.pick(DISMISS), "，" + you + "还是多学学吧"])
        return Row(parent, newcomer, text + self.tail(), "uncivil", kind, disagreement, False if disagreement else None)

    def civil(self, kind: str) -> Row:
        if kind in ("helpful_answer", "patient_newcomer_help", "terse_answer"):
            newcomer = kind == "patient_newcomer_help" or self.maybe(0.3)
            topic, parent, newcomer = self.question(newcomer=newcomer)
            fact = self.pick(TOPICS[topic]["facts"])
            if kind == "terse_answer":
                return Row(parent, newcomer, self.pick(TERSE) + self.pick(["", "", "吧", "就行", "。"]), "neutral", kind,
                           False, None)
            text = self.pick(HELP_OPENERS) + fact + "。" + self.pick(HELP_CLOSERS)
            if kind == "patient_newcomer_help" and self.maybe(0.5):
                text = self.pick(["刚开始都这样，", "我刚提车也问过，", "新手很正常，"]) + text
            return Row(parent, newcomer, text, "constructive", kind, False, None)
        if kind == "reasoned_disagreement":
            topic, parent = self.opinion()
            text = self.pick(DISAGREE_OPENERS) + self.pick(TOPICS[topic]["reasons"]) + self.pick(
                ["。", "。仅供参考", "，可以再看看数据", "。个人经验", "。"])
            return Row(parent, False, text, "constructive", kind, True, True)
        if kind == "blunt_criticism":
            if self.maybe(0.5):
                _, parent = self.opinion()
                disagreement = True
            else:
                parent, _ = self.showcase()
                disagreement = False
            return Row(parent, False, self.pick(BLUNT) + self.tail(), "neutral", kind, disagreement,
                       False if disagreement else None)
        if kind == "banter":
            parent, newcomer = self.showcase()
            return Row(parent, newcomer, self.pick(BANTER) + self.tail(), "neutral", kind, False, None)
        if kind == "car_slang":
            topic, parent = self.opinion() if self.maybe(0.3) else (None, self.showcase()[0])
            text = self.pick(SLANG_SUBJECTS) + self.pick(SLANG_PREDICATES) + self.tail()
            return Row(parent, False, text, "neutral", kind, False, None)
        if kind == "praise":
            parent, newcomer = self.showcase()
            text = self.pick(PRAISE) + self.pick(["", "！", "👍", "，" + self.pick(SARCASM[:2]) + "，怎么拍的？"])
            return Row(parent, newcomer, text, "constructive", kind, False, None)
        # chat
        _, parent = self.opinion() if self.maybe(0.5) else (None, self.showcase()[0])
        return Row(parent, False, self.pick(CHAT) + self.tail(), "neutral", "chat", False, None)

    def rows(self, n: int) -> list[Row]:
        uncivil_kinds = ["insult", "profanity", "belittling", "dismissing_newcomer", "mocking_work", "sarcasm",
                         "attack_on_disagreement", "stereotype"]
        civil_kinds = ["helpful_answer", "patient_newcomer_help", "terse_answer", "reasoned_disagreement",
                       "blunt_criticism", "banter", "car_slang", "praise", "chat"]
        out, seen = [], set()
        attempts = 0
        while len(out) < n and attempts < 20 * n:
            attempts += 1
            row = (self.uncivil(self.pick(uncivil_kinds)) if self.maybe(0.45) else self.civil(self.pick(civil_kinds)))
            key = (row.parent, row.text)
            if key not in seen:
                seen.add(key)
                out.append(row)
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=12000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    rows = Generator(args.seed).rows(args.n)
    with open(args.out, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(asdict(row), ensure_ascii=False) + "\n")
    print(f"{len(rows)} rows -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
