"""Section: Alertmanager timings, routes, receivers (by name) and inhibitions."""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from typing import Any, Optional

import yaml

from tools.review_diff.text import SECRET_TYPE, _one_line, _sensitive, _table, code, flat_diff
from tools.review_diff.model import Render
from tools.review_diff.rules import Section, _trim


# ---- Alertmanager


def _secret_texts(entry: dict) -> dict[str, Any]:
    inputs = entry.get("inputs") or {}
    texts: dict[str, Any] = {}
    for k, v in (inputs.get("data") or {}).items():
        try:
            texts[k] = base64.b64decode(v, validate=True).decode("utf-8") if isinstance(v, str) else v
        except (binascii.Error, UnicodeDecodeError):
            texts[k] = v
    texts.update(inputs.get("stringData") or {})
    return texts


def alertmanager_configs(render: Render) -> dict[str, Any]:
    """Secret name -> parsed alertmanager.yaml (None when masked or unreadable)."""
    configs: dict[str, Any] = {}
    for name, entry in render.of_type(SECRET_TYPE).items():
        texts = _secret_texts(entry)
        if "alertmanager.yaml" in texts:
            try:
                parsed = yaml.safe_load(texts["alertmanager.yaml"])
            except yaml.YAMLError:
                parsed = None
            configs[name] = parsed if isinstance(parsed, dict) else None
    return configs


_ROUTE_FIELDS = ("receiver", "group_by", "group_wait", "group_interval", "repeat_interval", "continue",
                 "mute_time_intervals", "active_time_intervals")
_TIMING_FIELDS = ("group_wait", "group_interval", "repeat_interval")


def _matchers(route: dict) -> str:
    parts = [str(m) for m in route.get("matchers") or []]
    parts += [f'{k}="{v}"' for k, v in sorted((route.get("match") or {}).items())]
    parts += [f'{k}=~"{v}"' for k, v in sorted((route.get("match_re") or {}).items())]
    return ", ".join(parts) or "(any)"


def _routes(route: dict, path: str = "root") -> list[tuple[str, dict]]:
    out = [(path, {k: route.get(k) for k in _ROUTE_FIELDS if k in route})]
    seen: Counter = Counter()
    for child in route.get("routes") or []:
        m = _matchers(child)
        seen[m] += 1
        label = m if seen[m] == 1 else f"{m} #{seen[m]}"
        out += _routes(child, label if path == "root" else f"{path} › {label}")
    return out


def _inhibition(rule: dict) -> str:
    def side(prefix: str) -> str:
        parts = [str(m) for m in rule.get(f"{prefix}_matchers") or []]
        parts += [f'{k}="{v}"' for k, v in sorted((rule.get(f"{prefix}_match") or {}).items())]
        parts += [f'{k}=~"{v}"' for k, v in sorted((rule.get(f"{prefix}_match_re") or {}).items())]
        return ", ".join(parts) or "(any)"

    return f"{side('source')} ⇒ mutes {side('target')} (equal: {', '.join(map(str, rule.get('equal') or [])) or '-'})"


def _or_inherited(value: Any) -> str:
    return code(value) if value is not None else "*(inherited)*"


def _integrations(receiver: dict) -> str:
    kinds = []
    for k, v in sorted(receiver.items()):
        if k.endswith("_configs") and isinstance(v, list):
            channels = [c.get("channel") for c in v if isinstance(c, dict) and c.get("channel")]
            kinds.append(k[: -len("_configs")] + (f" ({', '.join(channels)})" if channels else ""))
    return ", ".join(kinds) or "(no integration)"


def _receiver_changes(old: dict, new: dict) -> list[str]:
    diff = flat_diff({k: v for k, v in old.items() if k != "name"}, {k: v for k, v in new.items() if k != "name"},
                     expand_text=False)
    lines = []
    for path in diff.paths():
        leaf = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", path.split(".")[-1])
        leaf_name = leaf[0] if leaf else path
        values = diff.changed.get(path)
        what = "added" if path in diff.added else "removed" if path in diff.removed else "changed"
        safe = (values is not None and not any(_sensitive(p) for p in re.findall(r"[A-Za-z_]+", path))
                and all(isinstance(v, (str, int, float, bool)) and len(_one_line(v)) <= 60 for v in values))
        if safe and values is not None:
            lines.append(f"{code(path)}: {code(values[0])} → **{code(values[1])}**")
        else:
            lines.append(f"{code(path)} {what}" + (" (value not shown)" if _sensitive(leaf_name) else ""))
    return lines


