"""What a PromQL expression reads: the metric names it selects, the label names it matches on,
and the label names it groups or joins by.

A lexer, not a full parser: the judge only needs the names, and PromQL's grammar makes them
recognisable from the tokens around them (Prometheus 2.42 `promql/parser/lex.go`): an identifier
followed by `(` is a function or aggregation; one after `by`/`without`/`on`/`ignoring`/
`group_left`/`group_right` opens a label list; anything else that is not a keyword is a metric
name, optionally followed by `{matchers}`. Grafana's `$variables` are replaced by a value first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_KEYWORDS = {
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
    "group_left", "group_right", "atan2", "inf", "nan", "start", "end",
}
# Aggregation operators take their grouping clause before or after the argument (`sum by (x) (...)`).
_AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<range>\[[^\]]*\])
  | (?P<number>0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?(?:ms|[smhdwy])*)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=(){},@])
    """,
    re.VERBOSE,
)

# Grafana's built-in interval variables and dashboard variables: any value PromQL accepts there.
_GRAFANA_INTERVAL = re.compile(r"\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}")
_GRAFANA_VAR = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}?")


@dataclass
class Selector:
    """`metric{label=...}`: the metric name and the label names its matchers use."""

    metric: str
    labels: set[str] = field(default_factory=set)


@dataclass
class Usage:
    """What one expression reads."""

    selectors: list[Selector] = field(default_factory=list)
    grouping: set[str] = field(default_factory=set)  # by/without/on/ignoring/group_* label names

    @property
    def metrics(self) -> set[str]:
        return {s.metric for s in self.selectors}


def from_grafana(expr: str) -> str:
    """A Grafana query as plain PromQL: interval variables become `5m`, others `.*`-safe text."""
    expr = _GRAFANA_INTERVAL.sub("5m", expr)
    return _GRAFANA_VAR.sub("x", expr)


def tokens(expr: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if not match:
            raise ValueError(f"cannot read PromQL at {expr[pos:pos + 20]!r} in {expr!r}")
        pos = match.end()
        kind = match.lastgroup or ""
        if kind != "space":
            out.append((kind, match.group()))
    return out


def usage(expr: str) -> Usage:
    """Metric names, matcher label names and grouping label names of one expression."""
    toks = tokens(expr)
    result = Usage()
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1][1] if i + 1 < len(toks) else ""
        if kind == "ident" and text.lower() in _GROUPING:
            i += 1
            if i < len(toks) and toks[i][1] == "(":
                i += 1
                while i < len(toks) and toks[i][1] != ")":
                    if toks[i][0] == "ident":
                        result.grouping.add(toks[i][1])
                    i += 1
            i += 1
            continue
        if kind == "ident" and (nxt == "(" or text in _AGGREGATIONS) and text.lower() not in _KEYWORDS:
            i += 1  # a function or aggregation call
            continue
        if kind == "ident" and text.lower() not in _KEYWORDS:
            selector = Selector(text)
            i += 1
            if i < len(toks) and toks[i][1] == "{":
                i = _matchers(toks, i, selector)
            result.selectors.append(selector)
            continue
        if text == "{":  # `{__name__="x", ...}` without a leading name
            selector = Selector("")
            i = _matchers(toks, i, selector)
            result.selectors.append(selector)
            continue
        i += 1
    return result


def _matchers(toks: list[tuple[str, str]], i: int, selector: Selector) -> int:
    """Read `{a="x", b=~"y"}` starting at `{`; return the index after `}`."""
    i += 1
    while i < len(toks) and toks[i][1] != "}":
        kind, text = toks[i]
        if kind == "ident" and i + 2 < len(toks) and toks[i + 1][1] in ("=", "!=", "=~", "!~"):
            if text == "__name__" and toks[i + 1][1] == "=":
                selector.metric = toks[i + 2][1][1:-1]
            else:
                selector.labels.add(text)
            i += 3
            continue
        i += 1
    return i + 1
