"""Chinese numerals as they appear in statutes: 第一千二百四十二条 ↔ 1242, 第二十条之一.

Only what statutes use: integers written with 零〇一二两三四五六七八九十百千万 and Arabic digits.
"""

from __future__ import annotations

import re

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
           "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
_CN_CHARS = "".join(_DIGITS) + "".join(_UNITS)
NUMERAL = rf"[{_CN_CHARS}0-9０-９]+"

# "第三十五 条" (a typo in one source file) and "第 99 条" still count as article numbers.
ARTICLE_NO = re.compile(rf"第\s*({NUMERAL})\s*条(?:\s*之\s*({NUMERAL}))?")


def cn_to_int(text: str) -> int:
    """Parse a Chinese or Arabic numeral; raises ValueError for anything else."""
    text = text.strip().translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    if not text:
        raise ValueError("empty numeral")
    if text.isdigit():
        return int(text)
    total, section, digit = 0, 0, None
    for ch in text:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
        elif ch in _UNITS:
            unit = _UNITS[ch]
            if unit == 10000:
                section = (section + (digit or 0)) * unit
                total += section
                section = 0
            else:
                section += (1 if digit is None else digit) * unit
            digit = None
        else:
            raise ValueError(f"not a Chinese numeral: {text!r}")
    return total + section + (digit or 0)


def int_to_cn(n: int) -> str:
    """1242 → 一千二百四十二; 10 → 十; 15 → 十五; 105 → 一百零五 (statute style)."""
    if n < 0 or n >= 100000:
        raise ValueError(f"out of range for article numbers: {n}")
    if n == 0:
        return "零"
    digits = "零一二三四五六七八九"
    parts: list[str] = []
    zero_pending = False
    for value, unit in ((10000, "万"), (1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d, n = divmod(n, value)
        if d:
            if zero_pending:
                parts.append("零")
            parts.append(digits[d] + unit)
            zero_pending = False
        elif parts:
            zero_pending = True
    out = "".join(parts)
    return out[1:] if out.startswith("一十") else out


def article_label(num: int, sub: int = 0) -> str:
    """(20, 1) → 第二十条之一."""
    label = f"第{int_to_cn(num)}条"
    return f"{label}之{int_to_cn(sub)}" if sub else label


def parse_article_no(text: str) -> tuple[int, int] | None:
    """'第二十条之一' → (20, 1); '99' / '99条' / '第99条' → (99, 0); None when no number is there."""
    text = text.strip()
    m = ARTICLE_NO.fullmatch(text) or ARTICLE_NO.match(text)
    if m:
        return cn_to_int(m.group(1)), (cn_to_int(m.group(2)) if m.group(2) else 0)
    m = re.fullmatch(rf"第?\s*({NUMERAL})\s*条?", text)
    if m:
        try:
            return cn_to_int(m.group(1)), 0
        except ValueError:
            return None
    return None
