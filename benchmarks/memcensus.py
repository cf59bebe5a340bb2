"""A census of the live objects by type (count, bytes) for the server's PATH.census profile."""

from __future__ import annotations

import gc
import sys
from typing import Any

Census = tuple[dict[type, int], dict[type, int]]  # (count, bytes) by type


def census(*left_out: object) -> Census:
    """Every object reachable from the collector's, by type: tracked ones and their untracked
    referents (str, int, float, bytes, atomic tuples and dicts). Sizes are sys.getsizeof's
    (no allocator rounding; a plain instance's inline attribute values are not counted).
    `left_out`: the caller's own objects, not counted."""
    gc.collect()
    stack: list[Any] = gc.get_objects()
    seen = set(map(id, stack))
    counts: dict[type, int] = {}
    sizes: dict[type, int] = {}
    own = {id(stack), id(seen), id(counts), id(sizes), *map(id, left_out)}
    seen |= own
    tracked, referents, getsizeof = gc.is_tracked, gc.get_referents, sys.getsizeof
    i = 0
    while i < len(stack):
        obj = stack[i]
        i += 1
        kind = type(obj)
        if id(obj) in own or kind.__name__ == "frame":
            continue
        counts[kind] = counts.get(kind, 0) + 1
        sizes[kind] = sizes.get(kind, 0) + getsizeof(obj, 0)
        for ref in referents(obj):
            if not tracked(ref) and id(ref) not in seen:
                seen.add(id(ref))
                stack.append(ref)
    return counts, sizes


def write_diff(path: str, before: Census, after: Census, per: int) -> None:
    """What `after` has more than `before`, per connection (`per` of them), largest first."""
    (c1, s1), (c2, s2) = before, after
    rows = sorted(((s2.get(t, 0) - s1.get(t, 0), c2.get(t, 0) - c1.get(t, 0),
                   f"{t.__module__}.{t.__qualname__}") for t in set(c1) | set(c2)),
                  reverse=True)
    with open(path, "w") as f:
        print(f"census: {sum(r[0] for r in rows) / per:.1f} B per connection "
              f"(sys.getsizeof; {per} connections)", file=f)
        for size, count, name in rows:
            if size or count:
                print(f"{size / per:9.1f} B {count / per:8.3f}  {name}", file=f)
