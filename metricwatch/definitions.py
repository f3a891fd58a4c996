"""SageMaker `MetricDefinitions`: load, validate exactly as SageMaker does, warn on traps, compile.

Users paste what they already have: a JSON list of `{"Name", "Regex"}`, a JSON object that holds a
`MetricDefinitions` / `metric_definitions` list at any depth (an `AlgorithmSpecification`, tuner
kwargs), or the same in YAML or TOML. Limits are SageMaker's (API reference "MetricDefinition"):
Name 1–255 characters, Regex 1–500 characters, at most 40 definitions, and one capturing group.
"""

from __future__ import annotations

import json
import math
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regex

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 needs the backport
    import tomli as tomllib

from metricwatch.errors import PatternError

MAX_DEFINITIONS = 40
MAX_NAME = 255
MAX_REGEX = 500

# One float sub-pattern for every pack: sign, exponent, `1.`, `.5`, nan and ±inf (any case).
# ASCII digits only ([0-9], not \d, which also matches other scripts' digits in `regex`).
# The look-ahead stops `inf` from matching the start of `info`.
NUMBER = r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?(?i:nan|inf(?:inity)?)(?![A-Za-z])"
NUM_PLACEHOLDER = "{NUM}"

_KEYS = ("MetricDefinitions", "metric_definitions", "metricDefinitions", "metrics")


@dataclass(frozen=True, slots=True)
class MetricDefinition:
    """One metric: SageMaker's Name and Regex, and where it was defined (`file: entry N (name)`)."""

    name: str
    regex: str
    where: str = ""


def expand(pattern: str) -> str:
    """Replace the `{NUM}` placeholder with the shared NUMBER sub-pattern (non-capturing)."""
    return pattern.replace(NUM_PLACEHOLDER, f"(?:{NUMBER})")


def parse_number(text: str) -> float | None:
    """The float in `text`, or None when it is not exactly one number (never coerced).

    Accepts what training frameworks print: `1e-05`, `-0.5`, `+3`, `1.`, `.5`, `NaN`, `inf`, `-inf`.
    Python's own `float()` is stricter about nothing and looser about `1_000`, so the text must first
    match NUMBER in full.
    """
    # float() accepts exactly NUMBER's language plus `_` separators and non-ASCII digits, which
    # are excluded first; this is the hot path, so the regex is not run per value.
    if not text.isascii() or "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def is_finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))


# ---------------------------------------------------------------------------------------- loading


def load_definitions(path: str | Path) -> list[MetricDefinition]:
    """Read and validate a definitions file; raises PatternError naming the file and entry."""
    path = Path(path)
    data = _parse_file(path)
    entries = find_definitions(data)
    if entries is None:
        raise PatternError(
            "no metric definitions found",
            where=str(path),
            hint='expected a list of {"Name": ..., "Regex": ...} or an object with "MetricDefinitions"',
        )
    return validate(entries, str(path))


