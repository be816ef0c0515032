"""Reader fuzzing (`clifkit.fuzz.reader`, `reader_oracle`, `reader_inputs`): random and mutated CLIF must parse (then verify without
raising and print stably) or fail with a located ClifError; a short fixed-seed run and Hypothesis
properties here, the long run is `clifkit fuzz --reader --count 100000 --seed 1`."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clifkit.cli import main as clifkit_main
from clifkit.diagnostics import ClifError, Diagnostic, Location
from clifkit.fuzz import reader as rf
from clifkit.fuzz import reader_inputs as ri
from clifkit.fuzz import reader_oracle as ro
from clifkit.fuzz.reduce_chunks import shrink_text

SEEDS = ri.load_corpus()
FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_the_corpus_is_the_projects_own_clif():
    names = {p.name for p in ri.project_corpus()}
    assert {"integers.clif", "static.clif", "all_formats.clif", "heap_era.clif"} <= names
    assert len(SEEDS) == len(names) + 2  # and two built-in programs


def test_every_corpus_file_parses_verifies_and_prints_stably():
    for text in SEEDS:
        assert ro.check(text).kind == ro.PARSED


def test_a_fixed_seed_run_finds_nothing():
    stats = rf.fuzz_reader(1500, seed=0)
    assert stats.count == 1500
    assert not stats.findings, [(f.index, f.outcome.kind, f.outcome.detail, f.reduced) for f in stats.findings]
    # Both outcomes occur: mutations that still read, and located errors.
    assert stats.outcomes.get(ro.PARSED, 0) > 100 and stats.outcomes.get(ro.ERROR, 0) > 500
    assert re.fullmatch(r"1500 inputs in [\d.]+ s \(\d+ inputs/s\), seed 0: .*; 0 failures", stats.summary())


def test_inputs_are_reproducible_by_seed_and_index():
    assert ri.make_input(1, 42, SEEDS) == ri.make_input(1, 42, SEEDS)
    assert len({ri.make_input(1, i, SEEDS) for i in range(50)}) >= 45
    assert ri.make_input(1, 7, SEEDS) != ri.make_input(2, 7, SEEDS)


@FUZZ
@given(st.randoms(use_true_random=False), st.integers(1, 4))
def test_mutated_clif_parses_or_fails_located(rng, rounds):
    text = ri.mutate(rng.choice(SEEDS), rng, SEEDS, rounds)
    outcome = ro.check(text)
    assert outcome.ok, (outcome.kind, outcome.detail, text)


@FUZZ
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_arbitrary_text_parses_or_fails_located(text):
    outcome = ro.check(text)
    assert outcome.ok, (outcome.kind, outcome.detail, text)


@FUZZ
@given(st.lists(st.sampled_from(ri.WORDS + ri.PUNCT + ri.NUMBERS), max_size=80))
def test_token_soup_parses_or_fails_located(tokens):
    text = " ".join(tokens)
    outcome = ro.check(text)
    assert outcome.ok, (outcome.kind, outcome.detail, text)


# -- the checker finds what it must find -------------------------------------------------------------


def test_a_reader_crash_is_found_and_reduced(monkeypatch):
    original = ro.parse_text

    def broken(text, path="<string>"):
        if "bnot" in text:
            raise IndexError("list index out of range")
        return original(text, path)

    monkeypatch.setattr(ro, "parse_text", broken)
    text = "test interpret\nfunction %f(i8) -> i8 {\nblock0(v0: i8):\n    v1 = bnot v0\n    return v1\n}\n"
    outcome = ro.check(text)
    assert outcome.kind == "reader-crash" and outcome.detail.startswith("IndexError at test_reader_fuzz.py:")
    reduced = shrink_text(text, lambda t: ro.check(t).signature == outcome.signature)
    assert reduced == "bnot"


def test_an_unstable_printer_is_found(monkeypatch):
    original = ro.format_test_file
    calls = {"n": 0}

    def drifting(tf):
        calls["n"] += 1
        return original(tf) + ("" if calls["n"] % 2 else "; drift\n")

    monkeypatch.setattr(ro, "format_test_file", drifting)
    outcome = ro.check(SEEDS[0])
    assert outcome.kind == "unstable" and "reprinted" in outcome.detail


def test_an_unlocated_error_is_found(monkeypatch):
    def misplaced(text, path="<string>"):
        raise ClifError(Diagnostic(Location(path, 99, 1), "somewhere else"))

    monkeypatch.setattr(ro, "parse_text", misplaced)
    outcome = ro.check("function\n")
    assert outcome.kind == "unlocated"
    assert outcome.detail == "diagnostic at 99:1, outside the 2-line text: somewhere else"


def test_a_verifier_that_raises_is_found(monkeypatch):
    def raising(tf, text=None):
        raise KeyError("ss9")

    monkeypatch.setattr(ro, "verify_test_file", raising)
    assert ro.check(SEEDS[0]).kind == "verifier-crash"


def test_every_mutation_returns_text():
    rng = random.Random(0)
    for mutation in ri.MUTATIONS:
        for text in ("", "x", SEEDS[0]):
            assert isinstance(mutation(text, rng, SEEDS), str)


# -- the command ---------------------------------------------------------------------------------------


def test_the_command_prints_the_rate_and_the_outcomes(capsys, tmp_path):
    status = clifkit_main(["fuzz", "--reader", "--count", "200", "--seed", "3", "--out", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert status == 0
    assert re.fullmatch(r"200 inputs in [\d.]+ s \(\d+ inputs/s\), seed 3: (error|parsed) \d+, (error|parsed) \d+; "
                        r"slowest input \d+ took \d+ ms; 0 failures\n", out)
    assert not (tmp_path / "o").exists()  # nothing failed, nothing written


def test_the_command_takes_a_corpus(capsys, tmp_path):
    (tmp_path / "one.clif").write_text(SEEDS[-1])
    assert clifkit_main(["fuzz", "--reader", "--count", "50", "--corpus", str(tmp_path)]) == 0
    assert "50 inputs in" in capsys.readouterr().out


def test_a_corpus_path_that_gives_no_clif_is_refused(capsys, tmp_path):
    """A --corpus path that does not exist, a folder with no .clif file and a file that cannot be
    read were passed over silently: the run mutated the built-in seeds alone."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "bin.clif").write_bytes(b"\xff\xfe\x00")
    for path, why in ((tmp_path / "nope", "no such file or directory"),
                      (tmp_path / "empty", "no .clif file in it"),
                      (tmp_path / "bin.clif", "cannot read it: not UTF-8 text")):
        assert clifkit_main(["fuzz", "--reader", "--count", "5", "--corpus", str(path)]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err == f"clifkit fuzz: error: --corpus {path}: {why}\n"


def test_campaign_options_with_reader_and_corpus_without_it_are_refused(capsys, tmp_path):
    """`--corpus` without `--reader`, and the campaign's options with it (which run no engine
    there), were ignored silently."""
    (tmp_path / "one.clif").write_text(SEEDS[-1])
    with pytest.raises(SystemExit) as e:
        clifkit_main(["fuzz", "--count", "3", "--corpus", str(tmp_path)])
    assert e.value.code == 2
    assert "clifkit fuzz: error: --corpus names the texts --reader mutates: give --reader too" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        clifkit_main(["fuzz", "--reader", "--count", "3", "--target", "s390x", "--opt-level", "all"])
    assert e.value.code == 2
    assert "error: --target, --opt-level: not options of --reader" in capsys.readouterr().err
    # Its own options, and a campaign option at its default value, are taken.
    assert clifkit_main(["fuzz", "--reader", "--count", "20", "--seed", "4", "--verify-every", "10",
                         "--corpus", str(tmp_path)]) == 0
    assert "20 inputs in" in capsys.readouterr().out


def test_ctrl_c_ends_a_reader_campaign_with_its_figures(tmp_path, monkeypatch, capsys):
    """Ctrl-C prints the figures of the inputs checked (it printed "interrupted" alone), exit 130;
    a failure being shrunk when it comes is kept, unreduced, in --out."""
    real = rf.check
    calls = {"n": 0}

    def check(text):
        calls["n"] += 1
        if calls["n"] == 5:  # the fifth input fails; the first shrinking step is interrupted
            return ro.Outcome("reader-crash", "boom", 0.0)
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return real(text)

    monkeypatch.setattr(rf, "check", check)
    status = clifkit_main(["fuzz", "--reader", "--count", "1000", "--seed", "3", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 130
    assert "interrupted (Ctrl-C): the figures below are those of the 5 inputs checked" in out
    assert re.search(r"^5 inputs in .*; 1 failure$", out, re.M)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reader-crash-3-4.clif", "reader-crash-3-4.txt"]