def alertmanager_section(base: Render, head: Render) -> Optional[Section]:
    a, b = alertmanager_configs(base), alertmanager_configs(head)
    lines: list[str] = []
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            lines.append(f"- Alertmanager config Secret {code(name)} {'added' if name in b else 'removed'}.")
            continue
        old, new = a[name], b[name]
        if old == new:
            continue
        if old is None or new is None:
            lines.append(f"- {code(name)}: alertmanager.yaml is masked or unreadable on one side; it changed.")
            continue
        sub: list[str] = []
        # Timings: the root route's and global.resolve_timeout.
        rows = []
        for key in _TIMING_FIELDS + ("group_by",):
            x, y = (old.get("route") or {}).get(key), (new.get("route") or {}).get(key)
            if x != y:
                rows.append((f"route.{key}", code(x) if x is not None else "*(default)*", f"**{code(y)}**" if y is not None else "*(default)*"))
        og, ng = old.get("global") or {}, new.get("global") or {}
        for key in sorted(set(og) | set(ng)):
            if og.get(key) != ng.get(key):
                if _sensitive(key):
                    rows.append((f"global.{key}", "*(not shown)*", "*(changed)*"))
                else:
                    rows.append((f"global.{key}", code(og.get(key)), f"**{code(ng.get(key))}**"))
        if rows:
            sub += ["#### Timings", ""] + _table(("setting", "old", "new"), rows) + [""]
        # Routes, by matcher path.
        ro, rn = _routes(old.get("route") or {}), _routes(new.get("route") or {})
        do, dn = dict(ro), dict(rn)
        route_lines = []
        for path in [p for p, _ in rn if p not in do]:
            route_lines.append(f"- added: {code(path)} → receiver {code(dn[path].get('receiver', '(inherited)'))}")
        for path in [p for p, _ in ro if p not in dn]:
            route_lines.append(f"- removed: {code(path)} (was → receiver {code(do[path].get('receiver', '(inherited)'))})")
        for path, fields in rn:
            if path not in do:
                continue
            skip = _TIMING_FIELDS + ("group_by",) if path == "root" else ()  # root timings: table above
            changes = []
            for key in _ROUTE_FIELDS:
                x, y = do[path].get(key), fields.get(key)
                if key not in skip and x != y:
                    changes.append(f"{key} {_or_inherited(x)} → **{_or_inherited(y)}**")
            if changes:
                route_lines.append(f"- {code(path)}: " + "; ".join(changes))
        common_old = [p for p, _ in ro if p in dn]
        common_new = [p for p, _ in rn if p in do]
        if common_old != common_new:
            route_lines.append("- order changed (first match wins): " + " → ".join(code(p) for p in common_new))
        if route_lines:
            sub += ["#### Routes", ""] + route_lines + [""]
        # Receivers, by name; never their credentials.
        rco = {r.get("name"): r for r in old.get("receivers") or [] if isinstance(r, dict)}
        rcn = {r.get("name"): r for r in new.get("receivers") or [] if isinstance(r, dict)}
        rec_lines = []
        for rname in sorted(set(rcn) - set(rco), key=str):
            rec_lines.append(f"- added: {code(rname)} ({_integrations(rcn[rname])})")
        for rname in sorted(set(rco) - set(rcn), key=str):
            rec_lines.append(f"- removed: {code(rname)} ({_integrations(rco[rname])})")
        for rname in sorted(set(rco) & set(rcn), key=str):
            if rco[rname] != rcn[rname]:
                rec_lines.append(f"- changed: {code(rname)}: " + "; ".join(_receiver_changes(rco[rname], rcn[rname])))
        used = {f.get("receiver") for _, f in rn if f.get("receiver")}
        for missing in sorted(used - set(rcn), key=str):
            rec_lines.append(f"- ⚠ a route sends to {code(missing)}, which is not a receiver in the new config")
        if rec_lines:
            sub += ["#### Receivers", ""] + rec_lines + [""]
        # Inhibitions.
        io = [_inhibition(r) for r in old.get("inhibit_rules") or [] if isinstance(r, dict)]
        inn = [_inhibition(r) for r in new.get("inhibit_rules") or [] if isinstance(r, dict)]
        inh_lines = [f"- added: {code(x, 300)}" for x in inn if x not in io]
        inh_lines += [f"- removed: {code(x, 300)}" for x in io if x not in inn]
        if inh_lines:
            sub += ["#### Inhibitions", ""] + inh_lines + [""]
        others = sorted(k for k in set(old) | set(new) if k not in ("route", "receivers", "inhibit_rules", "global")
                        and old.get(k) != new.get(k))
        if others:
            sub += [f"Other top-level settings changed: {', '.join(code(k) for k in others)}", ""]
        if not sub:
            sub = ["Changed only in receiver details that are not shown (credentials or templates).", ""]
        lines += [f"### Config Secret {code(name)}", ""] + sub
    return Section("Alertmanager", _trim(lines)) if lines else None