def read_text(path: Path, what: str = "file") -> str:
    """The UTF-8 text of a small configuration file, with clear errors for the usual mistakes."""
    if not path.exists():
        raise PatternError(f"{what} not found", where=str(path), hint="check the path")
    if path.is_dir():
        raise PatternError(f"is a directory, not a {what}", where=str(path), hint="give a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PatternError(f"cannot read: {exc.strerror}", where=str(path)) from exc
    if b"\x00" in data:
        raise PatternError("binary file (contains NUL bytes)", where=str(path), hint=f"give a text {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PatternError(
            f"not UTF-8 text (byte {exc.start})", where=str(path), hint=f"give a text {what}"
        ) from exc


def _parse_file(path: Path) -> Any:
    text = read_text(path, "definitions file")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PatternError(f"invalid TOML: {exc}", where=str(path)) from exc
    if suffix in (".yaml", ".yml"):
        return _parse_yaml(text, path)
    if suffix == ".json" or text.lstrip()[:1] in ("[", "{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise PatternError(
                f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                where=str(path),
                hint="SageMaker JSON doubles backslashes: \\\\d in JSON is the regex \\d",
            ) from exc
    return _parse_yaml(text, path)


def _parse_yaml(text: str, path: Path) -> Any:
    import yaml  # imported lazily: only YAML users pay for it

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PatternError(f"invalid YAML: {exc}", where=str(path)) from exc


def find_definitions(data: Any) -> list[Any] | None:
    """The definitions list in a parsed document: the document itself or the shallowest known key."""
    if isinstance(data, list):
        return data
    queue: deque[Any] = deque([data])
    while queue:
        node = queue.popleft()
        if isinstance(node, dict):
            for key in _KEYS:
                if isinstance(node.get(key), list):
                    return list(node[key])
            queue.extend(node.values())
        elif isinstance(node, list):
            queue.extend(node)
    return None


def validate(entries: list[Any], source: str) -> list[MetricDefinition]:
    """SageMaker's checks, in SageMaker's terms; the first failure raises PatternError."""
    if not entries:
        raise PatternError("the definitions list is empty", where=source)
    if len(entries) > MAX_DEFINITIONS:
        raise PatternError(
            f"{len(entries)} metric definitions; SageMaker allows at most {MAX_DEFINITIONS}",
            where=source,
            hint="remove the metrics you do not need (e.g. the train: ones)",
        )
    out: list[MetricDefinition] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries, start=1):
        definition = _validate_entry(entry, f"{source}: entry {index}")
        if definition.name in seen:
            raise PatternError(
                f"duplicate Name {definition.name!r}",
                where=definition.where,
                hint="each metric needs its own Name",
            )
        seen.add(definition.name)
        out.append(definition)
    return out


def _validate_entry(entry: Any, where: str) -> MetricDefinition:
    if not isinstance(entry, dict):
        raise PatternError(f"expected an object with Name and Regex, got {type(entry).__name__}", where=where)
    name = entry.get("Name", entry.get("name"))
    pattern = entry.get("Regex", entry.get("regex"))
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME:
        raise PatternError(
            f"Name must be a string of 1-{MAX_NAME} characters ({_describe(name)})",
            where=where,
            hint="shorten or add the Name",
        )
    where = f"{where} ({name})"
    if not isinstance(pattern, str) or not 1 <= len(pattern) <= MAX_REGEX:
        raise PatternError(
            f"Regex must be a string of 1-{MAX_REGEX} characters ({_describe(pattern)})",
            where=where,
            hint="SageMaker rejects longer regexes; use {NUM} or shorten it",
        )
    check_regex(pattern, where)
    return MetricDefinition(name, pattern, where)


def _describe(value: object) -> str:
    if value is None:
        return "missing"
    if isinstance(value, str):
        return f"got {len(value)} characters"
    return f"got {type(value).__name__}"


def check_regex(pattern: str, where: str) -> None:
    """Compile the (expanded) regex; exactly one capturing group."""
    try:
        compiled = regex.compile(expand(pattern))
    except regex.error as exc:
        raise PatternError(
            f"invalid regex {pattern!r}: {exc}", where=where, hint="fix the regex syntax"
        ) from exc
    if compiled.groups != 1:
        raise PatternError(
            f"regex {pattern!r} has {compiled.groups} capturing groups; exactly 1 is required",
            where=where,
            hint="wrap the value in (...) and make other groups non-capturing with (?:...)",
        )


# ------------------------------------------------------------------------- pattern text scanning


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # lit esc class open close flags quant alt anchor dot
    text: str
    start: int
    end: int
    depth: int  # nesting depth before the token
    capturing: bool = False


_GROUP_OPEN = regex.compile(r"\(\?(?:P?<(?![=!])[^>]*>|'[^']*'|<[=!]|[:=!>|]|P=\w+\)|[a-zA-Z^-]*[:)])")
_QUANT = regex.compile(r"(?:[*+?]|\{\d*,?\d*\})[?+]?")


