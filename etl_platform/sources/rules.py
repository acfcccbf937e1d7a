"""Multi-column business rules: a small, safe expression language compiled to SQL.

A rule like `abs(amount_inr - quantity * unit_price_inr) <= 0.01` is tokenized and every token
checked: names must be declared columns, the rest numbers, operators, parentheses, `abs`,
`and`/`or`/`not`. Nothing else can reach SQL, so a spec cannot smuggle a statement in.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><=|>=|<>|!=|=|<|>|\+|-|\*|/|\(|\)|,))"
)
_KEYWORDS = {"and": "AND", "or": "OR", "not": "NOT", "abs": "abs", "null": "NULL", "is": "IS"}


class RuleError(ValueError):
    """An expression that is not in the rule language; the message says which token."""


def compile_rule(expression: str, columns: set[str]) -> str:
    """The expression as SQL over quoted column names, or RuleError."""
    parts: list[str] = []
    position = 0
    depth = 0
    while position < len(expression.rstrip()):
        match = _TOKEN.match(expression, position)
        if not match or match.end() == position:
            raise RuleError(f"unexpected text at {position}: {expression[position:][:20]!r}")
        position = match.end()
        number, name, op = match.group("number"), match.group("name"), match.group("op")
        if number is not None:
            parts.append(number)
        elif name is not None:
            keyword = _KEYWORDS.get(name.lower())
            if keyword is not None:
                parts.append(keyword)
            elif name in columns:
                parts.append(f'"{name}"')
            else:
                raise RuleError(f"{name!r} is not a declared column")
        else:
            depth += {"(": 1, ")": -1}.get(op, 0)
            if depth < 0:
                raise RuleError("unbalanced parentheses")
            parts.append("<>" if op == "!=" else op)
    if depth != 0:
        raise RuleError("unbalanced parentheses")
    if not parts:
        raise RuleError("empty expression")
    return " ".join(parts)
