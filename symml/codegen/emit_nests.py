"""Elementwise loop nests over one domain, run as one loop nest.

The node-by-node build emits each elementwise map (and each full sum of one) as its own loop
nest. Where several run over the same domain, one after another, a kernel makes a pass over
memory for each: the masked factorisation's loss Σ Mask ⊙ (R − UVᵀ)² and its δ =
−Mask ⊙ (R − UVᵀ) read Mask, R and UVᵀ twice; the MLP's a = XW + b and tanh(a) write a, then
read it back. Here a later nest joins an earlier one over the same domain when it reads
nothing computed in between, and what it reads of the earlier nests it reads at the same
index (their values are then computed in the same iteration, before it). A map whose every
reader is in the nest it joined is then a local of the loop body, not an array: no
allocation, no pass over it.

The statements of each nest stay as they were, in the same order within an iteration, so a
sum adds the same values in the same order: the same bits.

Takes: the kernel's lines, which of them are kept, and the nests recorded while emitting.
Gives: the kernel's lines with joined nests.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

_IDENT = re.compile(r"\b[A-Za-z_]\w*\b")
_FOR = re.compile(r"^\s*for\s+(\w+)\s+in\b")
_ASSIGN = re.compile(r"^\s*([\w\s,]+?)\s*(\[[^\]]*\])?\s*(?:[-+*/]|//|\*\*)?=(?!=)")
_WORDS = {"for", "in", "range", "prange", "if", "elif", "else", "and", "or", "not", "np", "dt", "True",
          "False", "None", "float", "int", "abs", "min", "max", "return"}


@dataclass(eq=False)
class Nest:
    """One elementwise loop nest: lines [start, head) before its loops (its allocation, or a
    sum's ``= 0.0``), [head, body) the loop headers, [body, post) the statements,
    [post, end) after it (a sum's factor)."""

    name: str
    kind: str  # "map" (name[ref] = …) or "sum" (name += …)
    start: int
    head: int
    body: int
    post: int
    end: int
    ref: str
    members: list = field(default_factory=list)
    local: str = ""  # its name as a local of the loop body, where it is one


def _defined(line: str) -> set[str]:
    """The names a line may define: its assignment targets, its loop variable, or (any other
    statement: a call, a condition) every name in it."""
    m = _FOR.match(line)
    if m:
        return {m.group(1)}
    m = _ASSIGN.match(line)
    if m:
        return set(_IDENT.findall(m.group(1)))
    return set(_IDENT.findall(line)) - _WORDS


class NestMerge:
    """``_merge_nests`` (mixed into KernelBody); ``self.nests`` is filled by the emitters."""

    def _merge_nests(self, keep: list[bool], outs: set[str]) -> list[str]:
        lines = self.lines
        nests = [n for n in getattr(self, "nests", []) if keep[n.start]]
        if len(nests) < 2:
            return [ln for ln, k in zip(lines, keep) if k]
        owner = {}  # line index → the nest whose lines it is
        for n in nests:
            for i in range(n.start, n.end):
                owner[i] = n
        groups: list[Nest] = []
        for b in nests:  # b joins the latest group it may run in, or starts one
            g = next((g for g in reversed(groups) if self._joins(g, b, lines, keep, owner)), None)
            if g is not None:
                g.members.append(b)
            else:
                b.members = [b]
                groups.append(b)
        if all(len(g.members) == 1 for g in groups):
            return [ln for ln, k in zip(lines, keep) if k]
        local = self._locals(groups, lines, keep, outs)
        first, joined = {}, set()  # a group's first line → the group; every line of a joined nest
        for g in groups:
            if len(g.members) > 1:
                first[g.start] = g
                for m in g.members:
                    joined.update(range(m.start, m.end))
        out: list[str] = []
        for i, ln in enumerate(lines):
            if i in first:
                out += self._joined(first[i].members, lines, keep, local)
            elif keep[i] and i not in joined:
                out.append(ln)
        return out

    @staticmethod
    def _joined(members, lines, keep, local) -> list[str]:
        """The lines of nests run as one: every allocation, the loop headers once, every
        body in order, and what follows each loop."""
        spans = ([(m, m.start, m.head) for m in members] + [(None, members[0].head, members[0].body)]
                 + [(m, m.body, m.post) for m in members] + [(m, m.post, m.end) for m in members])
        out = []
        for m, a, z in spans:
            if m in local and z == m.head:
                continue  # a local's allocation
            for j in range(a, z):
                if keep[j]:
                    ln = lines[j]
                    for x in members:
                        if x in local:
                            ln = re.sub(rf"\b{re.escape(x.name)}\[{re.escape(x.ref)}\]", x.local, ln)
                    out.append(ln)
        return out

    def _joins(self, g: Nest, b: Nest, lines, keep, owner) -> bool:
        """Whether nest b may run in g's loop nest (after the nests already joined to it)."""
        if lines[g.head:g.body] != lines[b.head:b.body] or g.ref != b.ref:
            return False
        own = set()
        for j in range(b.head, b.post):
            own |= _defined(lines[j])
        text = "\n".join(lines[j] for j in range(b.start, b.end) if keep[j])
        reads = set(_IDENT.findall(text)) - own - {b.name}
        members = {m.name: m for m in g.members}
        for j in range(g.start, b.start):
            if keep[j] and owner.get(j) not in g.members and reads & _defined(lines[j]):
                return False  # it reads something computed between the nests
        for name in reads & set(members):
            m = members[name]
            if m.kind != "map":
                return False  # a sum is complete only after the loop
            at = rf"\b{re.escape(name)}\[{re.escape(b.ref)}\]"
            if len(re.findall(rf"\b{re.escape(name)}\b", text)) != len(re.findall(at, text)):
                return False  # read at another index than the iteration's
        return True

    def _locals(self, groups, lines, keep, outs) -> set:
        """The maps of joined nests that only their group reads, at the iteration's index."""
        local = set()
        kept = [ln for ln, k in zip(lines, keep) if k]
        for g in groups:
            if len(g.members) < 2:
                continue
            for m in g.members:
                if m.kind != "map" or m.name in outs:
                    continue
                pat = rf"\b{re.escape(m.name)}\b"
                everywhere = sum(len(re.findall(pat, ln)) for ln in kept)
                at = re.compile(rf"\b{re.escape(m.name)}\[{re.escape(m.ref)}\]")
                inside = sum(len(at.findall(lines[j])) for x in g.members for j in range(x.body, x.post) if keep[j])
                if everywhere == inside + 1:  # the allocation is the one other mention
                    m.local = m.name  # a scalar now, under the same name: no other line reads the array
                    local.add(m)
        return local