def _tokens(pattern: str) -> list[_Token]:
    """A shallow tokenizer: enough structure to find the capture group and the literal runs."""
    out: list[_Token] = []
    i, depth = 0, 0
    while i < len(pattern):
        c = pattern[i]
        kind, end, capturing = "lit", i + 1, False
        if c == "\\":
            kind, end = "esc", min(i + 2, len(pattern))
        elif c == "[":
            kind, end = "class", _class_end(pattern, i)
        elif c == "(":
            m = _GROUP_OPEN.match(pattern, i)
            if m and m.group().endswith(")") and not m.group().startswith("(?P="):
                kind, end = "flags", m.end()
            else:
                kind, end = "open", m.end() if m else i + 1
                capturing = m is None or m.group().startswith(("(?P<", "(?<", "(?'"))
        elif c == ")":
            kind = "close"
        elif (m := _QUANT.match(pattern, i)) is not None:
            kind, end = "quant", m.end()
        elif c == "|":
            kind = "alt"
        elif c in "^$":
            kind = "anchor"
        elif c == ".":
            kind = "dot"
        if kind == "close":
            depth -= 1
        out.append(_Token(kind, pattern[i:end], i, end, depth, capturing))
        if kind == "open":
            depth += 1
        i = end
    return out


def _class_end(pattern: str, i: int) -> int:
    j = i + 1
    if pattern[j : j + 1] == "^":
        j += 1
    if pattern[j : j + 1] == "]":
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    return min(j + 1, len(pattern))


def _capture_span(tokens: list[_Token]) -> tuple[int, int, int] | None:
    """(index of the opening token, index of its closing token, depth) of the first capture group."""
    for k, tok in enumerate(tokens):
        if tok.kind == "open" and tok.capturing:
            for j in range(k + 1, len(tokens)):
                if tokens[j].kind == "close" and tokens[j].depth == tok.depth:
                    return k, j, tok.depth
            return None
    return None


_ESCAPED_LITERALS = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "v": "\v"}


def required_literal(pattern: str) -> str | None:
    """The longest literal that every match must contain (a cheap `in` prefilter), if any.

    Only top-level literal runs count; an alternation at top level or a case-insensitive flag
    means there is no such literal.
    """
    runs: list[str] = []
    run = ""
    for tok in _tokens(pattern):
        if tok.kind == "alt" and tok.depth == 0:
            return None
        if tok.kind == "flags" and "i" in tok.text.split(":")[0]:
            return None
        char = _literal_char(tok) if tok.depth == 0 else None
        if char is not None:
            run += char
            continue
        if tok.kind == "quant" and tok.depth == 0 and _optional(tok.text):
            run = run[:-1]  # the quantified character may be absent
        runs.append(run)
        run = ""
    best = max([*runs, run], key=len)
    return best if len(best) >= 2 else None


def _optional(quantifier: str) -> bool:
    return quantifier[0] in "*?" or quantifier.startswith(("{0", "{,"))


def _literal_char(tok: _Token) -> str | None:
    if tok.kind == "lit":
        return tok.text
    if tok.kind == "esc" and len(tok.text) == 2:
        c = tok.text[1]
        if c in _ESCAPED_LITERALS:
            return _ESCAPED_LITERALS[c]
        if not c.isalnum():
            return c
    return None


# ------------------------------------------------------------------------------------ the traps


def find_traps(definition: MetricDefinition) -> list[str]:
    """Warnings for regexes that are valid but likely to read the wrong number (never errors)."""
    pattern = expand(definition.regex)
    tokens = _tokens(pattern)
    span = _capture_span(tokens)
    warnings: list[str] = []
    prefix = f"{definition.where or definition.name}: "
    if span is not None:
        first, last, depth = span
        group = pattern[tokens[first].end : tokens[last].start]
        rest = pattern[tokens[last].end :]
        warnings += [prefix + w for w in _number_traps(group)]
        if depth == 0 and _lazy_empty(group, rest):
            warnings.append(
                prefix + f"the lazy group ({group}) with nothing required after it always captures"
                " the empty string; add a terminator after the group, e.g. (.*?); or use ({NUM})"
            )
    key = _unanchored_key(tokens)
    if key:
        warnings.append(
            prefix + f"the key {key!r} is not anchored, so it also matches inside longer keys such"
            f" as 'val_{key}'; put \\b, ^ or the separator before it (e.g. ' - {key}' or \\b{key})"
        )
    return warnings


