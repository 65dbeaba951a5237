"""Greetings, thanks and "who are you": answered with help text instead of a search of the reports.

A question counts as small talk only when it is made entirely of such phrases (with particles and
punctuation around them), so "你好，城管局做了什么" is still a question about the reports.
"""

from __future__ import annotations

import re

_GREETING = r"你好|您好|嗨|哈喽|哈啰|hello|hi|hey|早上好|上午好|中午好|下午好|晚上好|早安|晚安|在吗|在不在|有人吗"
_THANKS = r"谢谢你|谢谢您|感谢你|感谢您|谢谢|多谢|感谢|谢了|thanks|thank you|thx|辛苦了|好的|知道了|明白了|ok|okay|再见|拜拜|bye"
_WHO = (r"你是谁|您是谁|你是什么|你叫什么(?:名字)?|你能做什么|你可以做什么|你会什么|你能干什么|你有什么用"
        r"|怎么用|如何使用|怎么提问|帮助|help|介绍一下你自己|介绍下你自己|自我介绍")
_PUNCT = r"[\s,，.。!！?？~～、…:：;；]*"
_FILLER = rf"{_PUNCT}(?:啊|呀|呢|吧|哈|嘛|哦|喔|啦)*{_PUNCT}"
_PART = re.compile(rf"(?:(?P<greet>{_GREETING})|(?P<thanks>{_THANKS})|(?P<who>{_WHO})){_FILLER}", re.IGNORECASE)


def small_talk_kind(question: str) -> str | None:
    """"greet", "thanks" or "who" when the whole question is small talk; else ``None``."""
    text = question.strip().lower()
    kinds: list[str] = []
    leading = re.match(_PUNCT, text)
    pos = leading.end() if leading else 0
    while pos < len(text):
        m = _PART.match(text, pos)
        if not m or m.end() == pos:
            return None
        kinds.append(m.lastgroup)
        pos = m.end()
    if not kinds:
        return None
    return "who" if "who" in kinds else "greet" if "greet" in kinds else "thanks"


def help_text(examples: list[str]) -> str:
    sample = "；".join(f"“{e}”" for e in examples[:3])
    return f"我只根据已收录的工作报告原文回答问题，并给出引用出处。可以问某个部门做了什么、哪些部门提到某项工作，例如：{sample}。"


def small_talk_reply(question: str, examples: list[str]) -> str | None:
    kind = small_talk_kind(question)
    if kind is None:
        return None
    opening = {"greet": "您好！", "thanks": "不客气！", "who": "我是工作报告问答助手。"}[kind]
    return opening + help_text(examples)
