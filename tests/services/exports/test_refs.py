"""What `/xero export …` was asked for: references, ranges, `unexported [client]`, and what could not be read."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.exports.refs import MAX_BATCH, parse_export_args


def test_references_separated_by_spaces_and_commas_in_the_order_given():
    parsed = parse_export_args("INV-101 INV-102,INV-110 ,  INV-103")
    assert parsed.references == ("INV-101", "INV-102", "INV-110", "INV-103")
    assert parsed.problems == ()


def test_a_range_lists_every_invoice_between_its_ends():
    parsed = parse_export_args("INV-101..INV-130")
    assert len(parsed.references) == 30
    assert parsed.references[0] == "INV-101" and parsed.references[-1] == "INV-130"


def test_a_range_keeps_zero_padding_and_may_have_spaces_around_the_mark():
    assert parse_export_args("INV-098 .. INV-101").references == ("INV-098", "INV-099", "INV-100", "INV-101")
    assert parse_export_args("INV-9…INV-11").references == ("INV-9", "INV-10", "INV-11")


def test_a_reference_named_twice_is_asked_for_once():
    assert parse_export_args("INV-1 inv-1 INV-1..INV-2").references == ("INV-1", "INV-2")


def test_ranges_that_cannot_be_read_are_reported_and_the_rest_still_counts():
    parsed = parse_export_args("INV-5..INV-1 INV-1..PO-3 INV-1..INV-600 INV-7")
    assert parsed.references == ("INV-7",)
    assert [(p.code, p.text) for p in parsed.problems] == [
        ("reversed_range", "INV-5..INV-1"), ("bad_range", "INV-1..PO-3"), ("range_too_long", "INV-1..INV-600"),
    ]
    assert parsed.problems[2].count == 600


def test_more_than_the_limit_keeps_the_first_five_hundred_and_names_the_rest():
    parsed = parse_export_args("INV-1..INV-400 INV-401..INV-510")
    assert len(parsed.references) == MAX_BATCH
    (problem,) = parsed.problems
    assert problem.code == "too_many" and problem.count == 10
    assert problem.text.split() == [f"INV-{n}" for n in range(501, 511)]


def test_unexported_with_and_without_a_client_name():
    everything = parse_export_args("unexported")
    assert everything.unexported and everything.client_name is None and everything.references == ()
    one_client = parse_export_args("Unexported  Acme   Corporation")
    assert one_client.unexported and one_client.client_name == "Acme Corporation"


def test_nothing_asked_is_empty():
    assert parse_export_args("  ").empty
    assert not parse_export_args("INV-1").empty


reference = st.from_regex(r"[A-Z]{1,4}-?[0-9]{1,5}", fullmatch=True)
separator = st.sampled_from([" ", ",", ", ", "  ", " ,", "\t"])


@given(st.lists(reference, min_size=1, max_size=60), separator)
def test_any_references_with_any_separators_come_back_once_each_in_order(refs, sep):
    parsed = parse_export_args(sep.join(refs))
    expected = list(dict.fromkeys(r.casefold() for r in refs))
    assert [r.casefold() for r in parsed.references] == expected
    assert parsed.problems == ()


@given(st.from_regex(r"[A-Z]{1,4}-", fullmatch=True), st.integers(0, 99_999), st.integers(0, MAX_BATCH - 1),
       st.integers(1, 6))
def test_any_short_range_expands_to_consecutive_numbers_from_start_to_end(prefix, first, span, width):
    start, end = f"{prefix}{first:0{width}d}", f"{prefix}{first + span:0{width}d}"
    parsed = parse_export_args(f"{start}..{end}")
    assert parsed.references[0] == start and parsed.references[-1] == end
    assert len(parsed.references) == span + 1
    assert [int(r[len(prefix):]) for r in parsed.references] == list(range(first, first + span + 1))


@given(st.text(max_size=300))
def test_any_text_parses_without_error_and_within_the_limit(text):
    parsed = parse_export_args(text)
    assert len(parsed.references) <= MAX_BATCH
    assert all(ref and "," not in ref and not any(c.isspace() for c in ref) for ref in parsed.references)
