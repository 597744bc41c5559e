"""The synthetic world, version 1: a seeded knowledge graph rendered into English documents with gold annotations.

Gold labels the real corpora lack: entity spans (NER), fact triples and LAMA-style cloze statements (Petroni et al. 2019),
sentence order within documents (NSP/SOP), and subject-verb agreement probes with attractors (Linzen et al. 2016)."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ptmlab.data.manifest import data_dir
from ptmlab.errors import DataError, InputError

WORLD_VERSION = 1
MONTHS = "January February March April May June July August September October November December".split()
DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

# Entity types and the NER label their names carry.
ENTITY_LABELS = {
    "person": "PER",
    "city": "LOC",
    "country": "LOC",
    "company": "ORG",
    "university": "ORG",
    "club": "ORG",
    "award": "MISC",
}
# Literal (non-entity) objects: the label their surface form carries, or None for common nouns (not entities).
LITERAL_LABELS = {
    "date": "DATE",
    "year": "DATE",
    "language": "MISC",
    "profession": None,
    "industry": None,
    "currency": None,
}
TYPE_GROUPS = {"organisation": ("company", "university", "club")}  # a relation's subject may name a group of types
# How a non-person entity is named briefly ("the city"); people are named by their family name.
SHORT_NAMES = {"city": "the city", "country": "the country", "company": "the company", "university": "the institution",
               "club": "the club", "award": "the award"}  # fmt: skip
PRONOUNS = {
    "female": {"nom": "she", "acc": "her", "poss": "her"},
    "male": {"nom": "he", "acc": "him", "poss": "his"},
    None: {"nom": "it", "acc": "it", "poss": "its"},
}
# How often a later sentence of a document names its subject by pronoun, short name or full name.
MENTION_WEIGHTS = {"pronoun": 0.5, "short": 0.2, "name": 0.3}
_PLACEHOLDER_RE = re.compile(r"\{([SO])(?::(\w+))?\}")


# ============================================================================ data classes
@dataclass(frozen=True)
class Entity:
    id: str
    name: str
    type: str  # person, city, country, company, university, club, award
    attrs: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def label(self) -> str:
        return ENTITY_LABELS[self.type]


@dataclass(frozen=True)
class Fact:
    """(subject, relation, object): subject is an entity id; object an entity id or a literal ('1987', 'engineer')."""

    subject: str
    relation: str
    object: str


@dataclass(frozen=True)
class Span:
    """A gold entity mention: text[start:end], its NER label, and the entity it names (None for dates etc.)."""

    start: int
    end: int
    label: str  # PER, LOC, ORG, DATE, MISC
    entity_id: str | None = None


@dataclass
class WorldSentence:
    text: str
    entities: list[Span]
    fact: Fact | None = None
    template_id: str | None = None  # 'born_in:s3' = the 4th subject-side template of born_in


@dataclass
class Document:
    """4-10 sentences about one entity, in narrative order: the first names the subject, later ones may use pronouns."""

    subject: str
    sentences: list[WorldSentence]

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)


@dataclass
class AgreementExample:
    """A subject-verb agreement probe: predict the number of tokens[verb_index] from tokens[:verb_index]."""

    tokens: list[str]
    verb_index: int
    label: int  # 0 = singular subject, 1 = plural
    distance: int  # words strictly between the subject noun and the verb
    n_attractors: int  # intervening nouns whose number differs from the subject's
    subject_index: int = 1
    verb_forms: tuple[str, str] = ("is", "are")  # (singular, plural): compare their LM scores at verb_index

    @property
    def text(self) -> str:
        return " ".join(self.tokens)


# ============================================================================ lexicon
@lru_cache(maxsize=4)
def _load_lexicon(folder: str) -> dict[str, Any]:
    path = Path(folder)
    files = ("first_names", "last_names", "places", "organisations", "professions", "relations", "agreement")
    lexicon: dict[str, Any] = {}
    for name in files:
        file = path / f"{name}.json"
        if not file.is_file():
            raise DataError(
                f"The synthetic world's lexicon file {file} is missing.", fix="Restore data/world/ from git."
            )
        lexicon[name] = json.loads(file.read_text(encoding="utf-8"))
    lexicon["relations"] = {k: v for k, v in lexicon["relations"].items() if not k.startswith("_")}
    _check_relations(lexicon["relations"])
    return lexicon


PLACEHOLDER_FORMS = {"nom", "acc", "poss", "in", "name", "a", "adj", "a_adj", "year", "daymonth"}


def _check_relations(relations: dict[str, dict[str, Any]]) -> None:
    """Catch a typo in data/world/relations.json when it is loaded, not halfway through rendering."""
    known_types = set(ENTITY_LABELS) | set(LITERAL_LABELS) | set(TYPE_GROUPS)
    for name, relation in relations.items():
        for key in ("subject", "object"):
            if relation.get(key) not in known_types:
                raise DataError(
                    f"Relation {name!r} has an unknown {key} type {relation.get(key)!r}.",
                    fix=f"Use one of {sorted(known_types)} in data/world/relations.json.",
                )
        for key in ("templates", "object_templates", "cloze"):
            for template in relation.get(key, []):
                for role, form in re.findall(r"\{([^}:]*)(?::([^}]*))?\}", template):
                    if role not in ("S", "O") or (form and form not in PLACEHOLDER_FORMS):
                        raise DataError(
                            f"Template {template!r} of relation {name!r} has an unknown placeholder.",
                            fix=f"Use {{S}} or {{O}}, optionally with one of :{', :'.join(sorted(PLACEHOLDER_FORMS))}.",
                        )


def lexicon() -> dict[str, Any]:
    """The data/world/*.json files as one dict (read once per process)."""
    return _load_lexicon(str(data_dir() / "world"))


def _indefinite(phrase: str) -> str:
    """'an engineer', 'a software', 'an Aldanian' (first-letter rule; none of our words needs an exception)."""
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


# ============================================================================ rendering
class _Renderer:
    """Fills a template for one fact, recording the spans of every named mention."""

    def __init__(self, world: World):
        self.world = world

    def render(self, template: str, fact: Fact, focus: str | None, mode: str, blank: str | None = None):
        """Return (text, spans). `focus` is 'S', 'O' or None; its first mention uses `mode`, later ones pronouns.
        With `blank`, the object's mention is replaced by it (cloze)."""
        parts: list[str] = []
        spans: list[Span] = []
        length = 0
        focus_seen = False
        for piece in re.split(r"(\{[SO](?::\w+)?\})", template):
            match = _PLACEHOLDER_RE.fullmatch(piece)
            if not match:
                parts.append(piece)
                length += len(piece)
                continue
            role, form = match.group(1), match.group(2) or "nom"
            value = fact.subject if role == "S" else fact.object
            if blank is not None and role == "O":
                before, core, after, label, eid = "", blank, "", None, None
            elif role == focus and form != "name":
                used_mode = "pronoun" if focus_seen else mode
                focus_seen = True
                before, core, after, label, eid = self._mention(value, form, used_mode)
            else:
                before, core, after, label, eid = self._mention(value, form, "name")
            if label is not None:
                start = length + len(before)
                spans.append(Span(start, start + len(core), label, eid))
            text = before + core + after
            parts.append(text)
            length += len(text)
        text = "".join(parts)
        return text[:1].upper() + text[1:], spans

    def _mention(self, value: str, form: str, mode: str) -> tuple[str, str, str, str | None, str | None]:
        """(text before the span, span text, text after, label or None, entity id) for one placeholder."""
        entity = self.world.entities.get(value)
        if entity is None:
            return self._literal(value, form)
        if form in ("adj", "a_adj"):
            adjective = entity.attrs["adjective"]
            before = ("an " if adjective[0].lower() in "aeiou" else "a ") if form == "a_adj" else ""
            return before, adjective, "", "MISC", entity.id
        if mode == "pronoun":
            pronouns = PRONOUNS[entity.attrs.get("gender")]
            if form == "in":
                return "there", "", "", None, None
            return pronouns.get(form, pronouns["nom"]), "", "", None, None
        if mode == "short":
            if entity.type == "person":
                core, label = entity.attrs["last"], "PER"
            else:
                core, label = SHORT_NAMES[entity.type], None
        else:
            core, label = entity.name, entity.label
        article = entity.attrs.get("article") if mode == "name" else None  # "the University of X"
        before = ("in " if form == "in" else "") + (f"{article} " if article else "")
        after = ("'" if core.endswith("s") else "'s") if form == "poss" else ""  # "Evans'", "Kingfisher Foods'"
        if label is None:  # a definite description such as "the city": not an entity span
            return "", before + core + after, "", None, None
        return before, core, after, label, entity.id

    def _literal(self, value: str, form: str) -> tuple[str, str, str, str | None, str | None]:
        kind = self.world.literal_kinds.get(value)
        label = LITERAL_LABELS.get(kind) if kind else None
        if form == "year":
            return "", value.split()[-1], "", "DATE", None
        if form == "daymonth":
            return "", " ".join(value.split()[:2]), "", "DATE", None
        if form == "a":
            article = _indefinite(value)[: -len(value)]
            return article, value, "", label, None
        return "", value, "", label, None


# ============================================================================ the world
@dataclass
class World:
    """Entities, fact triples and the English documents rendered from them (see `make_world`)."""

    seed: int
    entities: dict[str, Entity]
    facts: list[Fact]
    literal_kinds: dict[str, str] = field(repr=False)
    relations: dict[str, dict[str, Any]] = field(repr=False)
    _documents: list[Document] = field(default_factory=list, repr=False)

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for e in self.entities.values():
            counts[e.type] = counts.get(e.type, 0) + 1
        kinds = ", ".join(f"{n} {t}" for t, n in counts.items())
        return f"World(seed={self.seed}: {kinds}; {len(self.facts)} facts, {len(self._documents)} documents)"

    def documents(self, n: int | None = None) -> list[Document]:
        """The English documents (shuffled once by the seed, so the first n are a mix of entity types)."""
        return self._documents if n is None else self._documents[:n]

    def sentences(self) -> list[str]:
        return [s.text for d in self._documents for s in d.sentences]

    def entities_of(self, *types: str) -> list[Entity]:
        return [e for e in self.entities.values() if e.type in types]

    def facts_about(self, entity_id: str) -> list[Fact]:
        return [f for f in self.facts if entity_id in (f.subject, f.object)]

    def name(self, value: str) -> str:
        """An entity's name, or the literal itself."""
        entity = self.entities.get(value)
        return entity.name if entity else value

    def cloze_facts(self, blank: str = "[BLANK]", *, keep_name_leaks: bool = False) -> list[tuple[str, str]]:
        """LAMA-style knowledge probes: (statement with the object blanked, answer), one per fact.

        Facts whose answer is spelled out in the subject's name ('the University of Ysmere is located in [BLANK]')
        are left out unless `keep_name_leaks`, as in LAMA-UHN (Poerner et al. 2020): copying is not knowing."""
        renderer = _Renderer(self)
        out = []
        for fact in self.facts:
            templates = self.relations[fact.relation].get("cloze")
            if not templates:
                continue
            answer = self.name(fact.object)
            if not keep_name_leaks and re.search(rf"\b{re.escape(answer)}\b", self.name(fact.subject)):
                continue
            text, _ = renderer.render(templates[0], fact, focus=None, mode="name", blank=blank)
            out.append((text, answer))
        return out


def _random_date(rng: random.Random, first_year: int, last_year: int) -> str:
    month = rng.randrange(12)
    return f"{rng.randint(1, DAYS_IN_MONTH[month])} {MONTHS[month]} {rng.randint(first_year, last_year)}"


def make_world(
    seed: int = 0,
    n_people: int = 300,
    *,
    n_countries: int = 20,
    n_cities: int = 80,
    n_companies: int = 40,
    n_universities: int = 15,
    n_clubs: int = 15,
) -> World:
    """Build the world for `seed`: the same seed gives the same entities, facts and documents, byte for byte."""
    lex = lexicon()
    places, orgs = lex["places"], lex["organisations"]
    sizes = {
        "n_people": (n_people, len(lex["first_names"]["female"]) * len(lex["last_names"]["last_names"])),
        "n_countries": (n_countries, len(places["countries"])),
        "n_cities": (n_cities, len(places["cities"])),
        "n_companies": (n_companies, len(orgs["companies"])),
    }
    for arg, (value, limit) in sizes.items():
        if not 1 <= value <= limit:
            raise InputError(f"{arg}={value} is out of range.", fix=f"Use 1 to {limit} (the lexicon's size).")
    if n_cities < n_countries:
        raise InputError("Every country needs a capital city.", fix="Use n_cities >= n_countries.")

    rng = random.Random(seed)
    entities: dict[str, Entity] = {}
    facts: list[Fact] = []
    literal_kinds: dict[str, str] = {}

    counts: dict[str, int] = {}

    def add(kind: str, name: str, **attrs: Any) -> Entity:
        counts[kind] = counts.get(kind, 0) + 1
        entity = Entity(f"{kind}:{counts[kind] - 1}", name, kind, attrs)
        entities[entity.id] = entity
        return entity

    def fact(subject: Entity, relation: str, obj: Entity | str, literal_kind: str | None = None) -> None:
        if isinstance(obj, Entity):
            facts.append(Fact(subject.id, relation, obj.id))
        else:
            literal_kinds[obj] = literal_kind or "literal"
            facts.append(Fact(subject.id, relation, obj))

    # places: each country gets a capital, the other cities are spread at random
    countries = [
        add("country", c["name"], adjective=c["adjective"]) for c in rng.sample(places["countries"], n_countries)
    ]
    city_names = rng.sample(places["cities"], n_cities)
    cities = []
    for i, name in enumerate(city_names):
        country = countries[i] if i < n_countries else rng.choice(countries)
        city = add("city", name, country=country.id)
        cities.append(city)
        fact(city, "city_in_country", country)
        if i < n_countries:
            fact(city, "capital_of", country)
            country.attrs["capital"] = city.id
    for country in countries:
        fact(country, "official_language", rng.choice(places["languages"]), "language")
        fact(country, "currency", rng.choice(places["currencies"]), "currency")
    border_pairs: set[tuple[int, int]] = set()
    for i in range(n_countries):
        for j in rng.sample(range(n_countries), min(n_countries, 2)):
            if i != j:
                border_pairs.add((min(i, j), max(i, j)))
    for i, j in sorted(border_pairs):
        fact(countries[i], "borders", countries[j])
        fact(countries[j], "borders", countries[i])

    # organisations
    def make_orgs(kind: str, patterns: list[str], n: int, first_year: int, last_year: int) -> list[Entity]:
        made, names = [], set()
        for _ in range(n * 20):
            if len(made) == n:
                break
            pattern = rng.choice(patterns)
            city = rng.choice(cities)
            if "{adjective}" in pattern:  # a national institution sits in the capital
                country = entities[city.attrs["country"]]
                city = entities[country.attrs["capital"]]
            article = "the" if pattern.startswith("the ") else None
            pattern = pattern.removeprefix("the ")
            name = pattern.format(city=city.name, adjective=entities[city.attrs["country"]].attrs["adjective"])
            if name in names:
                continue
            names.add(name)
            org = add(kind, name, city=city.id, founded=rng.randint(first_year, last_year), article=article)
            made.append(org)
            fact(org, "located_in", city)
            fact(org, "founded_in", str(org.attrs["founded"]), "year")
        return made

    universities = make_orgs("university", orgs["university_patterns"], n_universities, 1700, 1985)
    clubs = make_orgs("club", orgs["club_patterns"], n_clubs, 1860, 1995)
    companies = []
    for spec in rng.sample(orgs["companies"], n_companies):
        city = rng.choice(cities)
        company = add("company", spec["name"], city=city.id, founded=rng.randint(1850, 2015))
        companies.append(company)
        fact(company, "industry", spec["industry"], "industry")
        fact(company, "founded_in", str(company.attrs["founded"]), "year")
        fact(company, "headquartered_in", city)
    awards = [add("award", name) for name in orgs["awards"]]
    professions = [p["name"] for p in lex["professions"]["professions"]]

    # people
    first = lex["first_names"]
    used_names: set[str] = set()
    people = []
    while len(people) < n_people:
        gender = rng.choice(("female", "male"))
        given, family = rng.choice(first[gender]), rng.choice(lex["last_names"]["last_names"])
        if f"{given} {family}" in used_names:
            continue
        used_names.add(f"{given} {family}")
        birth = _random_date(rng, 1940, 2002)
        people.append(add("person", f"{given} {family}", gender=gender, first=given, last=family, born=birth))
    for person in people:
        year = int(person.attrs["born"].split()[-1])
        birthplace = rng.choice(cities)
        home = birthplace if rng.random() < 0.3 else rng.choice(cities)
        person.attrs["home"] = home.id
        fact(person, "profession", rng.choice(professions), "profession")
        fact(person, "born_in", birthplace)
        fact(person, "born_on", person.attrs["born"], "date")
        schools = [u for u in universities if u.attrs["founded"] <= year + 18]
        if schools and rng.random() < 0.7:
            fact(person, "studied_at", rng.choice(schools))
        employers = [c for c in companies if c.attrs["founded"] <= year + 60]
        if employers and rng.random() < 0.8:
            fact(person, "works_for", rng.choice(employers))
        if rng.random() < 0.25:
            fact(person, "member_of", rng.choice(clubs))
        if rng.random() < 0.15:
            fact(person, "won_award", rng.choice(awards))
    singles = people[:]
    rng.shuffle(singles)
    for a, b in zip(singles[0 : n_people // 5 : 2], singles[1 : n_people // 5 : 2]):
        fact(a, "married_to", b)
        fact(b, "married_to", a)
        b.attrs["home"] = a.attrs["home"]  # spouses share a home
    for person in people:
        fact(person, "lives_in", entities[person.attrs["home"]])
    for company in companies:
        founders = [p for p in people if 20 <= company.attrs["founded"] - int(p.attrs["born"].split()[-1]) <= 70]
        if founders and rng.random() < 0.5:
            fact(company, "founded_by", rng.choice(founders))

    world = World(seed, entities, facts, literal_kinds, lex["relations"])
    world._documents = _render_documents(world, rng)
    return world


def _render_documents(
    world: World, rng: random.Random, max_sentences: int = 10, min_sentences: int = 4
) -> list[Document]:
    """One document per entity with enough facts: its own facts first (by relation order), then facts in which it is the
    object (at most 2 per relation), each with a template drawn at random."""
    relations = world.relations
    renderer = _Renderer(world)
    by_entity: dict[str, list[tuple[int, int, Fact, str]]] = {eid: [] for eid in world.entities}
    for fact in world.facts:
        rel = relations[fact.relation]
        by_entity[fact.subject].append((0, rel["order"], fact, "S"))
        if fact.object in by_entity and rel.get("object_templates") and not rel.get("symmetric"):
            by_entity[fact.object].append((1, rel["order"], fact, "O"))
    documents = []
    for eid, items in by_entity.items():
        doc_rng = random.Random(f"{world.seed}:{eid}")  # each document is reproducible on its own
        items.sort(key=lambda item: (item[0], item[1]))
        kept, per_relation = [], {}
        for item in items:
            key = (item[0], item[2].relation)
            if item[0] == 1 and per_relation.get(key, 0) >= 2:
                continue
            per_relation[key] = per_relation.get(key, 0) + 1
            kept.append(item)
        kept = kept[:max_sentences]
        if len(kept) < min_sentences:
            continue
        sentences = []
        for i, (side, _, fact, focus) in enumerate(kept):
            key = "templates" if side == 0 else "object_templates"
            options = relations[fact.relation][key]
            t = doc_rng.randrange(len(options))
            mode = "name" if i == 0 else doc_rng.choices(list(MENTION_WEIGHTS), list(MENTION_WEIGHTS.values()))[0]
            text, spans = renderer.render(options[t], fact, focus, mode)
            sentences.append(WorldSentence(text, spans, fact, f"{fact.relation}:{'so'[side]}{t}"))
        documents.append(Document(eid, sentences))
    rng.shuffle(documents)
    return documents


# ============================================================================ agreement probes
def agreement_examples(
    world: World, n: int, *, distance: int, attractors: bool, seed: int = 0
) -> list[AgreementExample]:
    """Subject-verb agreement probes (Linzen et al. 2016): 'The engineer [`distance` words] is ...'.

    The words between the subject and its verb are prepositional phrases ('near the old bridges'), object relative
    clauses ('that the managers admire') and, to fill a single slot, an adverb. With `attractors`, at least one
    intervening noun has the opposite number of the subject (and the others do with probability 1/2); without, every
    intervening noun shares the subject's number. Labels are balanced: n // 2 singular, the rest plural."""
    if n < 1:
        raise InputError(f"n must be positive, got {n}.", fix="Ask for at least one example.")
    if distance < 1:
        raise InputError(f"distance must be at least 1, got {distance}.", fix="Use a distance from 1 to ~30 words.")
    if attractors and distance < 3:
        raise InputError(
            "An attractor needs at least 3 intervening words ('near the bridges').",
            fix="Use distance >= 3 with attractors=True, or attractors=False.",
        )
    lex = lexicon()["agreement"]
    rng = random.Random(f"agreement:{seed}:{distance}:{attractors}")
    heads = [(p["name"], p["plural"]) for p in lexicon()["professions"]["professions"] if " " not in p["name"]]
    people = [tuple(pair) for pair in lex["people"]] + heads  # relative-clause subjects must be able to admire
    fill_nouns = [tuple(pair) for pair in lex["things"]] + people
    places = [e.name for e in world.entities_of("city", "country") if " " not in e.name]
    labels = [0] * (n // 2) + [1] * (n - n // 2)
    rng.shuffle(labels)
    return [
        _agreement_example(rng, label, distance, attractors, heads, fill_nouns, people, places, lex) for label in labels
    ]


def _partition(rng: random.Random, distance: int, need_noun: bool) -> list[int]:
    """Random piece lengths summing to `distance`: 2 (preposition + place or bare plural), 3 (preposition + the +
    noun), 4 (+ adjective, or 'that the noun verb'), 5 ('that the adjective noun verb'); a lone 1 is an adverb."""
    while True:
        pieces, left = [], distance
        while left > 0:
            if left == 1:
                pieces.append(1)
                break
            choice = rng.choice([size for size in (2, 3, 4, 5) if size <= left and left - size != 1] or [left])
            pieces.append(choice)
            left -= choice
        if not need_noun or any(size >= 3 for size in pieces):
            return pieces


def _agreement_example(rng, label, distance, attractors, heads, fill_nouns, people, places, lex) -> AgreementExample:
    subject_plural = label == 1
    pieces = _partition(rng, distance, attractors)
    noun_pieces = [i for i, size in enumerate(pieces) if size >= 3]
    forced = rng.choice(noun_pieces) if attractors else -1
    words: list[str] = []
    n_attractors = 0
    for i, size in enumerate(pieces):
        if size == 1:
            words.append(rng.choice(lex["adverbs"]))
            continue
        opposite = attractors and (i == forced or rng.random() < 0.5)
        plural = subject_plural != opposite
        noun = rng.choice(fill_nouns)[int(plural)]
        preposition = rng.choice(lex["prepositions"])
        if size == 2:
            # a bare plural noun ("with reports") only where a plural is allowed here; otherwise a place name
            if plural and (opposite or not attractors or rng.random() < 0.5):
                words += [preposition, noun]
                n_attractors += int(opposite)
            else:
                words += [preposition, rng.choice(places)]
            continue
        n_attractors += int(opposite)
        if size == 3:
            words += [preposition, "the", noun]
        elif size == 4 and rng.random() < 0.5:
            words += [preposition, "the", rng.choice(lex["adjectives"]), noun]
        else:
            noun = rng.choice(people)[int(plural)]
            verb = rng.choice(lex["relative_verbs"])[int(plural)]
            adjective = [rng.choice(lex["adjectives"])] if size == 5 else []
            words += ["that", "the", *adjective, noun, verb]
    head = rng.choice(heads)
    main = rng.choice(lex["main_verbs"])
    tokens = [
        "The",
        head[int(subject_plural)],
        *words,
        main["forms"][int(subject_plural)],
        rng.choice(main["tails"]),
        ".",
    ]
    return AgreementExample(
        tokens=tokens,
        verb_index=2 + distance,
        label=label,
        distance=distance,
        n_attractors=n_attractors,
        subject_index=1,
        verb_forms=(main["forms"][0], main["forms"][1]),
    )


# ============================================================================ the world as split text
def world_sentences(documents) -> list[tuple[str, list[tuple[int, int]]]]:
    """(text, [(start, end) character spans of gold entity mentions]) for every sentence of the world documents."""
    return [(s.text, [(span.start, span.end) for span in s.entities]) for doc in documents for s in doc.sentences]


def split_documents(documents: Sequence, valid_fraction: float = 0.1, seed: int = 0) -> tuple[list, list]:
    """(train, held-out) world documents: whole documents go to one side."""
    if not 0 < valid_fraction < 1 or len(documents) < 2:
        raise InputError("Need at least two documents and 0 < valid_fraction < 1.", fix="Use e.g. 0.1.")
    order = list(range(len(documents)))
    random.Random(seed).shuffle(order)
    n_valid = max(1, round(valid_fraction * len(documents)))
    held = set(order[:n_valid])
    return [d for i, d in enumerate(documents) if i not in held], [d for i, d in enumerate(documents) if i in held]