def _fullmatches(group: str, text: str) -> bool:
    try:
        return regex.fullmatch(f"(?:{group})", text) is not None
    except regex.error:
        return False


def _number_traps(group: str) -> list[str]:
    if not _fullmatches(group, "0.5"):
        return []
    lost = [
        what
        for what, probe in (("exponent", "3.125e-05"), ("sign", "-0.5"))
        if not _fullmatches(group, probe)
    ]
    if not lost:
        return []
    return [
        f"the group ({group}) drops the {' and '.join(lost)} of numbers such as 3.125e-05 or -0.5"
        " (it would capture 1 or skip the line); use ({NUM}) or"
        r" [-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"
    ]


def _lazy_empty(group: str, rest: str) -> bool:
    if not regex.search(r"[*?}]\?$", group) or not _fullmatches(group, ""):
        return False
    try:
        return regex.fullmatch(rest or "", "") is not None
    except regex.error:
        return False


def _unanchored_key(tokens: list[_Token]) -> str | None:
    i = 0
    if len(tokens) >= 2 and tokens[0].kind == "dot" and tokens[1].kind == "quant":
        i = 2
    word = ""
    for tok in tokens[i:]:
        if tok.kind == "lit" and (tok.text.isalnum() or tok.text == "_"):
            word += tok.text
        else:
            break
    return word or None


# ------------------------------------------------------------------------------------ compiling

DEFAULT_TIMEOUT = 0.25  # seconds per match; a record that needs longer is skipped and reported

# SageMaker/CloudWatch escapes written into regexes; the framer decodes the same escapes in log
# text, so translating them here makes one regex match both the raw and the `#011` form.
_REGEX_ESCAPES = (("#011", r"\t"), ("#015", r"\r"), ("#010", r"\x08"))
# ESC never reaches a record (the framer strips ANSI), so `#033[J`-style sequences are dropped.
_ESC_SEQUENCE = regex.compile(r"#033(?:\\\[[0-9;]*[A-Za-z])?")
# SageMaker's Chainer example starts with `\[J` (the tail of `#033[J`): also stripped.
_LEADING_ERASE = regex.compile(r"^(\^?)\\\[J(?!\])")


@dataclass(frozen=True, slots=True)
class CompiledDefinition:
    """A definition ready to run: its compiled regex, prefilter literal and match strategy.

    `last` is True when the written regex began with a greedy `.*`: that prefix was removed (it made
    a search quadratic on long lines) and, since a greedy prefix moves the match to the last start
    position where the rest matches, the last of the overlapped matches is taken instead.

    `joined` is the same regex compiled to run once over many records joined by `\n` (MULTILINE, so
    `^`/`$` still match at each record's edges), or None when `joinable` cannot vouch for it.
    """

    definition: MetricDefinition
    pattern: regex.Pattern[str]
    last: bool
    literal: str | None
    joined: regex.Pattern[str] | None = None

    @property
    def name(self) -> str:
        return self.definition.name

    def capture(self, text: str, timeout: float | None = DEFAULT_TIMEOUT) -> str | None:
        """The captured text for `text`, or None; raises TimeoutError past `timeout` seconds."""
        if self.literal is not None and self.literal not in text:
            return None
        return self.capture_unfiltered(text, timeout)

    def capture_unfiltered(self, text: str, timeout: float | None = DEFAULT_TIMEOUT) -> str | None:
        """`capture` without the literal prefilter (the caller already checked it)."""
        match = None
        if self.last:
            for match in self.pattern.finditer(text, overlapped=True, timeout=timeout):  # noqa: B007
                pass
        else:
            match = self.pattern.search(text, timeout=timeout)
        return None if match is None else match.group(1)


