"""Reading a config file's YAML: duplicate keys reported, no secret quoted in errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tokenway.proxy.config import schema


class _Loader(yaml.SafeLoader):
    """SafeLoader that reports duplicate keys, which YAML would silently collapse.

    Two ``general_settings:`` blocks would otherwise drop the first one, master_key and all.
    """

    problems: list[str]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            if key_node.value in seen:
                line = key_node.start_mark.line + 1
                self.problems.append(
                    f"line {line}: duplicate key '{key_node.value}'; YAML keeps only the last "
                    "one, so the earlier one would be silently ignored"
                )
            seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path, report: schema.Report) -> object:
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        report.problem("file", "not found; pass the path of a LiteLLM-style config.yaml")
        return schema.FAILED
    except OSError as err:
        report.problem("file", f"cannot be read ({err.strerror or type(err).__name__})")
        return schema.FAILED
    loader = _Loader(text)
    loader.problems = []
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as err:
        report.problem(_yaml_position(err), f"YAML syntax error: {_yaml_reason(err)}")
        return schema.FAILED
    except yaml.YAMLError:
        report.problem("file", "is not valid YAML text (check that it is UTF-8)")
        return schema.FAILED
    finally:
        loader.dispose()
    report.problems.extend(loader.problems)
    return data


def _yaml_position(err: yaml.MarkedYAMLError) -> str:
    mark = err.problem_mark or err.context_mark
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"


def _yaml_reason(err: yaml.MarkedYAMLError) -> str:
    # Only the parser's own words: str(err) would quote the offending line, secrets included.
    reason = err.problem or "cannot be parsed"
    return f"{reason} ({err.context})" if err.context else reason
