"""Prompts as data: the TOML files in `prompts/`, validated when loaded and rendered strictly.

A prompt file holds `description`, `variables` (the names it uses), and the `system` and `user` message
templates with `{name}` placeholders (`{{`/`}}` for literal braces). Loading checks every file
completely: required keys, no unknown keys, placeholders that are plain names, declared variables equal
to the ones used, and for the prompts the assistant renders, the variables it passes. Rendering fails on
a missing or an unexpected variable rather than sending a half-filled prompt to a model.

Prompt wording lives in the files (see prompts/README.md); this module never builds prompt text except
the conversation block (`format_history`), whose shape the files describe.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .answer import Message, Turn
from .errors import PromptError

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"

# The prompts the assistant renders, with exactly the variables it passes.
CONTRACTS: dict[str, frozenset[str]] = {
    "answer_enterprise": frozenset({"question", "sources", "as_of", "history"}),
    "answer_public": frozenset({"question", "sources", "as_of", "history"}),
    "condense": frozenset({"history", "question"}),
    "refusal": frozenset({"question", "reason", "sources", "as_of"}),
}
KEYS = ("description", "variables", "system", "user")
NO_HISTORY = "（无）"
_MARKER = re.compile(r"\[\d+\]")


@dataclass(frozen=True)
class Prompt:
    name: str
    description: str
    variables: frozenset[str]
    system: str
    user: str

    def render(self, **values: str) -> list[Message]:
        """[system, user] messages with every placeholder filled; values are inserted verbatim."""
        missing = self.variables - values.keys()
        extra = values.keys() - self.variables
        if missing or extra:
            problems = ([f"missing {', '.join(sorted(missing))}"] if missing else []) + (
                [f"unexpected {', '.join(sorted(extra))}"] if extra else [])
            raise PromptError(f"Prompt {self.name!r} takes {', '.join(sorted(self.variables))}: "
                              f"{'; '.join(problems)}")
        for key, value in values.items():
            if not isinstance(value, str):
                raise PromptError(f"Prompt {self.name!r}: variable {key!r} must be a str, "
                                  f"not {type(value).__name__}")
        return [Message("system", self.system.format_map(values).strip()),
                Message("user", self.user.format_map(values).strip())]


class PromptSet:
    """The loaded prompts, by name (the file name without .toml)."""

    def __init__(self, prompts: Mapping[str, Prompt]):
        self._prompts = dict(prompts)

    def __getitem__(self, name: str) -> Prompt:
        try:
            return self._prompts[name]
        except KeyError:
            raise PromptError(f"No prompt named {name!r}; there are {', '.join(sorted(self._prompts))}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._prompts

    @property
    def names(self) -> list[str]:
        return sorted(self._prompts)

    def render(self, name: str, **values: str) -> list[Message]:
        return self[name].render(**values)


def load_prompts(directory: Path | str = PROMPTS_DIR, required: Iterable[str] = tuple(CONTRACTS)) -> PromptSet:
    """Every `*.toml` in the directory, validated; a PromptError names the file and the problem."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PromptError(f"Prompt directory {directory} does not exist")
    prompts = {path.stem: _load(path) for path in sorted(directory.glob("*.toml"))}
    missing = [name for name in required if name not in prompts]
    if missing:
        raise PromptError(f"{directory}: missing prompt file(s) {', '.join(f'{n}.toml' for n in missing)}")
    return PromptSet(prompts)


def _load(path: Path) -> Prompt:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise PromptError(f"{path}: not UTF-8 text ({e.reason})") from e
    except tomllib.TOMLDecodeError as e:
        raise PromptError(f"{path}: not valid TOML: {e}") from e
    unknown = sorted(doc.keys() - set(KEYS))
    if unknown:
        raise PromptError(f"{path}: unknown key(s) {', '.join(unknown)}; a prompt file has {', '.join(KEYS)}")
    missing = [k for k in KEYS if k not in doc]
    if missing:
        raise PromptError(f"{path}: missing key(s) {', '.join(missing)}")
    for key in ("description", "system", "user"):
        if not isinstance(doc[key], str) or not doc[key].strip():
            raise PromptError(f"{path}: {key} must be a non-empty string")
    declared = doc["variables"]
    if not isinstance(declared, list) or not all(isinstance(v, str) and v.isidentifier() for v in declared):
        raise PromptError(f"{path}: variables must be a list of names, e.g. [\"question\", \"sources\"]")
    if len(set(declared)) != len(declared):
        raise PromptError(f"{path}: variables lists a name twice")
    used = _placeholders(path, "system", doc["system"]) | _placeholders(path, "user", doc["user"])
    declared = frozenset(declared)
    if used != declared:
        problems = []
        if used - declared:
            problems.append(f"used but not declared: {', '.join(sorted(used - declared))}")
        if declared - used:
            problems.append(f"declared but never used: {', '.join(sorted(declared - used))}")
        raise PromptError(f"{path}: variables do not match the placeholders ({'; '.join(problems)})")
    contract = CONTRACTS.get(path.stem)
    if contract is not None and declared != contract:
        raise PromptError(f"{path}: the assistant renders {path.stem!r} with {', '.join(sorted(contract))}; "
                          f"the file declares {', '.join(sorted(declared))}")
    return Prompt(path.stem, doc["description"].strip(), declared, doc["system"], doc["user"])


def _placeholders(path: Path, key: str, template: str) -> set[str]:
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as e:
        raise PromptError(f"{path}: {key} has a malformed placeholder ({e}); write {{{{ and }}}} for "
                          f"literal braces") from e
    names = set()
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise PromptError(f"{path}: {key} has placeholder {shown}; placeholders are plain names like "
                              f"{{question}}")
        names.add(name)
    return names


def format_history(turns: Sequence[Turn], max_turns: int = 4, max_answer_chars: int = 300) -> str:
    """The conversation block for `history`: the last turns as 用户/助手 lines, or （无）.

    Earlier answers lose their [n] markers: those numbers pointed at earlier sources, and a model
    would otherwise copy them onto this answer's sources.
    """
    lines = []
    for turn in list(turns)[-max_turns:] if max_turns > 0 else []:
        lines.append(f"用户：{' '.join(turn.question.split())}")
        if turn.answer:
            answer = " ".join(_MARKER.sub("", turn.answer).split())
            if len(answer) > max_answer_chars:
                answer = answer[:max_answer_chars] + "……"
            lines.append(f"助手：{answer}")
    return "\n".join(lines) or NO_HISTORY
