"""Which stored reports belong to a send that was interrupted (pure, no I/O).

A worker that dies between the peer's acceptance and our commit leaves a message whose
fate we do not know: resending it risks a duplicate, not resending it risks a loss. The
peer knows: an SMSC keeps a receipt until it is acknowledged and hands it to the next bind,
a modem reports +CDS, the loopback "network" replays what it never saw acknowledged. Those
reports arrive with ids we never stored, so they wait as unmatched reports. When the
message's hold ends (``[sms] in_doubt_hold_seconds``) the store asks :func:`assign_parts`
whether the unmatched reports for its recipient, received after the interrupted claim,
cover every part; if so the message is adopted as sent with those ids instead of being sent
again.

A report that quotes the start of its part's text (the SMPP receipt's ``text:`` field)
matches only a part that starts so; one that quotes nothing matches any part, in order of
arrival. A report quoting a text that no part starts with belongs to another message and is
never taken: a wrong adoption would lose a message, a missed one only costs a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Candidate", "Adoption", "assign_parts"]


@dataclass(frozen=True)
class Candidate:
    """One unmatched report. Its provider id (or, from a modem, its reference) names the
    peer's part: several reports naming one part (enroute, then delivered) count once."""

    transport: str
    provider_id: str = ""
    reference: int | None = None
    text: str = ""

    @property
    def key(self) -> str:
        return self.provider_id or f"reference {self.reference}"


@dataclass(frozen=True)
class Adoption:
    transport: str
    parts: list[Candidate]   # one per part, in part order


def _fits(quoted: str, part: str) -> bool:
    # SMSCs quote the first 20 characters, some fewer; trailing blanks are often trimmed.
    quoted = quoted.rstrip()
    return not quoted or part.startswith(quoted)


def assign_parts(part_texts: list[str], candidates: list[Candidate],
                 transport: str = "") -> Adoption | None:
    """A report per part from one transport (``transport`` when the message names one), or
    None when the reports do not account for the whole message."""
    by_transport: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        if transport and candidate.transport != transport:
            continue
        group = by_transport.setdefault(candidate.transport, [])
        if all(c.key != candidate.key for c in group):
            group.append(candidate)
    for name, group in by_transport.items():
        parts = _assign(part_texts, group)
        if parts is not None:
            return Adoption(name, parts)
    return None


def _assign(part_texts: list[str], group: list[Candidate]) -> list[Candidate] | None:
    chosen: list[Candidate | None] = [None] * len(part_texts)
    unused: list[Candidate] = []
    # Reports that quote text go to the first free part they fit; the others fill the rest.
    for candidate in group:
        if not candidate.text.strip():
            unused.append(candidate)
            continue
        for idx, text in enumerate(part_texts):
            if chosen[idx] is None and _fits(candidate.text, text):
                chosen[idx] = candidate
                break
    for idx in range(len(chosen)):
        if chosen[idx] is None and unused:
            chosen[idx] = unused.pop(0)
    if any(part is None for part in chosen):
        return None
    return [part for part in chosen if part is not None]
