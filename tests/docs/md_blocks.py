"""The fenced code blocks of a Markdown file, for the docs tests."""
import re


def blocks(lines):
    """Yield (lang, i, j) for each fenced block: lines[i] is the opening
    fence (```lang), lines[i + 1:j] the body, lines[j] the closing fence."""
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        yield m.group(1), i, j
        i = j + 1
