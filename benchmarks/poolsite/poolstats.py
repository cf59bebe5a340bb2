"""Summarise benchmarks/poolsite's dumps: arenas, free blocks by size class, per connection.

    python benchmarks/poolsite/poolstats.py /tmp/c.pools [CONNECTIONS]
"""

from __future__ import annotations

import re
import sys


def parse(path: str) -> dict[str, object]:
    text = open(path).read()
    classes = {}
    for m in re.finditer(r"^\s+\d+\s+(\d+)\s+\d+\s+(\d+)\s+(\d+)$", text, re.M):
        size, used, free = map(int, m.groups())
        classes[size] = (used, free)

    def number(label: str) -> int:
        found = re.search(rf"{label}\s*=\s*([\d,]+)", text)
        return int(found.group(1).replace(",", "")) if found else 0

    rss = re.search(r"rss_kib (\d+)", text)
    return {"rss": int(rss.group(1)) if rss else 0, "classes": classes,
            "arenas": number("# arenas allocated current"),
            "allocated": number("# bytes in allocated blocks"),
            "free": number("# bytes in available blocks")}


def main() -> None:
    base, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    start, end, idle = (parse(f"{base}.{i}") for i in range(3))
    print(f"arenas {start['arenas']} -> {end['arenas']} -> {idle['arenas']} "
          f"(+{idle['arenas'] - start['arenas']}); free blocks once idle "
          f"{idle['free'] / 1e6:.2f} MB; allocated "
          f"{(idle['allocated'] - start['allocated']) / n:.0f} B per connection; RSS "
          f"{(idle['rss'] - start['rss']) / n:.2f} KiB per connection")
    print("size  used per connection  free blocks (burst's end, idle)")
    for size in sorted(idle["classes"]):
        used0 = start["classes"].get(size, (0, 0))[0]
        used2, free2 = idle["classes"][size]
        free1 = end["classes"].get(size, (0, 0))[1]
        if free2 > 200 or abs(used2 - used0) > n // 10:
            print(f"{size:4d}  {(used2 - used0) / n:8.2f}  {free1:8d} {free2:8d}")


if __name__ == "__main__":
    main()
