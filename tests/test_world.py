"""Tests for ptmlab.data.world: determinism, gold spans, template variety, fact consistency, agreement probes."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import pytest

from ptmlab.data.corpora import load_corpus
from ptmlab.data.world import agreement_examples, lexicon, make_world
from ptmlab.errors import InputError

DATE_RE = re.compile(r"^(\d{1,2} [A-Z][a-z]+ \d{4}|\d{1,2} [A-Z][a-z]+|\d{4})$")


@pytest.fixture(scope="module")
def world():
    return make_world(seed=0)


def _snapshot(world):
    return [(s.text, s.entities, s.fact, s.template_id) for d in world.documents() for s in d.sentences]


# ----------------------------------------------------------------------------- lexicon and determinism
def test_lexicon_sizes():
    lex = lexicon()
    assert len(lex["first_names"]["female"]) + len(lex["first_names"]["male"]) >= 200
    assert len(lex["last_names"]["last_names"]) >= 200
    assert len(lex["places"]["cities"]) >= 100 and len(lex["places"]["countries"]) >= 40
    orgs = lex["organisations"]
    assert len(orgs["companies"]) + len(orgs["university_patterns"]) + len(orgs["club_patterns"]) >= 60
    assert len(lex["professions"]["professions"]) >= 40
    for name, relation in lex["relations"].items():
        assert len(relation["templates"]) >= 5, name


def test_same_seed_same_world_and_different_seed_differs(world):
    again = make_world(seed=0)
    assert again.facts == world.facts
    assert _snapshot(again) == _snapshot(world)
    other = make_world(seed=1)
    assert other.facts != world.facts and other.sentences() != world.sentences()


def test_world_is_identical_across_processes():
    """No set or hash order leaks into the output: two interpreters with different hash seeds agree."""
    import os
    import subprocess
    import sys

    code = (
        "import hashlib; from ptmlab.data.world import make_world, agreement_examples; w = make_world(0); "
        "ex = agreement_examples(w, 20, distance=9, attractors=True, seed=2); "
        "print(hashlib.sha256(repr((w.facts, [d.sentences for d in w.documents()], ex)).encode()).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=True,
            capture_output=True,
            text=True,
        ).stdout  # fmt: skip
        for seed in ("1", "2")
    }
    assert len(digests) == 1


def test_world_sizes_and_bad_arguments(world):
    assert len(world.entities_of("person")) == 300
    assert len(world.documents()) >= 400 and len(world.documents(7)) == 7
    assert len(world.sentences()) >= 2000
    with pytest.raises(InputError):
        make_world(n_people=0)
    with pytest.raises(InputError):
        make_world(n_cities=5, n_countries=10)


# ----------------------------------------------------------------------------- documents and spans
def test_entity_spans_match_the_text(world):
    labels = Counter()
    for document in world.documents():
        for sentence in document.sentences:
            previous_end = 0
            for span in sorted(sentence.entities, key=lambda s: s.start):
                surface = sentence.text[span.start : span.end]
                assert span.start >= previous_end, sentence  # no overlaps
                previous_end = span.end
                labels[span.label] += 1
                if span.label == "DATE":
                    assert DATE_RE.match(surface), surface
                elif span.entity_id is not None:
                    entity = world.entities[span.entity_id]
                    allowed = {entity.name, entity.attrs.get("last"), entity.attrs.get("adjective")}
                    assert surface in allowed, (surface, entity)
                    assert span.label == ("MISC" if surface == entity.attrs.get("adjective") else entity.label)
                else:
                    assert span.label == "MISC" and surface in lexicon()["places"]["languages"]
    assert set(labels) == {"PER", "LOC", "ORG", "DATE", "MISC"}


def test_documents_are_ordered_narratives(world):
    pronoun_starts = 0
    for document in world.documents():
        assert 4 <= len(document.sentences) <= 10
        first = document.sentences[0]
        # the first sentence names the subject in full, so a later pronoun has something to refer to
        assert any(s.entity_id == document.subject and first.text[s.start : s.end] == world.name(document.subject)
                   for s in first.entities), first.text  # fmt: skip
        assert all(s.fact is not None for s in document.sentences)
        pronoun_starts += sum(bool(re.match(r"(She|He|It|Her|His|Its) ", s.text)) for s in document.sentences[1:])
        assert not re.match(r"(She|He|It|Her|His|Its) ", first.text)
    assert pronoun_starts > 500


def test_each_relation_has_at_least_five_surface_forms(world):
    forms = defaultdict(set)
    for document in world.documents():
        for sentence in document.sentences:
            if sentence.template_id.split(":")[1].startswith("s"):
                skeleton = sentence.text
                for span in sorted(sentence.entities, key=lambda s: -s.start):
                    skeleton = skeleton[: span.start] + span.label + skeleton[span.end :]
                skeleton = re.sub(r"\b(She|He|It|she|he|it|her|his|its|him|The \w+|the \w+)\b", "X", skeleton)
                forms[sentence.fact.relation].add(skeleton.split(" ", 1)[1])  # drop the subject mention itself
    relations = Counter(f.relation for f in world.facts)
    for relation, count in relations.items():
        if count >= 30:
            templates = {s for s in forms[relation]}
            assert len(templates) >= 5, (relation, templates)


def test_facts_are_consistent(world):
    facts = defaultdict(list)
    for fact in world.facts:
        facts[fact.relation].append(fact)
    country_of = {f.subject: f.object for f in facts["city_in_country"]}
    assert set(country_of) == {e.id for e in world.entities_of("city")}
    capitals = Counter(f.object for f in facts["capital_of"])
    assert set(capitals) == {e.id for e in world.entities_of("country")} and set(capitals.values()) == {1}
    assert all(country_of[f.subject] == f.object for f in facts["capital_of"])
    married = {(f.subject, f.object) for f in facts["married_to"]}
    assert married and all((b, a) in married for a, b in married)
    home = {f.subject: f.object for f in facts["lives_in"]}
    assert all(home[a] == home[b] for a, b in married)
    born = {f.subject: int(f.object[-4:]) for f in facts["born_on"]}
    founded = {f.subject: int(f.object) for f in facts["founded_in"]}
    assert all(20 <= founded[f.subject] - born[f.object] <= 70 for f in facts["founded_by"])
    assert {f.relation for f in world.facts} >= {"born_in", "lives_in", "works_for", "profession", "city_in_country",
                                                  "capital_of", "founded_in", "headquartered_in"}  # fmt: skip


def test_cloze_facts(world):
    cloze = world.cloze_facts()
    leaky = world.cloze_facts(keep_name_leaks=True)
    assert len(leaky) == len(world.facts) and 0.9 * len(leaky) < len(cloze) < len(leaky)
    for text, answer in cloze:
        assert text.count("[BLANK]") == 1 and answer
        assert not re.search(rf"\b{re.escape(answer)}\b", text), (text, answer)  # the answer is not given away
    pairs = set(cloze)
    capitals = [f for f in world.facts if f.relation == "capital_of"]
    assert capitals and all(
        (f"{world.name(f.subject)} is the capital of [BLANK].", world.name(f.object)) in pairs for f in capitals
    )
    born = [(t, a) for t, a in cloze if " was born in [BLANK]." in t]
    assert born and all(a in {e.name for e in world.entities_of("city")} for _, a in born)


def test_world_corpus_matches_the_world(world):
    corpus = load_corpus("world")
    assert corpus.sentences == world.sentences()
    assert [len(d) for d in corpus.documents] == [len(d.sentences) for d in world.documents()]


# ----------------------------------------------------------------------------- agreement probes
def _noun_numbers():
    lex = lexicon()
    pairs = lex["agreement"]["things"] + lex["agreement"]["people"]
    pairs += [[p["name"], p["plural"]] for p in lex["professions"]["professions"]]
    return {s for s, _ in pairs}, {p for _, p in pairs}


@pytest.mark.parametrize("distance", [1, 2, 3, 4, 7, 12, 20, 30])
@pytest.mark.parametrize("attractors", [False, True])
def test_agreement_examples(world, distance, attractors):
    if attractors and distance < 3:
        with pytest.raises(InputError):
            agreement_examples(world, 10, distance=distance, attractors=True, seed=0)
        return
    examples = agreement_examples(world, 101, distance=distance, attractors=attractors, seed=3)
    assert Counter(e.label for e in examples) == Counter({0: 50, 1: 51})
    singular, plural = _noun_numbers()
    for e in examples:
        assert e.distance == distance == e.verb_index - e.subject_index - 1
        subject, verb = e.tokens[e.subject_index], e.tokens[e.verb_index]
        assert subject in (plural if e.label else singular)
        assert verb == e.verb_forms[e.label] and e.verb_forms[0] != e.verb_forms[1]
        between = e.tokens[e.subject_index + 1 : e.verb_index]
        opposite = sum(w in (singular if e.label else plural) for w in between)
        assert opposite == e.n_attractors
        assert (e.n_attractors >= 1) if attractors else (e.n_attractors == 0)
    again = agreement_examples(world, 101, distance=distance, attractors=attractors, seed=3)
    assert [e.tokens for e in again] == [e.tokens for e in examples]
    other = agreement_examples(world, 101, distance=distance, attractors=attractors, seed=4)
    assert [e.tokens for e in other] != [e.tokens for e in examples]


def test_agreement_bad_arguments(world):
    with pytest.raises(InputError):
        agreement_examples(world, 0, distance=3, attractors=False)
    with pytest.raises(InputError):
        agreement_examples(world, 5, distance=0, attractors=False)


def test_a_template_typo_is_caught_when_loading():
    from ptmlab.data.world import _check_relations
    from ptmlab.errors import DataError

    good = {"subject": "person", "object": "city", "order": 0, "templates": ["{S} lives in {O}."]}
    _check_relations({"lives_in": good})
    with pytest.raises(DataError, match="placeholder"):
        _check_relations({"lives_in": {**good, "templates": ["{S} lives in {O:locative}."]}})
    with pytest.raises(DataError, match="unknown object type"):
        _check_relations({"lives_in": {**good, "object": "planet"}})
