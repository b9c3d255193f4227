"""Rows of the result table: statistics, ratio against the baseline, the floor's verdict."""
import statistics


def stats(values):
    v = [x for x in values if x is not None]
    if not v:
        return None
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}


def _overlap(a, b):
    return a["min"] <= b["max"] and b["min"] <= a["max"]


class Row:
    """One line of the table.

    @values are the subject's measurements (one per round), @base those of the
    baseline measured in the same run.  @floor is None or (text, check) where
    check(ratio, subject_stats, base_stats) -> bool.  With @noise, a verdict
    whose min–max range overlaps the baseline's says so.
    """

    def __init__(self, section, what, unit, values, base_what=None, base_values=None,
                 floor=None, note="", ratio=None, noise=False):
        self.section = section
        self.what = what
        self.unit = unit
        self.s = stats(values)
        self.base_what = base_what or ""
        self.b = stats(base_values or [])
        self.note = note
        if ratio is None and self.s and self.b and self.b["median"]:
            ratio = self.s["median"] / self.b["median"]
        self.ratio = ratio
        self.floor_text = floor[0] if floor else ""
        self.verdict = ""
        if floor and self.s and (ratio is not None or not self.b):
            self.verdict = "met" if floor[1](ratio, self.s, self.b) else "NOT met"
            if noise and self.b and _overlap(self.s, self.b):
                # Neither side is faster when their ranges overlap, whatever
                # the medians say: call it what it is.
                self.verdict = "tie (min–max ranges overlap: within noise)"
            elif noise and self.b and min(self.s["n"], self.b["n"]) < 2:
                self.verdict += f" ({min(self.s['n'], self.b['n'])} round(s): indicative)"
        elif floor:
            self.verdict = "no data"

    def as_dict(self):
        return {"section": self.section, "what": self.what, "unit": self.unit, "stats": self.s,
                "baseline": self.base_what, "baseline_stats": self.b, "ratio": self.ratio,
                "floor": self.floor_text, "verdict": self.verdict, "note": self.note}


def fmt(x):
    if x is None:
        return "–"
    a = abs(x)
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def _bold_fail(verdict):
    return f"**{verdict}**" if verdict.startswith("NOT") else verdict


def markdown(rows):
    out = []
    section = None
    head = ("| benchmark | unit | median | min | max | n | baseline (same run) | baseline median "
            "| ratio | floor | verdict |")
    sep = "|---|---|--:|--:|--:|--:|---|--:|--:|---|---|"
    for r in rows:
        if r.section != section:
            section = r.section
            out += ["", f"### {section}", "", head, sep]
        s, b = r.s or {}, r.b or {}
        what = r.what + (f" <br>*{r.note}*" if r.note else "")
        out.append("| " + " | ".join([
            what, r.unit,
            fmt(s.get("median")) if s else "no data", fmt(s.get("min")), fmt(s.get("max")),
            str(s.get("n", 0)), r.base_what, fmt(b.get("median")),
            (fmt(r.ratio) + "×") if r.ratio is not None else "–",
            r.floor_text, _bold_fail(r.verdict)]) + " |")
    return "\n".join(out).lstrip("\n") + "\n"


def floors(rows):
    """The issue's floors first: one line per row that has one."""
    out = []
    for r in rows:
        if r.floor_text:
            vs = f" vs {r.base_what}" if r.base_what else ""
            out.append(f"- {r.what.split(' <br>')[0]}{vs}: {r.floor_text} — "
                       f"**{r.verdict}**"
                       + (f" (ratio {fmt(r.ratio)}×)" if r.ratio is not None else ""))
    return "\n".join(out) + "\n" if out else ""
