"""Planning for small balanced builds, where a cell holds a query or two and greedy choices run out.

When the stocked query types times ``--min-per-type`` exceed ``--size``, the minimum is scaled down
(:func:`scaled_minimum`) and the type minimums are planned over the (bin, source) cells with a maximum
flow (:func:`type_plan`). The planned cells need not hold every query-centre decile, so a finished
selection then trades queries inside a duration bin until every stocked decile has one
(:func:`cover_deciles`). Plain arrays in, plain arrays out: this module knows nothing of the builder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def scaled_minimum(size: int, min_per_type: int, type_supply: np.ndarray) -> int:
    """The per-type minimum a build of ``size`` can hold: ``min_per_type``, or ``size // stocked types``
    when the stocked types times the minimum exceed the size (else the rarest types take it all)."""
    stocked = int(np.count_nonzero(type_supply))
    return min_per_type if stocked * min_per_type <= size else size // stocked


def type_plan(qtype: np.ndarray, cell_of: np.ndarray, n_types: int, n_src: int, cell_cap: np.ndarray,
              bin_quota: np.ndarray, minimum: int) -> list[tuple[int, int, int]]:
    """(type, cell, count) meeting every type's minimum within the capacities where any assignment can.

    A maximum flow: source -> type (the minimum) -> cell (the type's supply there) -> bin (``cell_cap``)
    -> sink (the bin's quota); cell ``c`` lies in bin ``c // n_src``. The greedy pass of larger builds
    cannot backtrack, and at small sizes its first types fill the cells that later types needed.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_flow

    n_cells, n_bins = len(cell_cap), len(bin_quota)
    supply = np.zeros((n_types, n_cells), dtype=np.int64)
    np.add.at(supply, (qtype, cell_of), 1)
    first_cell, first_bin = 1 + n_types, 1 + n_types + n_cells
    sink = first_bin + n_bins
    t_idx, c_idx = np.nonzero(supply)
    cells, bins = np.arange(n_cells), np.arange(n_bins)
    tail = np.concatenate([np.zeros(n_types, dtype=np.int64), 1 + t_idx, first_cell + cells, first_bin + bins])
    head = np.concatenate([1 + np.arange(n_types), first_cell + c_idx, first_bin + cells // n_src,
                           np.full(n_bins, sink)])
    cap = np.concatenate([np.minimum(supply.sum(axis=1), minimum), supply[t_idx, c_idx], cell_cap, bin_quota])
    graph = csr_matrix((cap.astype(np.int32), (tail, head)), shape=(sink + 1, sink + 1))
    flow = maximum_flow(graph, 0, sink).flow.tocsr()
    sent = np.asarray(flow[1 + t_idx, first_cell + c_idx]).ravel()
    return [(int(t), int(c), int(n)) for t, c, n in zip(t_idx, c_idx, sent) if n > 0]


@dataclass
class Candidates:
    """The columns :func:`cover_deciles` reads, one entry per candidate."""

    bin: np.ndarray
    cell: np.ndarray
    qcenter: np.ndarray
    qtype: np.ndarray
    rank: np.ndarray  # seeded random rank; lower is picked first


def _best_trades(c: Candidates, taken: np.ndarray, deciles: list[int], cross_type: bool,
                 type_count: np.ndarray, minimum: int) -> dict[int, tuple[tuple, int, int]]:
    """For each decile reachable in one trade: (preference, out, in) of its best trade, where ``in`` is an
    unselected query of one of ``deciles`` and ``out`` a selected query of the same duration bin.

    Preferred: the same cell (its source keeps its quota), then the same type, then the lowest in-rank
    and the highest out-rank (ranks are unique, so there is one answer). Without ``cross_type``, or where
    the out-query's type has no query above its minimum, the two share a type.
    """
    best: dict[int, tuple[tuple, int, int]] = {}
    incoming = np.flatnonzero(~taken & np.isin(c.qcenter, deciles))
    for out in np.flatnonzero(taken & ~np.isin(c.qcenter, deciles)).tolist():
        ok = incoming[c.bin[incoming] == c.bin[out]]
        if not cross_type or type_count[c.qtype[out]] <= minimum:
            ok = ok[c.qtype[ok] == c.qtype[out]]
        if len(ok) == 0:
            continue
        k = int(ok[np.lexsort((c.rank[ok], c.qtype[ok] != c.qtype[out], c.cell[ok] != c.cell[out]))[0]])
        key = (bool(c.cell[k] != c.cell[out]), bool(c.qtype[k] != c.qtype[out]), int(c.rank[k]), -int(c.rank[out]))
        d = int(c.qcenter[out])
        if d not in best or key < best[d][0]:
            best[d] = (key, out, k)
    return best


def _trade_chain(c: Candidates, taken: np.ndarray, target: int, decile_count: np.ndarray,
                 type_count: np.ndarray, minimum: int, cross_type: bool) -> list[tuple[int, int]] | None:
    """Trades (out, in) that cover the empty decile ``target`` and uncover none, or None.

    A breadth-first search over deciles: a query of ``target`` comes in for one of decile ``e`` in the
    same bin; if ``e`` held only that one, a query of ``e`` comes in for another, and so on until the
    out-query's decile keeps a query. Deciles on the chain are distinct, so are its queries.
    """
    parent: dict[int, tuple[int, int, int] | None] = {target: None}  # decile -> (previous, out, in)
    frontier = [target]
    while frontier:
        reach: dict[int, tuple[tuple, int, int, int]] = {}
        for e in frontier:
            for d, (key, out, k) in _best_trades(c, taken, [e], cross_type, type_count, minimum).items():
                if d not in parent and (d not in reach or key < reach[d][0]):
                    reach[d] = (key, e, out, k)
        ends = [d for d in reach if decile_count[d] >= 2]
        for d, (_, e, out, k) in reach.items():
            parent[d] = (e, out, k)
        if ends:
            d = min(ends, key=lambda x: reach[x][0])
            chain = []
            while parent[d] is not None:
                e, out, k = parent[d]
                chain.append((out, k))
                d = e
            return chain
        frontier = sorted(reach)
    return None


def _keeps_minimums(c: Candidates, chain: list[tuple[int, int]], type_count: np.ndarray, minimum: int) -> bool:
    """Whether after the trades no type is below ``minimum`` that was not already, nor lower than it was."""
    after = type_count.copy()
    for out, k in chain:
        after[c.qtype[out]] -= 1
        after[c.qtype[k]] += 1
    return bool((after >= np.minimum(type_count, minimum)).all())


def cover_deciles(c: Candidates, taken: np.ndarray, n_deciles: int, minimum: int, n_types: int) -> int:
    """Give every query-centre decile that has supply at least one selected query, in place.

    Each trade keeps the duration bins' counts, every covered decile and every type's minimum; it moves
    a query between sources of one bin only where its own cell offers none. Returns the trades made
    (0 when every stocked decile already had a query: then nothing changes).
    """
    supply = np.bincount(c.qcenter, minlength=n_deciles)
    trades = 0
    while True:
        decile_count = np.bincount(c.qcenter[taken], minlength=n_deciles)
        type_count = np.bincount(c.qtype[taken], minlength=n_types)
        chain = None
        for d in np.flatnonzero((decile_count == 0) & (supply > 0)).tolist():
            for cross_type in (True, False):  # types may change where a type has queries to spare
                chain = _trade_chain(c, taken, d, decile_count, type_count, minimum, cross_type)
                if chain is not None and _keeps_minimums(c, chain, type_count, minimum):
                    break
                chain = None
            if chain:
                break
        if not chain:
            return trades
        for out, k in chain:
            taken[out], taken[k] = False, True
        trades += len(chain)
