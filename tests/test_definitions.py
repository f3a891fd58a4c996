"""SageMaker MetricDefinitions: loading, SageMaker's validation, traps, number parsing, compiling."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import regex

from metricwatch.definitions import (
    MetricDefinition,
    compile_definition,
    expand,
    find_traps,
    joinable,
    linearize,
    load_definitions,
    parse_number,
    required_literal,
    translate,
)
from metricwatch.errors import PatternError
from metricwatch.packs import load_pack

DATA = Path(__file__).parent / "data"
XGB_FILE = DATA / "sagemaker-xgboost-0.90-1.json"  # pasted from sagemaker-metric-definitions.json
LL_FILE = DATA / "sagemaker-linear-learner.json"  # a DescribeHyperParameterTuningJob-shaped object


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def defs_json(tmp_path: Path, entries: list[dict[str, str]]) -> Path:
    return write(tmp_path, "defs.json", json.dumps(entries))


# ------------------------------------------------------------------------------------ numbers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1e-05", 1e-05),
        ("-0.5", -0.5),
        ("+3", 3.0),
        ("1.", 1.0),
        (".5", 0.5),
        ("2.3456e+00", 2.3456),
        ("1.e-3", 0.001),
        ("inf", float("inf")),
        ("-inf", float("-inf")),
        ("Infinity", float("inf")),
        (" 0.25 ", 0.25),
    ],
)
def test_parse_number_reads_what_frameworks_print(text: str, expected: float) -> None:
    assert parse_number(text) == expected


def test_parse_number_reads_nan_in_any_case() -> None:
    for text in ("nan", "NaN", "-nan"):
        value = parse_number(text)
        assert value is not None and value != value


@pytest.mark.parametrize("text", ["", " ", "abc", "1.0}", "0.9%", "1,", "1_000", "--1", "e5", "."])
def test_parse_number_refuses_anything_else(text: str) -> None:
    assert parse_number(text) is None


@pytest.mark.parametrize(
    ("line", "captured"),
    [
        ("loss: 1e-05 -", "1e-05"),
        ("loss: -0.5", "-0.5"),
        ("loss: nan", "nan"),
        ("loss: 91%", "91"),
        ("loss: 0.5,", "0.5"),
        ("loss: inf", "inf"),
        ("loss: info", None),
    ],
)
def test_num_placeholder_captures_the_number_only(line: str, captured: str | None) -> None:
    compiled = compile_definition(MetricDefinition("loss", r"loss: ({NUM})"))
    assert compiled.capture(line) == captured


# ------------------------------------------------------------------------------------ loading


def test_load_plain_json_list(tmp_path: Path) -> None:
    path = defs_json(tmp_path, [{"Name": "val_loss", "Regex": r"val_loss: ([0-9\.]+)"}])
    (d,) = load_definitions(path)
    assert (d.name, d.regex) == ("val_loss", r"val_loss: ([0-9\.]+)")
    assert d.where == f"{path}: entry 1 (val_loss)"


def test_load_nested_algorithm_specification_object() -> None:
    definitions = load_definitions(LL_FILE)
    assert len(definitions) == 38
    assert definitions[3].name == "train:objective_loss"


def test_load_tuner_kwargs_style_key(tmp_path: Path) -> None:
    path = write(tmp_path, "t.json", json.dumps({"metric_definitions": [{"Name": "a", "Regex": "a=(.*?);"}]}))
    assert [d.name for d in load_definitions(path)] == ["a"]


def test_load_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "d.yaml", "MetricDefinitions:\n  - Name: loss\n    Regex: 'loss = (\\S+),'\n")
    assert [(d.name, d.regex) for d in load_definitions(path)] == [("loss", r"loss = (\S+),")]


def test_load_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "d.toml", "[[metrics]]\nName = 'acc'\nRegex = 'acc=({NUM})'\n")
    assert [d.name for d in load_definitions(path)] == ["acc"]


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{"Name": "x", "Regex": "x=([0-9"}], "invalid regex"),
        ([{"Name": "x", "Regex": "x=[0-9]+"}], "0 capturing groups"),
        ([{"Name": "x", "Regex": "x=([0-9]+(e-[0-9]+)?)"}], "2 capturing groups"),
        ([{"Name": "n" * 256, "Regex": "x=(.*?);"}], "Name must be a string of 1-255"),
        ([{"Name": "", "Regex": "x=(.*?);"}], "Name must be a string of 1-255"),
        ([{"Name": "x", "Regex": "(" + "a" * 499 + ")"}], "Regex must be a string of 1-500"),
        ([{"Name": "x"}], "Regex must be a string of 1-500 characters (missing)"),
        ([{"Name": "x", "Regex": "x=(.*?);"}] * 2, "duplicate Name"),
        (["x=(.*?);"], "expected an object with Name and Regex"),
        ([], "empty"),
    ],
)
def test_invalid_definitions_are_rejected_naming_the_entry(
    tmp_path: Path, entries: list[object], message: str
) -> None:
    path = defs_json(tmp_path, entries)  # type: ignore[arg-type]
    with pytest.raises(PatternError) as info:
        load_definitions(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_error_names_index_and_name(tmp_path: Path) -> None:
    path = defs_json(tmp_path, [{"Name": "ok", "Regex": "a=(.*?);"}, {"Name": "bad", "Regex": "b=[0-9]"}])
    with pytest.raises(PatternError, match=r"entry 2 \(bad\)") as info:
        load_definitions(path)
    assert "(?:...)" in info.value.hint


def test_limits_are_inclusive(tmp_path: Path) -> None:
    entries = [{"Name": f"m{i}" + "n" * 250, "Regex": f"m{i}=(" + "a" * 480 + ")"} for i in range(40)]
    assert len(load_definitions(defs_json(tmp_path, entries))) == 40


def test_41_definitions_are_rejected(tmp_path: Path) -> None:
    entries = [{"Name": f"m{i}", "Regex": f"m{i}=(.*?);"} for i in range(41)]
    with pytest.raises(PatternError, match="41 metric definitions; SageMaker allows at most 40"):
        load_definitions(defs_json(tmp_path, entries))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bin.json", bytes(range(256)) * 4, "binary file"),
        ("nul.json", b"\x00" * 4096, "binary file"),
        ("latin.json", b'[{"Name": "\xe9"}]', "not UTF-8"),
        ("bad.json", '[{"Name": "x", "Regex": "\\d"}]', "invalid JSON"),
        ("other.json", '{"foo": 1}', "no metric definitions found"),
        ("bad.toml", "[[metrics]\n", "invalid TOML"),
    ],
)
def test_unreadable_files_get_clear_errors(
    tmp_path: Path, name: str, content: str | bytes, message: str
) -> None:
    path = write(tmp_path, name, content)
    with pytest.raises(PatternError, match=message) as info:
        load_definitions(path)
    assert info.value.where == str(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(PatternError, match="not found"):
        load_definitions(tmp_path / "nope.json")
    with pytest.raises(PatternError, match="is a directory"):
        load_definitions(tmp_path)


# -------------------------------------------------------------------------------------- traps


def traps(pattern: str) -> list[str]:
    return find_traps(MetricDefinition("m", pattern, "f: entry 1 (m)"))


def test_digits_and_dots_group_warns_about_exponent_and_sign() -> None:
    (warning,) = [w for w in traps(r" - val_loss: ([0-9\.]+)") if "drops" in w]
    assert "exponent and sign" in warning and warning.startswith("f: entry 1 (m): ")


def test_broken_hf_fix_warns() -> None:
    assert any("exponent" in w for w in traps(r"'loss': ((?:[0-9]+(?:.|e\-)[0-9]+))"))


def test_lazy_group_without_terminator_warns_and_with_terminator_does_not() -> None:
    assert any("empty string" in w for w in traps(r"\bF1=(.*?)"))
    assert not any("empty string" in w for w in traps(r"\bF1=(.*?);"))


def test_unanchored_key_warns_and_anchored_key_does_not() -> None:
    assert any("'loss'" in w and "val_loss" in w for w in traps(r"loss: ({NUM})"))
    assert any("'loss'" in w for w in traps(r".*loss: ({NUM})"))
    assert traps(r"\bloss: ({NUM})") == []
    assert traps(r" - loss: ({NUM})") == []


def test_sagemaker_builtins_raise_no_traps() -> None:
    for d in load_definitions(XGB_FILE) + load_definitions(LL_FILE):
        assert find_traps(d) == [], d.name


# ---------------------------------------------------------------------------------- compiling


def test_tab_escape_in_regex_matches_a_real_tab() -> None:
    assert translate("#011train-rmse:(.+)") == r"\ttrain-rmse:(.+)"


def test_erase_sequence_from_sagemaker_chainer_regex_is_dropped() -> None:
    assert translate(r"\[J1\s+(\d\.\d+)") == r"1\s+(\d\.\d+)"
    assert translate(r"#033\[J1\s+(\d)") == r"1\s+(\d)"


def test_linearize_strips_greedy_and_lazy_prefixes() -> None:
    assert linearize(r".*\[[0-9]+\].*x:(\d).*") == (r"\[[0-9]+\].*x:(\d)", True)
    assert linearize(r"^.*x:(\d)") == (r"x:(\d)", True)
    assert linearize(r".*?x:(\d)") == (r"x:(\d)", False)
    assert linearize(r".*x|y(\d)") == (r".*x|y(\d)", False)
    assert linearize(r"\.*x(\d)") == (r"\.*x(\d)", False)


def test_required_literal() -> None:
    assert required_literal(r"\[[0-9]+\].*\ttrain-rmse:(\d)") == "\ttrain-rmse:"
    assert required_literal(r"a|b(\d)") is None
    assert required_literal(r"(?i)loss=(\d)") is None
    assert required_literal(r"losses?=(\d)") == "losse"


SHORT_LINES = [
    "[0]\ttrain-rmse:19.6015\tvalidation-rmse:19.9713",
    "[3]\ttrain-rmse:1e-05\tvalidation-rmse:-0.5\ttrain-rmse:7",
    "[1]\ttrain-rmse:1\t[2]\ttrain-rmse:2\tvalidation-rmse:.5",
    "train-rmse:3\t[4]\ttrain-rmse:4",
    "[5] no fields\ttrain-error:0.1\tvalidation-error:0.2\tvalidation-error:0.3",
    "\ttrain-mae:5 [6]",
    "[7]\ttrain-merror:0.25\tvalidation-merror:0.5\ttrain-auc:0.9\tvalidation-auc:0.8",
    "[8]\ttrain-logloss:0.1\tvalidation-logloss:0.2\tvalidation-map:0.3\ttrain-ndcg:1",
    "#quality_metric: host=algo-1, epoch=0, train binary_classification_cross_entropy_objective"
    " <loss>=0.595682421003",
    "#quality_metric: host=algo-1, validation binary_classification_cross_entropy_objective <loss>=0.17",
    "#quality_metric: host=algo-1, test binary_f_beta <score>=0.9"
    " #quality_metric: host=algo-2, test binary_f_beta <score>=0.8",
    "#progress_metric: host=algo-1, completed 10.0 % of epochs",
    "#throughput_metric: host=algo-1, train throughput=1088.69 records/second",
    "#quality_metric: host=algo-1, test macro_f_1.000 <score>=nan",
    "unrelated line [9] with brackets",
]


def test_linear_form_captures_exactly_what_the_written_regex_captures() -> None:
    """Every XGBoost and Linear Learner built-in, on short lines: compiled == unmodified regex."""
    for d in load_definitions(XGB_FILE) + load_definitions(LL_FILE):
        original = regex.compile(expand(d.regex).replace("#011", "\t"))
        compiled = compile_definition(d)
        for line in SHORT_LINES:
            m = original.search(line)
            assert compiled.capture(line) == (m.group(1) if m else None), (d.name, line)


def test_leading_dotstar_is_linear_on_a_128_kb_line() -> None:
    compiled = [compile_definition(d) for d in load_definitions(XGB_FILE)]
    line = "[1] " + "x" * (128 * 1024) + "\ttrain-rmse:0.5"
    start = time.perf_counter()
    results = [c.capture(line) for c in compiled]
    assert time.perf_counter() - start < 0.5
    assert results.count("0.5") == 1


def test_catastrophic_regex_times_out_instead_of_hanging() -> None:
    compiled = compile_definition(MetricDefinition("bad", r"(?:a+)+(b)"))
    start = time.perf_counter()
    with pytest.raises(TimeoutError):
        compiled.capture("a" * 5000 + "c", timeout=0.05)
    assert time.perf_counter() - start < 2


def test_parse_number_accepts_exactly_the_number_pattern() -> None:
    """The float() fast path agrees with NUMBER (the pattern the packs use) on tricky strings."""
    from metricwatch.definitions import NUMBER

    full = regex.compile(rf"\s*(?:{NUMBER})\s*")
    probes = [
        "1",
        "-1",
        "+.5",
        "5.",
        "1e5",
        "1E+05",
        "1e",
        "e1",
        "1.2.3",
        "0x10",
        "1_0",
        "١٢",
        "nan",
        "-NaN",
        "INF",
        "-Infinity",
        "infinit",
        "in f",
        " 3 ",
        "3 4",
        "+-3",
        "1e5.0",
        "",
        ".e1",
    ]
    for text in probes:
        assert (parse_number(text) is not None) == (full.fullmatch(text) is not None), text


# ------------------------------------------------------------- matching over joined records


def test_builtin_and_pack_definitions_can_run_over_joined_records() -> None:
    """Every shipped regex takes the fast path: NUMBER's `(?![A-Za-z])` is a one-character look-ahead
    that cannot be a newline, so it judges a newline as it judges the end of a record."""
    packs = [load_pack(p.stem) for p in (Path(__file__).parent.parent / "patterns").glob("*.toml")]
    defs = load_definitions(XGB_FILE) + load_definitions(LL_FILE) + [d for p in packs for d in p.definitions]
    assert [d.name for d in defs if compile_definition(d).joined is None] == []


@pytest.mark.parametrize(
    "pattern",
    [
        r"loss=(\d+)\Z",  # end of string ≠ end of line
        r"\Aloss=(\d+)",
        r"\Gloss=(\d+)",
        r"loss=(\d+)(?=\s)",  # \s would see the next record's newline
        r"loss=(\d+)(?!\n)",
        r"(?<=\n)loss=(\d+)",
        r"loss=(\d+)(?!foo)",  # several characters: could read into the next record
        r"(?-m:^)loss=(\d+)",  # multi-line turned off inline
        r"(?:loss=(\d+)){e<=1}",  # fuzzy matching may delete the newline
    ],
)
def test_constructs_that_look_across_a_record_edge_are_not_joinable(pattern: str) -> None:
    assert not joinable(pattern)


@pytest.mark.parametrize(
    "pattern",
    [r"^loss=(\d+)$", r"\bloss=(\d+)\b", r"(?<![\w.])loss=(\d+)", r"loss=\s*(\d+)", r"(?i)LOSS=(\d+)"],
)
def test_anchors_boundaries_and_consuming_classes_are_joinable(pattern: str) -> None:
    # `\s*` can consume a newline, but then the match crosses records and the caller redoes them.
    assert joinable(pattern)
