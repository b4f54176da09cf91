"""``nextoffer rules`` end to end: the installed command, real files, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.core.rules.conftest import ISSUE_REQUEST

NEXTOFFER = Path(sys.executable).parent / "nextoffer"


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}  # wide enough that tables keep whole ids
    env.pop("NEXTOFFER_DATABASE_URL", None)
    return subprocess.run(
        [str(NEXTOFFER), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=cwd,
    )


@pytest.fixture
def context_file(tmp_path: Path) -> Path:
    path = tmp_path / "context.json"
    path.write_text(json.dumps(ISSUE_REQUEST))
    return path


@pytest.mark.parametrize(
    ("condition", "printed"),
    [
        ('customer.tier in ["premium", "gold"] and not customer.hasCreditCard', "true"),
        ('customer.tenureMonths >= 36 and "VIP" in customer.segments', "true"),
        ("cart.count >= 2 and cart.total > 2400", "false"),
        ('store.id in ["S1", "S2"] and channel == "in_app"', "true"),
        ("local_time.hour between 6 and 11", "true"),
        ('any item in cart.items: item.category == "wine" and item.price > 30', "false"),
        ('cart.has_sku("STEAK-01")', "true"),
        ('cart.has_category("main_course")', "true"),
    ],
)
def test_rules_eval_prints_true_or_false(context_file: Path, condition: str, printed: str) -> None:
    result = run("rules", "eval", condition, "--context", context_file)
    assert result.returncode == 0, result.stderr
    assert result.stdout == printed + "\n"


def test_rules_eval_takes_the_json_form(context_file: Path) -> None:
    ast = {
        "kind": "call",
        "function": "cart.has_sku",
        "args": [{"kind": "literal", "value": "STEAK-01"}],
    }
    result = run("rules", "eval", json.dumps(ast), "--context", context_file)
    assert (result.returncode, result.stdout) == (0, "true\n")


def test_rules_eval_syntax_error_shows_a_caret_and_exits_non_zero(context_file: Path) -> None:
    result = run("rules", "eval", 'channel = "in_app"', "--context", context_file)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "line 1, column 9: unexpected '=' (did you mean '=='?)" in result.stderr
    assert '  channel = "in_app"\n          ^' in result.stderr
    assert result.stdout == ""


def test_rules_eval_type_error_names_the_attribute(context_file: Path) -> None:
    result = run("rules", "eval", "customer.tenure >= 3", "--context", context_file)
    assert result.returncode == 1
    assert "unknown name 'customer.tenure' (did you mean 'customer.tenureMonths'?)" in result.stderr


def test_rules_eval_with_a_schema_types_attributes(tmp_path: Path, context_file: Path) -> None:
    schema = tmp_path / "schema.yaml"
    schema.write_text("attributes:\n  tier: string\n  tenureMonths: int\n  hasCreditCard: bool\n"
                      "  since: date\n")  # fmt: skip
    ok = run("rules", "eval", "customer.since is missing", "--context", context_file,
             "--schema", schema)  # fmt: skip
    assert (ok.returncode, ok.stdout) == (0, "true\n")
    bad = run("rules", "eval", "customer.since > 3", "--context", context_file, "--schema", schema)
    assert bad.returncode == 1
    assert "'>' needs numbers or dates" not in bad.stderr
    assert "cannot compare date with int" in bad.stderr


def test_rules_eval_bad_context_names_the_field(tmp_path: Path) -> None:
    bad = dict(ISSUE_REQUEST, store={"id": "S1", "timezone": "Mars/Olympus"})
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    result = run("rules", "eval", "true", "--context", path)
    assert result.returncode == 1
    assert "store.timezone" in result.stderr
    assert "unknown IANA time zone 'Mars/Olympus'" in result.stderr
    naive = dict(ISSUE_REQUEST, at="2026-03-08T14:30:00")
    path.write_text(json.dumps(naive))
    result = run("rules", "eval", "true", "--context", path)
    assert result.returncode == 1
    assert "at: Input should have timezone info" in result.stderr
    missing = run("rules", "eval", "true", "--context", tmp_path / "nope.json")
    assert missing.returncode == 1
    assert "no such file" in missing.stderr
    path.write_text("{not json")
    broken = run("rules", "eval", "true", "--context", path)
    assert broken.returncode == 1
    assert "invalid JSON at line 1" in broken.stderr


def test_rules_eval_wrong_attribute_type_for_schema(tmp_path: Path, context_file: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"attributes": {"tenureMonths": "string"}}))
    result = run("rules", "eval", "true", "--context", context_file, "--schema", schema)
    assert result.returncode == 1
    assert "customer.attributes.tenureMonths: expected string, got int 36" in result.stderr


RULES_YAML = """\
rules:
  - id: steak-wine
    trigger: 'cart.has_sku("STEAK-01")'
    offers: [RED-WINE]
    priority: 60
  - id: premium
    trigger: 'customer.tier == "premium" and customer.tenureMonth >= 3'
    offers: [CREDIT-CARD]
  - id: json-form
    trigger: {kind: compare, op: ">", left: {kind: name, path: cart.totl}, right: {kind: literal, value: 1}}
    offers: [RED-WINE]
  - id: steak-wine
    trigger: 'channel == "in_app"'
    offers: [RED-WINE]
    priority: 101
