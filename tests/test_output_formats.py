"""Every output format on the same findings; SARIF validated against the official schema."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest

SOURCE = '''import redis
r = redis.Redis()
def hit(uid):
    n = r.incr(f"rate:{uid}")
    r.expire("rate:" + uid, 60)
    for k in r.keys("a:*"):
        print(k)
'''
SCHEMA = Path(__file__).parent / "data" / "sarif-2.1.0.schema.json"


@pytest.fixture
def project(tmp_path):
    (tmp_path / "app.py").write_text(SOURCE)
    return tmp_path


def _run(cli, fmt):
    code, out, err = cli("--output-format", fmt, "--no-cache", "app.py")
    assert code == 1, err
    return out


def test_json_lines(project, cli):
    rows = [json.loads(line) for line in _run(cli, "json-lines").splitlines()]
    assert [(r["code"], r["location"]["row"]) for r in rows] == [("RL201", 4), ("RL501", 6)]
    assert rows[1]["fix"]["applicability"] == "safe"
    assert rows[1]["fix"]["edits"] == [{
        "content": 'r.scan_iter(match="a:*")',
        "location": {"row": 6, "column": 14}, "end_location": {"row": 6, "column": 27}}]


def test_github_annotations(project, cli):
    lines = _run(cli, "github").splitlines()
    assert lines[0].startswith("::error title=redislint (RL201),file=app.py,line=4,col=9,endLine=5,")
    assert lines[0].split("::", 2)[2].startswith("RL201 `incr` then `expire`")
    assert lines[1].startswith("::error title=redislint (RL501),file=app.py,line=6,col=14")


def test_gitlab_code_quality(project, cli):
    issues = json.loads(_run(cli, "gitlab"))
    assert [i["check_name"] for i in issues] == ["RL201", "RL501"]
    assert issues[0]["location"] == {"path": "app.py", "positions": {
        "begin": {"line": 4, "column": 9}, "end": {"line": 5, "column": 32}}}
    assert len({i["fingerprint"] for i in issues}) == 2
    assert all(i["severity"] == "major" for i in issues)


def test_junit(project, cli):
    root = ElementTree.fromstring(_run(cli, "junit"))
    assert root.tag == "testsuites" and root.get("failures") == "2"
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == ["RL201 incr-expire-not-atomic", "RL501 keys-command"]
    assert cases[1].get("classname") == "app.py:6:14"
    assert cases[1].find("failure").get("type") == "RL501"


def test_sarif_is_valid_and_complete(project, cli):
    jsonschema = pytest.importorskip("jsonschema")
    log = json.loads(_run(cli, "sarif"))
    jsonschema.validate(log, json.loads(SCHEMA.read_text()))
    run = log["runs"][0]
    results = run["results"]
    assert [r["ruleId"] for r in results] == ["RL201", "RL501"]
    region = results[1]["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 6, "startColumn": 14, "endLine": 6, "endColumn": 27}
    rules = run["tool"]["driver"]["rules"]
    assert rules[results[1]["ruleIndex"]]["id"] == "RL501"
    assert results[1]["fixes"][0]["artifactChanges"][0]["replacements"][0]["insertedContent"]["text"] \
        == 'r.scan_iter(match="a:*")'


def test_sarif_with_no_findings_is_valid(tmp_path, cli):
    jsonschema = pytest.importorskip("jsonschema")
    (tmp_path / "ok.py").write_text("import redis\n")
    code, out, _ = cli("--output-format", "sarif", "ok.py")
    assert code == 0
    log = json.loads(out)
    jsonschema.validate(log, json.loads(SCHEMA.read_text()))
    assert log["runs"][0]["results"] == []


def test_every_format_reports_the_same_findings(project, cli):
    positions = {(4, 9), (6, 14)}
    assert {(r["location"]["row"], r["location"]["column"]) for r in json.loads(_run(cli, "json"))} == positions
    assert {tuple(map(int, l.split(":")[1:3])) for l in _run(cli, "concise").splitlines()[:2]} == positions
    assert "app.py:4:9: RL201" in _run(cli, "full") and "app.py:6:14: RL501" in _run(cli, "full")
