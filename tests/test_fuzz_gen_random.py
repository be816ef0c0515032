"""The generator's random stream: `GenRandom` must draw exactly what `random.Random` draws from
the same seed, so that a seed's programs stay the same programs."""

import random

import pytest

from clifkit.fuzz import generator
from clifkit.fuzz.features import parse_features
from clifkit.fuzz.gen_values import GenRandom


def _draws(rng: random.Random) -> list:
    out = []
    for n in (1, 2, 3, 4, 5, 7, 8, 14, 16, 31, 32, 33, 100, 255, 256, 1000, 1 << 31, 1 << 32, (1 << 40) + 3):
        seq = list(range(n)) if n <= 1000 else range(n)
        out += [rng.choice(seq) for _ in range(20)]
        out += [rng.randrange(n) for _ in range(20)]
        out += [rng.randrange(-3, n) for _ in range(20)]
        out += [rng.randint(1, n) for _ in range(20)]
        out.append(rng.random())
    out += [rng.expovariate(0.35) for _ in range(50)]
    out += [rng.randrange(0, 100, 7) for _ in range(20)]  # (a step: the library's own)
    out += rng.sample(range(16), 5)
    return out


@pytest.mark.parametrize("seed", [0, 1, (5 << 32) + 17])
def test_gen_random_draws_the_librarys_stream(seed):
    assert _draws(GenRandom(seed)) == _draws(random.Random(seed))


def test_gen_random_refuses_what_the_library_refuses():
    rng = GenRandom(1)
    with pytest.raises(IndexError):
        rng.choice([])
    for bad in ((0,), (5, 5), (5, 2)):
        with pytest.raises(ValueError):
            rng.randrange(*bad)


def test_programs_are_those_the_librarys_random_makes(monkeypatch):
    features = parse_features("all")
    cfg = generator.GenConfig(features=features, targets=("x86_64", "aarch64", "s390x"), cranelift="2022")
    ours = [generator.Generator(cfg).program(seed).text() for seed in range(40)]
    monkeypatch.setattr(generator, "GenRandom", random.Random)
    theirs = [generator.Generator(cfg).program(seed).text() for seed in range(40)]
    assert ours == theirs
