"""Which unmatched reports account for an interrupted send (pure)."""

from __future__ import annotations

from ivr.sms.reconcile import Candidate, assign_parts


def report(transport: str, provider_id: str, text: str = "") -> Candidate:
    return Candidate(transport, provider_id, text=text)


def found(part_texts: list[str], candidates: list[Candidate],
          transport: str = "") -> tuple[str, list[str]] | None:
    """(transport, the provider id put on each part), or None."""
    adoption = assign_parts(part_texts, candidates, transport)
    return None if adoption is None else (adoption.transport,
                                          [p.key for p in adoption.parts])


def test_quoted_text_puts_each_report_on_its_part() -> None:
    parts = ["Hello there, part one", "and this is part two"]
    assert found(parts, [report("smsc", "b", "and this is part two"),
                         report("smsc", "a", "Hello there, part on")]) == ("smsc", ["a", "b"])


def test_reports_without_text_fill_parts_in_arrival_order() -> None:
    assert found(["x", "y"], [report("t", "1"), report("t", "2")]) == ("t", ["1", "2"])


def test_a_missing_part_means_no_adoption() -> None:
    assert found(["x", "y"], [report("t", "1", "x")]) is None


def test_repeated_reports_of_one_part_count_once() -> None:
    # ENROUTE then DELIVRD for the same id must not pass for two parts.
    assert found(["x", "y"], [report("t", "1"), report("t", "1")]) is None


def test_text_of_another_message_is_never_taken() -> None:
    assert found(["hello"], [report("t", "1", "goodbye")]) is None
    assert found(["hello"], [report("t", "1", "goodbye"), report("t", "2")]) == ("t", ["2"])


def test_trailing_blanks_of_the_quote_are_ignored() -> None:
    assert found(["ab"], [report("t", "1", "ab   ")]) == ("t", ["1"])


def test_parts_come_from_one_transport_and_the_named_one_only() -> None:
    candidates = [report("a", "1"), report("b", "2"), report("b", "3")]
    assert found(["x", "y"], candidates) == ("b", ["2", "3"])
    assert found(["x"], candidates, transport="b") == ("b", ["2"])
    assert found(["x"], candidates, transport="c") is None


def test_modem_reports_are_told_apart_by_reference() -> None:
    adoption = assign_parts(["x", "y"], [Candidate("gsm", reference=7),
                                         Candidate("gsm", reference=7),
                                         Candidate("gsm", reference=8)])
    assert adoption is not None
    assert [(p.provider_id, p.reference) for p in adoption.parts] == [("", 7), ("", 8)]
