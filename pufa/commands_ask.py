"""`python -m pufa ask`: one question (streamed to the terminal, or one JSON document), or a batch.

`--history FILE` is the conversation so far: a JSON list (or JSONL) of {"question", "answer"?}.
`--batch FILE` answers each JSONL row's `question` (with its `persona` if given) in one process and
prints one JSON document per line with the row's `id` added.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .answer import PERSONAS, FinalEvent, SourcesEvent, TextEvent, Turn
from .errors import InputError
from .settings import Settings


def _emit(doc: dict) -> None:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def read_rows(path: Path) -> list[dict]:
    """A JSON list or JSONL file of objects; a clear error naming the line that is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read {path}: {e}") from e
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"{path} is not valid JSON: {e}") from e
    else:
        rows = []
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise InputError(f"{path} line {i} is not valid JSON: {e}") from e
    if not all(isinstance(r, dict) for r in rows):
        raise InputError(f"{path}: every entry must be a JSON object")
    return rows


def read_history(path: Path | None) -> list[Turn]:
    if path is None:
        return []
    turns = []
    for row in read_rows(path):
        if not isinstance(row.get("question"), str):
            raise InputError(f"{path}: every history entry needs a \"question\" string")
        turns.append(Turn(row["question"], str(row.get("answer") or "")))
    return turns


def cmd_ask(args: argparse.Namespace) -> int:
    from .assistant import Assistant

    settings = Settings.from_env(index_dir=args.index_dir)
    if not args.batch and not args.question:
        raise InputError("give a question, or --batch FILE")
    assistant = Assistant.from_settings(settings)
    if args.batch:
        for row in read_rows(args.batch):
            persona = row.get("persona") or args.persona
            try:
                doc = assistant.ask(str(row.get("question", "")), persona).to_json()
            except InputError as e:
                doc = {"error": {"code": "bad_input", "message": str(e)}}
            _emit({"id": row.get("id")} | doc)
        return 0
    history = read_history(args.history)
    if args.json:
        _emit(assistant.ask(args.question, args.persona, history).to_json())
        return 0
    for event in assistant.stream(args.question, args.persona, history):
        if isinstance(event, TextEvent):
            sys.stdout.write(event.text)
            sys.stdout.flush()
        elif isinstance(event, FinalEvent):
            for notice in event.answer.notices:
                print(f"※ {notice}")
        elif isinstance(event, SourcesEvent):
            pass
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("ask", parents=[common], help="answer a question with cited articles")
    s.add_argument("question", nargs="?", help="the question, in Chinese")
    s.add_argument("--persona", choices=PERSONAS, default="enterprise")
    s.add_argument("--history", type=Path, help="conversation so far: JSON list or JSONL of {question, answer}")
    s.add_argument("--batch", type=Path, help="JSONL of {id, question, persona?}: one answer document per line")
    s.set_defaults(func=cmd_ask)