"""


def test_rules_check_lists_every_error_with_its_place(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_YAML)
    schema = tmp_path / "schema.yaml"
    schema.write_text("attributes: {tier: string, tenureMonths: int}\n")
    result = run("rules", "check", rules, "--schema", schema)
    assert result.returncode == 1
    err = result.stderr
    assert "rules[1].trigger.operands[1].left: line 1, column 32: unknown name " in err
    assert "'customer.tenureMonth' (did you mean 'customer.tenureMonths'?)" in err
    assert "rules[2].trigger.left: unknown name 'cart.totl' (did you mean 'cart.total'?)" in err
    assert "rules[3].priority: Input should be less than or equal to 100" in err
    assert "3 problem(s) in 4 rule(s)" in err
    assert "Traceback" not in err


def test_rules_check_passes_a_valid_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"id": "a", "trigger": 'cart.has_category("wine")', "offers": ["W"]},
                                 {"id": "b", "trigger": "local_time.hour between 6 and 11",
                                  "offers": ["C"]}]))  # fmt: skip
    result = run("rules", "check", rules)
    assert (result.returncode, result.stdout) == (0, "2 rule(s) OK\n")


def test_rules_check_reports_duplicate_ids(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rule = {"id": "a", "trigger": "true", "offers": ["X"]}
    rules.write_text(json.dumps([rule, rule]))
    result = run("rules", "check", rules)
    assert result.returncode == 1
    assert "rules[1].id: duplicate rule id 'a' (first at rules[0])" in result.stderr


def test_rules_check_reports_a_rules_trigger_errors_along_with_its_priority_error(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- id: both\n  trigger: 'cart.totl > 3 and channel == 3'\n  offers: [X]\n  priority: 101\n"
    )
    result = run("rules", "check", rules)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert lines == [
        f"error: {rules}: rules[0].priority: Input should be less than or equal to 100",
        f"error: {rules}: rules[0].trigger.operands[0].left: line 1, column 1: unknown name"
        " 'cart.totl' (did you mean 'cart.total'?)",
        f"error: {rules}: rules[0].trigger.operands[1]: line 1, column 19: cannot compare"
        " string with int",
    ]
    assert "3 problem(s) in 1 rule(s)" in result.stderr


def test_rules_check_fails_a_rule_that_nominates_no_offer(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"id": "a", "trigger": "true", "offers": []},
                                 {"id": "b", "trigger": "true"}]))  # fmt: skip
    result = run("rules", "check", rules)
    assert result.returncode == 1
    assert f"error: {rules}: rules[0].offers: List should have at least 1 item after" in (
        result.stderr
    )
    assert f"error: {rules}: rules[1].offers: Field required" in result.stderr
    assert "2 problem(s) in 2 rule(s)" in result.stderr


def test_rules_check_refuses_the_nested_quantifiers_whose_cost_is_unbounded(
    tmp_path: Path,
) -> None:
    trigger = "count(a in cart.items: count(b in cart.items: a.price > b.price) > 0) >= 0"
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"id": "n2", "trigger": trigger, "offers": ["X"]}]))
    result = run("rules", "check", rules)
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"error: {rules}: rules[0].trigger.left: line 1, column 1: 'count' may take up to"
        " 752,002 steps on a cart of 500 items (the most a request may carry), more than the"
        " limit of 20,000; nested quantifiers multiply their work\n"
        f"  {trigger}\n  ^^^^^"
    )


def test_rules_parse_type_checks_and_fails_on_an_unknown_name() -> None:
    result = run("rules", "parse", "foo.bar > 3")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "CONDITION $.left: line 1, column 1: unknown name 'foo.bar'" in result.stderr
    assert "  foo.bar > 3\n  ^^^^^^^" in result.stderr
    help_text = run("rules", "parse", "--help").stdout
    assert "type-check" in help_text


def test_rules_parse_and_format_round_trip() -> None:
    parsed = run("rules", "parse", 'channel == "in_app"')
    assert parsed.returncode == 0
    ast = json.loads(parsed.stdout)
    assert ast["kind"] == "compare"
    assert ast["left"] == {"kind": "name", "path": "channel"}
    formatted = run("rules", "format", json.dumps(ast))
    assert (formatted.returncode, formatted.stdout) == (0, 'channel == "in_app"\n')


def test_rules_schema_writes_the_json_schema(tmp_path: Path) -> None:
    target = tmp_path / "condition.schema.json"
    result = run("rules", "schema", "--out", target)
    assert result.returncode == 0
    assert json.loads(target.read_text())["discriminator"]["propertyName"] == "kind"