# Zero-width constructs that look past a record's edge: in a joined text they would see the
# neighbouring record instead of the start or end of the string.
_EDGE_ESCAPES = frozenset({r"\A", r"\Z", r"\z", r"\G"})
_LOOKAROUNDS = ("(?=", "(?!", "(?<=", "(?<!")
# regex-module fuzzy matching ({e<=1} etc.) can insert or delete characters at a record's edge.
_FUZZY = regex.compile(r"\{[^}]*[edis]\s*[<=]")


def joinable(pattern: str) -> bool:
    r"""True when matching records joined by `\n` finds, in each record, what matching it alone finds.

    Why that holds for the patterns accepted here: with MULTILINE, `^`, `$`, `\b` and `\B` judge a
    `\n` as they judge the start or end of a string, and a path that consumes the `\n` yields a
    match crossing two records, which the caller detects and redoes record by record. What remains
    is what can *look* across the edge without consuming it: `\A \Z \z \G`, flags turned off
    inline (`(?-m)`), fuzzy matching, and lookarounds, except a lookaround of one character that
    cannot be `\n` (NUMBER's `(?![A-Za-z])`), which cannot tell a `\n` from the string's edge.
    """
    if _FUZZY.search(pattern):
        return False
    tokens = _tokens(pattern)
    for k, tok in enumerate(tokens):
        if tok.kind == "esc" and tok.text in _EDGE_ESCAPES:
            return False
        if tok.kind in ("flags", "open") and tok.text.startswith("(?") and "-" in tok.text:
            return False
        if tok.kind == "open" and tok.text in _LOOKAROUNDS and not _one_char_not_newline(tokens, k):
            return False
    return True


def _one_char_not_newline(tokens: list[_Token], k: int) -> bool:
    r"""Whether the lookaround opened at `tokens[k]` holds one literal, escape or class that rejects `\n`."""
    body = tokens[k + 1 : k + 3]
    if len(body) != 2 or body[0].kind not in ("lit", "esc", "class") or body[1].kind != "close":
        return False
    try:
        return regex.fullmatch(body[0].text, "\n") is None
    except regex.error:
        return False


def translate(pattern: str) -> str:
    """`{NUM}` expanded, SageMaker escapes mapped to the characters the framer produces."""
    pattern = _LEADING_ERASE.sub(r"\1", _ESC_SEQUENCE.sub("", expand(pattern)))
    for escape, replacement in _REGEX_ESCAPES:
        pattern = pattern.replace(escape, replacement)
    return pattern


def linearize(pattern: str) -> tuple[str, bool]:
    """Remove a leading `.*`/`^.*` (and a trailing `.*`) without changing the capture.

    Returns the pattern and whether the last match must be taken. A lazy leading `.*?` is removed
    too: `search` already finds the leftmost match. Patterns with a top-level `|` are left alone.
    """
    tokens = _tokens(pattern)
    if any(t.kind == "alt" and t.depth == 0 for t in tokens):
        return pattern, False
    start, last = 0, False
    i = 1 if tokens and tokens[0].text == "^" else 0
    if len(tokens) > i + 1 and tokens[i].kind == "dot" and tokens[i + 1].text in ("*", "*?"):
        start, last = tokens[i + 1].end, tokens[i + 1].text == "*"
    end = len(pattern)
    if len(tokens) >= 2 and tokens[-2].kind == "dot" and tokens[-1].text == "*":
        end = max(tokens[-2].start, start)  # a trailing greedy `.*` only pads the match
    return pattern[start:end], last


def compile_definition(definition: MetricDefinition) -> CompiledDefinition:
    """Compile for matching records; the definition must already be validated."""
    written = translate(definition.regex)
    linear, last = linearize(written)
    try:
        pattern = regex.compile(linear)
        joined = regex.compile(linear, regex.MULTILINE) if joinable(linear) else None
    except regex.error as exc:  # pragma: no cover - validated definitions compile
        raise PatternError(f"invalid regex: {exc}", where=definition.where) from exc
    return CompiledDefinition(definition, pattern, last, required_literal(linear), joined)
