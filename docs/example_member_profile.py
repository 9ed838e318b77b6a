"""The example member profile in the README (section "Members and tiers"): python docs/example_member_profile.py"""
import json
from datetime import datetime, timedelta, timezone
from quality.members.schemas import Activity, ProfileRequest
from quality.members.service import MemberService
from quality.schemas import Post, Parent
from quality.service import QualityService
CST = timezone(timedelta(hours=8))
now = datetime(2026, 11, 30, 22, 0, tzinfo=CST)
acts = [Activity(id=f"v{d}", at=now - timedelta(days=d, hours=3), kind="vote") for d in range(0, 60, 2)]
acts += [
 Activity(id="p1", at=now - timedelta(days=40), kind="post", post=Post(title="新手购车避坑指南（自己踩过的坑）", text="第一，先定预算再看车，别被销售带着加配置。第二，试驾至少三款，高速和烂路都要跑。第三，合同里看清金融服务费和精品包，不合理的当场拒绝。第四，提车验车按清单来：漆面、玻璃日期、轮胎日期、里程。")),
 Activity(id="p2", at=now - timedelta(days=25), kind="post", post=Post(title="本周六怀柔自驾，报名接龙", text="本周六上午9点奥森北门集合，路线怀柔—慕田峪—红螺寺，费用AA，名额20个，报名接龙。")),
 Activity(id="p3", at=now - timedelta(days=10), kind="post", task={"id": "t-2026-11-long-trip", "tier": "advanced"}, post=Post(title="我的第一次长途旅行", text="从北京开到青岛，700公里，高速油耗6.2L，服务区充电排队半小时。")),
 Activity(id="r1", at=now - timedelta(days=12), kind="reply", other_member="m-newbie", post=Post(kind="reply", text="首保一般5000公里或6个月，先到为准，去4S店做比较稳妥，记得要保养记录。", parent=Parent(text="新手提问：第一次保养什么时候做？", author_is_newcomer=True))),
 Activity(id="r2", at=now - timedelta(days=5), kind="reply", other_member="m-photo", post=Post(kind="reply", text="这组夜景拍得真好，光轨很稳，学到了！", parent=Parent(text="晒几张夜里拍的车"))),
]
acts += [Activity(id=f"l{i}", at=now - timedelta(days=3 * i + 1), kind="like_received", other_member=f"m{i}") for i in range(6)]
svc = MemberService(QualityService())
p = svc.profile(ProfileRequest(member_id="m-1024", as_of=now, activities=acts))
print(p.model_dump_json(indent=2, exclude_none=True))
