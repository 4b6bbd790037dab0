#!/usr/bin/env python3
"""tests/tools/promparse.py: reads a Prometheus text exposition (format
0.0.4) strictly and prints it as JSON {metric: [{"labels": {...},
"value": N}]}.  Exits 1 naming the line when the text breaks the format:
a malformed sample or label, a TYPE after its samples, a family whose
samples are not together, or a duplicate sample."""
import json
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(r"^(%s)(\{(.*)\})? (\S+)( -?\d+)?$" % NAME)
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"\s*(,|$)')
SUFFIXES = ("_sum", "_count", "_bucket", "_total", "_created")


def family(name, types):
    for s in SUFFIXES:
        if name.endswith(s) and name[: -len(s)] in types:
            return name[: -len(s)]
    return name


def main(path):
    out, types, seen, done, last = {}, {}, set(), set(), None
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.rstrip("\n")

        def bad(why):
            sys.exit("%s:%d: %s: %s" % (path, n, why, line))
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] == "TYPE":
                if parts[2] in seen or parts[2] in types:
                    bad("TYPE after samples or twice")
                if len(parts) != 4 or parts[3] not in (
                        "counter", "gauge", "summary", "histogram", "untyped"):
                    bad("bad TYPE")
                types[parts[2]] = parts[3]
            continue
        m = SAMPLE.match(line)
        if not m:
            bad("not a sample")
        name, labels = m.group(1), {}
        body = m.group(3) or ""
        pos = 0
        while pos < len(body):
            lm = LABEL.match(body, pos)
            if not lm or lm.end() == pos:
                bad("bad labels")
            labels[lm.group(1)] = lm.group(2).replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
            pos = lm.end()
        try:
            value = float(m.group(4))
        except ValueError:
            bad("bad value")
        fam = family(name, types)
        if fam != last:
            if fam in done:
                bad("family %s is split" % fam)
            if last is not None:
                done.add(last)
            last = fam
        seen.add(fam)
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            bad("duplicate sample")
        seen.add(key)
        out.setdefault(name, []).append({"labels": labels,
                                         "value": int(value) if value.is_integer() else value})
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main(sys.argv[1])
