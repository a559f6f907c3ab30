"""Counting ballots: plurality (single choice), approval (multiple choice), instant runoff
with Borda as a second count (ranked choice).

A ballot is a tuple of option ids: the one chosen, the ones chosen, or the ranking from the
first preference down (the counters take the ballots one by one, or grouped: a ``Counter`` of
identical ballots) (a ranking may stop early; unranked options are below every ranked one).

Instant runoff (IRV), as counted here:
1. Each round every ballot counts for its highest-ranked option still in the race; a ballot
   with none left is *exhausted* and counts no more.
2. An option with more than half of the round's non-exhausted ballots wins. When one option
   is left it wins.
3. Otherwise the option with the fewest votes is eliminated. Ties for fewest are broken, in
   order, by: (a) fewer votes in the round before, then the one before that, back to the first
   round (backward tie-breaking); (b) the lower Borda score; (c) the later position in the
   poll's published option list. The rule is fixed before the poll opens, so a tie never
   waits on anyone's choice and every recount eliminates the same option.
4. No ballots at all: no winner.

Borda: with n options, the first preference scores n-1, the second n-2, and so on; options a
ballot does not rank score 0 on it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

Ballot = tuple[str, ...]


@dataclass(frozen=True)
class Round:
    tallies: dict[str, int]
    exhausted: int
    eliminated: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What a count publishes: the kind, per-option totals, winners (several on a tie of a
    plurality or approval count), and for ranked polls the IRV rounds and Borda scores."""

    kind: str
    ballots: int
    totals: dict[str, int]
    winners: tuple[str, ...]
    rounds: tuple[Round, ...] = ()
    borda: dict[str, int] = field(default_factory=dict)


def _top(totals: dict[str, int]) -> tuple[str, ...]:
    if not totals or max(totals.values()) == 0:
        return ()
    best = max(totals.values())
    return tuple(o for o, n in totals.items() if n == best)


def grouped(ballots: Iterable[Ballot] | Counter[Ballot]) -> Counter[Ballot]:
    """Identical ballots counted once, with how many there are (a Counter passes through)."""
    return ballots if isinstance(ballots, Counter) else Counter(ballots)


def count_plurality(options: Sequence[str], ballots: Iterable[Ballot]) -> Outcome:
    totals = dict.fromkeys(options, 0)
    n = 0
    for ballot, times in grouped(ballots).items():
        n += times
        totals[ballot[0]] += times
    return Outcome("single", n, totals, _top(totals))


def count_approval(options: Sequence[str], ballots: Iterable[Ballot]) -> Outcome:
    totals = dict.fromkeys(options, 0)
    n = 0
    for ballot, times in grouped(ballots).items():
        n += times
        for option in ballot:
            totals[option] += times
    return Outcome("multiple", n, totals, _top(totals))


def borda_scores(options: Sequence[str], grouped: Counter[Ballot]) -> dict[str, int]:
    scores = dict.fromkeys(options, 0)
    top = len(options) - 1
    for ballot, times in grouped.items():
        for place, option in enumerate(ballot):
            scores[option] += (top - place) * times
    return scores


def _round(grouped: Counter[Ballot], running: set[str], options: Sequence[str]) -> Round:
    tallies = {o: 0 for o in options if o in running}
    exhausted = 0
    for ballot, times in grouped.items():
        for option in ballot:
            if option in running:
                tallies[option] += times
                break
        else:
            exhausted += times
    return Round(tallies, exhausted)


def _loser(
    tallies: dict[str, int], earlier: list[Round], borda: dict[str, int], options: Sequence[str]
) -> str:
    fewest = min(tallies.values())
    tied = [o for o, n in tallies.items() if n == fewest]
    for past in reversed(earlier):
        if len(tied) == 1:
            break
        least = min(past.tallies[o] for o in tied)
        tied = [o for o in tied if past.tallies[o] == least]
    if len(tied) > 1:
        least = min(borda[o] for o in tied)
        tied = [o for o in tied if borda[o] == least]
    return max(tied, key=options.index)


def count_instant_runoff(options: Sequence[str], ballots: Iterable[Ballot]) -> Outcome:
    rankings = grouped(ballots)  # identical rankings counted once
    total = sum(rankings.values())
    borda = borda_scores(options, rankings)
    first = _round(rankings, set(options), options).tallies
    if total == 0:
        return Outcome("ranked", 0, first, (), (), borda)
    running, rounds = set(options), []
    while True:
        current = _round(rankings, running, options)
        live = total - current.exhausted
        leader = max(current.tallies, key=lambda o: (current.tallies[o], -options.index(o)))
        if len(running) == 1 or (live and current.tallies[leader] * 2 > live):
            rounds.append(current)
            return Outcome("ranked", total, first, (leader,), tuple(rounds), borda)
        loser = _loser(current.tallies, rounds, borda, options)
        rounds.append(Round(current.tallies, current.exhausted, loser))
        running.discard(loser)


COUNTERS = {
    "single": count_plurality,
    "multiple": count_approval,
    "ranked": count_instant_runoff,
}


def count(kind: str, options: Sequence[str], ballots: Iterable[Ballot]) -> Outcome:
    return COUNTERS[kind](options, ballots)


def outcome_to_dict(outcome: Outcome) -> dict:
    return {
        "kind": outcome.kind,
        "ballots": outcome.ballots,
        "totals": outcome.totals,
        "winners": list(outcome.winners),
        "rounds": [
            {"tallies": r.tallies, "exhausted": r.exhausted, "eliminated": r.eliminated}
            for r in outcome.rounds
        ],
        "borda": outcome.borda,
    }
