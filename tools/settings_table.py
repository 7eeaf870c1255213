"""Print the settings reference table for the README from settings.SETTINGS_SCHEMA."""

import json

from settings import SETTINGS_SCHEMA


def table() -> str:
    rows = ["| key | type | default | bounds | description |", "|---|---|---|---|---|"]
    for s in SETTINGS_SCHEMA:
        if s.default is None:
            default = "*secret*" if s.secret else ("*required*" if not s.optional else "*unset*")
        elif isinstance(s.default, dict):  # an object setting: set leaf by leaf with --path
            default = "`" + json.dumps(s.default, separators=(",", ":")) + "`"
        elif isinstance(s.default, tuple):
            default = "`[" + ", ".join(s.default) + "]`" if s.default else "`[]`"
        else:
            default = f"`{str(s.default).lower() if isinstance(s.default, bool) else s.default}`"
        # Bounds of numeric settings (counts, durations, sizes): values outside are rejected.
        bounds = f"`{s.bounds}`" if s.bounds else ""
        rows.append(f"| `{s.key}` | {s.pulumi_type} | {default} | {bounds} | {s.description} |")
    return "\n".join(rows)




START, END = "<!-- settings-table:start (generated: make readme-settings) -->", "<!-- settings-table:end -->"


def rewrite_readme(text: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table()}\n{END}{tail}"


if __name__ == "__main__":
    import sys
    from pathlib import Path

    readme = Path(__file__).resolve().parent.parent / "README.md"
    if "--write" in sys.argv:
        readme.write_text(rewrite_readme(readme.read_text()))
    else:
        print(table())
