"""One pipeline written in the YAML styles people use gives one config through the CLI.

``validate`` and ``apply`` read plain block YAML with a line reader and everything else with
the full YAML reader (docs/performance.md, "Reading YAML"). Whichever reads a file, the user
must get the same pipeline and the same errors: here each style of the same pipeline is
applied over the plain one and must leave it ``unchanged`` (same config hash), and the same
typo must be reported with the same line and text.
"""

import json

import pytest

from tests.core.cli.conftest import Cli

PLAIN = """\
pipeline:
  id: clicks
  owner: data-platform
  description: Hourly clicks, once they have landed
schedule:
  timezone: UTC
  trigger:
    key: clicks-landed
    check: equals
    field: status
    value: complete
  evaluation:
    window: 30m
    interval: 1m
sla:
  deadline: ":55"
  expectedDuration: 10m
validation:
  trigger: ALL
  rules:
    - key: clicks-landed
      check: equals
      field: status
      value: complete
    - key: clicks-landed
      check: in
      field: region
      value: [eu, us]
    - key: clicks-landed
      check: gt
      field: stats.rows
      value: 0
    - key: clicks-landed
      check: age_lt
      field: updatedAt
      value: 2h
job:
  type: command
  config:
    command: ["python3", "-c", "print('clicks: done')"]
  maxRetries: 2
"""

TRIGGER = """\
  trigger:
    key: clicks-landed
    check: equals
    field: status
    value: complete
"""

FIRST_RULE = """\
    - key: clicks-landed
      check: equals
      field: status
      value: complete
"""


def _commented(text: str) -> str:
    lines = ["# Hourly clicks: a sensor-driven pipeline", ""]
    for line in text.splitlines():
        if line.endswith(":") or line.startswith("  - "):
            lines.append(line)
        else:
            lines.append(f"{line}  # note: {line.strip()[:10]}")
    lines.insert(8, "    # the trigger condition opens the run")
    return "\n".join(lines) + "\n"


def _indentless(text: str) -> str:
    # rules: at indent 2, its items at indent 2 too (the kubectl style).
    head, rules = text.split("  rules:\n")
    rules, tail = rules.split("job:\n")
    shifted = "".join(line[2:] + "\n" for line in rules.splitlines())
    return f"{head}  rules:\n{shifted}job:\n{tail}"


STYLES = {
    "comments at line ends": _commented(PLAIN),
    "windows line endings": PLAIN.replace("\n", "\r\n"),
    "a tab before a comment": PLAIN.replace("owner: data-platform", "owner: data-platform\t# x"),
    "indentless lists": _indentless(PLAIN),
    "folded description": PLAIN.replace(
        "  description: Hourly clicks, once they have landed\n",
        "  description: >-\n    Hourly clicks,\n    once they have landed\n",
    ),
    "anchor and alias": PLAIN.replace("  trigger:\n    key", "  trigger: &landed\n    key").replace(
        FIRST_RULE, "    - *landed\n"
    ),
    "flow mappings": PLAIN.replace(
        TRIGGER, "  trigger: {key: clicks-landed, check: equals, field: status, value: complete}\n"
    ),
    "quoted keys and values": PLAIN.replace(
        "    key: clicks-landed", "    'key': \"clicks-landed\""
    )
    .replace("value: complete", 'value: "complete"')
    .replace("window: 30m", "window: '30m'"),
    "document markers": "---\n" + PLAIN + "...\n",
    "block list": PLAIN.replace("value: [eu, us]", "value:\n        - eu\n        - 'us'"),
}


def _apply(cli: Cli, text: str) -> dict[str, str]:
    cli.write("clicks.yaml", text)
    result = cli("apply", "--json", str(cli.pipelines))
    assert result.exit_code == 0, result.output
    (change,) = json.loads(result.stdout)["changes"]
    return dict(change)


def test_every_style_applies_as_the_plain_file(cli: Cli) -> None:
    plain = _apply(cli, PLAIN)
    assert plain["action"] == "created"
    for style, text in STYLES.items():
        assert text != PLAIN
        change = _apply(cli, text)
        assert change == {**plain, "action": "unchanged"}, style


@pytest.mark.parametrize("style", ["plain", "windows line endings", "anchor and alias"])
def test_a_typo_is_reported_alike_in_every_style(cli: Cli, style: str) -> None:
    text = PLAIN if style == "plain" else STYLES[style]
    path = cli.write(
        "clicks.yaml",
        text.replace("check: gt\r\n", "check: gtt\r\n").replace("check: gt\n", "check: gtt\n"),
    )
    result = cli("validate", str(path))
    assert result.exit_code == 1
    # The anchor style has one line fewer above the typo (the first rule became an alias).
    line = 27 if style == "anchor and alias" else 30
    assert f"clicks.yaml:{line}: validation.rules[2].check: unknown check 'gtt'" in result.output
