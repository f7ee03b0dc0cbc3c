#!/usr/bin/env python3
"""Build one man page: scdoc SOURCE, then drop the paragraph macros scdoc
1.11 emits where they mean nothing (right after a section heading, or with
no text before the next block), which mandoc -Tlint reports as warnings.

usage: scdoc-roff.py SCDOC SOURCE OUTPUT
"""

import subprocess
import sys

HEADINGS = (".SH", ".SS", ".TH")


def tidy(lines):
    """Hold each paragraph macro back until text follows it: it moves past
    the .RE that scdoc puts after it (keeping the space between list items)
    and vanishes before a heading, after one, and at the end. Blank lines,
    which scdoc leaves after lists, go."""
    out = []
    pending = False
    literal = False
    for line in lines:
        if line.startswith((".nf", ".fi")):
            literal = line.startswith(".nf")
        if literal and line == "":
            out.append(line)
        elif line in (".P", ".PP"):
            pending = True
        elif line == "":
            continue  # a blank line in fill mode is a stray empty line
        elif line.startswith(".RE"):
            out.append(line)
        elif line.startswith(HEADINGS):
            pending = False
            out.append(line)
        else:
            if pending and out and not out[-1].startswith(HEADINGS):
                out.append(".P")
            pending = False
            out.append(line)
    return out


def main():
    scdoc, source, output = sys.argv[1:4]
    with open(source, "rb") as f:
        roff = subprocess.run([scdoc], stdin=f, check=True,
                              capture_output=True).stdout.decode()
    lines = tidy(roff.split("\n"))
    with open(output, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
