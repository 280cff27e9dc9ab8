"""Which unmatched reports account for an interrupted send (pure)."""

from __future__ import annotations

from ivr.sms.reconcile import Adoption, Candidate, assign_parts


def test_quoted_text_puts_each_report_on_its_part() -> None:
    parts = ["Hello there, part one", "and this is part two"]
    found = assign_parts(parts, [Candidate("smsc", "b", "and this is part two"),
                                 Candidate("smsc", "a", "Hello there, part on")])
    assert found == Adoption("smsc", ["a", "b"])


def test_reports_without_text_fill_parts_in_arrival_order() -> None:
    assert assign_parts(["x", "y"], [Candidate("t", "1"), Candidate("t", "2")]) == \
        Adoption("t", ["1", "2"])


def test_a_missing_part_means_no_adoption() -> None:
    assert assign_parts(["x", "y"], [Candidate("t", "1", "x")]) is None


def test_repeated_reports_of_one_part_count_once() -> None:
    # ENROUTE then DELIVRD for the same id must not pass for two parts.
    assert assign_parts(["x", "y"], [Candidate("t", "1"), Candidate("t", "1")]) is None


def test_text_of_another_message_is_never_taken() -> None:
    assert assign_parts(["hello"], [Candidate("t", "1", "goodbye")]) is None
    assert assign_parts(["hello"], [Candidate("t", "1", "goodbye"), Candidate("t", "2")]) == \
        Adoption("t", ["2"])


def test_trailing_blanks_of_the_quote_are_ignored() -> None:
    assert assign_parts(["ab"], [Candidate("t", "1", "ab   ")]) == Adoption("t", ["1"])


def test_parts_come_from_one_transport_and_the_named_one_only() -> None:
    candidates = [Candidate("a", "1"), Candidate("b", "2"), Candidate("b", "3")]
    assert assign_parts(["x", "y"], candidates) == Adoption("b", ["2", "3"])
    assert assign_parts(["x"], candidates, transport="b") == Adoption("b", ["2"])
    assert assign_parts(["x"], candidates, transport="c") is None
