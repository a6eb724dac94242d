"""A realistic, deterministic secondary school: `generate` builds the rows, `generate_and_load` COPYs them.

Every value comes from `random.Random(seed)` and from the fixed school year that starts on
`TERM_START`: no clock, no `gen_random_uuid()`, no `now()` defaults. The same (pupils, seed)
therefore yields byte-identical tables. Ids are `uuid.UUID(int=rng.getrandbits(128), version=4)`.

The school (docs/benchmarks.md, "The schools"): years 7-11, eight subjects, every pupil in the three core subjects
and 1-5 others (4-8 classes of about 25), a teacher per class teaching about five classes, 30-40
lessons per subject and year in units of about five, assigned to every class of that subject and
year, 4-8 activities per lesson (about half scorable, a quarter of those summative), and a full
year of work in every state: missing, in progress, auto-, AI- and teacher-marked, overridden,
criterion-marked, awaiting marking, completed and rejected. Raw data only: no score is computed here.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from random import Random
from typing import NamedTuple

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from glue_tools.progress import bar as progress_bar

Row = tuple[str | None, ...]

TERM_START = dt.date(2025, 9, 1)  # a Monday; every date in the data is counted from it
SCHOOL_DAYS = 37 * 7  # lessons start within the 37 weeks after TERM_START
CLASS_SIZE = 25
YEARS = (7, 8, 9, 10, 11)
CORE = ("Maths", "English", "Science")
# subject -> (class code suffix, unit topics)
SUBJECTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Maths": ("MA", ("Number", "Algebra", "Ratio", "Geometry", "Probability", "Statistics", "Sequences",
                     "Measures")),
    "English": ("EN", ("Poetry", "Shakespeare", "Myths", "Persuasive writing", "The novel", "Drama",
                       "Non-fiction", "Grammar")),
    "Science": ("SC", ("Cells", "Forces", "Particles", "Energy", "Ecosystems", "Chemical reactions",
                       "Electricity", "Waves")),
    "Computing": ("IT", ("Algorithms", "Python", "Networks", "Data representation", "Cyber security",
                         "Spreadsheets", "Web design", "Hardware")),
    "History": ("HI", ("The Normans", "Medieval life", "The Tudors", "Civil war", "Empire",
                       "Industrial revolution", "World War One", "Cold war")),
    "Geography": ("GE", ("Maps", "Rivers", "Weather", "Population", "Coasts", "Tectonics", "Development",
                         "Climate")),
    "Art": ("AR", ("Drawing", "Colour", "Portraits", "Printmaking", "Sculpture", "Still life", "Landscape",
                   "Art history")),
    "Music": ("MU", ("Rhythm", "Melody", "Keyboard skills", "Film music", "Blues", "Composition",
                     "World music", "Performance")),
}  # fmt: skip
FIRST_NAMES = (
    "Amelia", "Oliver", "Isla", "George", "Ava", "Noah", "Mia", "Arthur", "Ivy", "Leo", "Freya", "Oscar",
    "Lily", "Harry", "Florence", "Muhammad", "Sophia", "Jack", "Grace", "Charlie", "Willow", "Theo",
    "Evie", "Jacob", "Poppy", "Alfie", "Ella", "Finley", "Rosie", "Henry", "Aisha", "Zain", "Maya",
    "Ethan", "Priya", "Kai", "Chloe", "Samuel", "Hannah", "Tomasz", "Zofia", "Kwame", "Amara", "Ravi",
    "Niamh", "Callum", "Erin", "Lucas", "Sienna", "Reuben",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Robinson",
    "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson",
    "Clarke", "Khan", "Hughes", "Edwards", "Turner", "Hill", "Ahmed", "Cooper", "Ward", "Morris",
    "O'Brien", "Nowak", "Okafor", "Singh", "Murphy", "Campbell", "Kelly", "Begum", "Chen", "Mensah",
)  # fmt: skip
SCORABLE_TYPES = ("multiple-choice-question", "short-text-question", "long-text-question", "upload-file")
DISPLAY_TYPES = ("display-text", "display-image", "show-video", "file-download")
MCQ, TEXT, UPLOAD = 0, 1, 2
AI_MODELS = ("gpt-4o-mini", "gpt-4.1-mini")
AI_FEEDBACK = (
    (
        "Not yet: reread the lesson notes and try again.",
        "Some key ideas are missing.",
        "Start with the definition.",
    ),
    ("A fair answer; add an example.", "Good start, explain why.", "Mostly right; use the key words."),
    ("Excellent, clear and complete.", "Very good answer with a good example.", "Well explained."),
)
TEACHER_FEEDBACK = (
    "Well done.",
    "See me about this.",
    "Good effort, check the success criteria.",
    "Much improved.",
)
UPLOAD_FILES = ("poster.pdf", "diagram.png", "essay.docx", "project.zip", "photo.jpg")
CRITERION_MARKS = ("0", "0.25", "0.5", "0.75", "1")

# The tables in FK order, with the columns every row gives (all of them: no defaults, no now()).
COLUMNS: dict[str, tuple[str, ...]] = {
    "auth.users": ("id", "email", "raw_user_meta_data", "created_at", "updated_at"),
    "public.profiles": ("user_id", "first_name", "last_name", "email", "is_teacher", "created_at"),
    "public.subjects": ("subject", "active"),
    "public.groups": ("group_id", "subject", "join_code", "active"),
    "public.group_membership": ("group_id", "user_id", "role", "created_at"),
    "public.units": ("unit_id", "title", "subject", "description", "year", "active"),
    "public.lessons": ("lesson_id", "unit_id", "title", "order_by", "active"),
    "public.lesson_assignments": ("group_id", "lesson_id", "start_date", "feedback_visible"),
    "public.learning_objectives": ("learning_objective_id", "title", "order_by"),
    "public.success_criteria": (
        "success_criteria_id", "learning_objective_id", "description", "level", "order_by",
    ),
    "public.activities": (
        "activity_id", "lesson_id", "title", "type", "body_data", "is_summative", "active", "order_by",
    ),
    "public.activity_answer_keys": ("activity_id", "correct_option_id", "model_answer", "updated_at"),
    "public.activity_success_criteria": ("activity_id", "success_criteria_id"),
    "public.submissions": (
        "submission_id", "activity_id", "user_id", "status", "submitted_at", "body", "auto_score", "ai_score",
        "ai_feedback", "ai_meta", "ai_marked_at", "override_score", "teacher_feedback", "override_by",
        "override_at", "created_at", "updated_at",
    ),
    "public.submission_criterion_scores": (
        "submission_id", "success_criteria_id", "score", "marked_by", "marked_at",
    ),
}  # fmt: skip
WORK_TABLES = ("public.submissions", "public.submission_criterion_scores")


def _uuid(rng: Random) -> str:
    """str(uuid.UUID(int=rng.getrandbits(128), version=4)), without building the object."""
    n = (rng.getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48)) | (0x4000 << 64) | (0x8000 << 48)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_DAYS = [str(TERM_START + dt.timedelta(days=d - 30)) for d in range(430)]
_TIMES = [f" {m // 60:02d}:{m % 60:02d}:00+00" for m in range(1440)]


def _ts(minute: int) -> str:
    """The timestamp `minute` minutes after midnight UTC of TERM_START (at most 400 days later)."""
    return _DAYS[minute // 1440 + 30] + _TIMES[minute % 1440]


def _maybe_ts(minute: int | None) -> str | None:
    return None if minute is None else _ts(minute)


def _letters(i: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: the class letters within a year and subject."""
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(65 + r) + out
    return out


def _bool(b: bool) -> str:
    return "t" if b else "f"


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


class Table(NamedTuple):
    name: str  # schema-qualified
    columns: tuple[str, ...]
    batches: Iterable[Sequence[Row]]  # one batch per pupil for WORK_TABLES, one in all for the rest


class _Item(NamedTuple):
    """A scorable activity as the work generator needs it."""

    activity_id: str
    kind: int  # MCQ, TEXT or UPLOAD
    day: int  # the day (from TERM_START) of the Monday of its lesson's week
    position: float  # 0 at the start of the year, 1 at the end: recent work is marked less often
    correct: str  # MCQ: the right option id
    answers: tuple[str, ...]  # JSON bodies a pupil may submit (text answers, MCQ choices)
    criteria: tuple[str, ...]
    prompt_hash: str


def _curriculum(
    rng: Random, subject: str, year: int, n_lessons: int, rows: dict[str, list[Row]]
) -> list[tuple[str, int, list[_Item]]]:
    """Units, lessons, objectives, criteria and activities of one subject and year.

    Returns (lesson_id, day, scorable activities) per lesson, in teaching order.
    """
    code, topics = SUBJECTS[subject]
    n_units = max(1, round(n_lessons / 5))
    sizes = [n_lessons // n_units + (1 if i < n_lessons % n_units else 0) for i in range(n_units)]
    first_topic = rng.randrange(len(topics))
    out: list[tuple[str, int, list[_Item]]] = []
    done = 0
    for u, size in enumerate(sizes):
        topic = topics[(first_topic + u) % len(topics)]
        unit_id = _uuid(rng)
        rows["public.units"].append(
            (
                unit_id,
                f"Y{year} {topic}",
                subject,
                f"Year {year} {subject}, unit {u + 1}: {topic}.",
                str(year),
                "t",
            )
        )
        criteria: list[str] = []
        for o in range(rng.randint(2, 3)):
            lo_id = _uuid(rng)
            rows["public.learning_objectives"].append((lo_id, f"{topic}: objective {o + 1}", str(o + 1)))
            for c, level in enumerate(sorted(rng.randint(1, 5) for _ in range(rng.randint(2, 4)))):
                sc_id = _uuid(rng)
                criteria.append(sc_id)
                rows["public.success_criteria"].append(
                    (
                        sc_id,
                        lo_id,
                        f"I can {topic.lower()} (objective {o + 1}, step {c + 1})",
                        str(level),
                        str(c + 1),
                    )
                )
        for n in range(size):
            lesson_id = _uuid(rng)
            last = n == size - 1
            title = f"{topic}: assessment" if last else f"{topic}: lesson {n + 1}"
            rows["public.lessons"].append((lesson_id, unit_id, title, str(n + 1), _bool(rng.random() > 0.02)))
            day = (done * SCHOOL_DAYS // n_lessons) // 7 * 7
            position = done / n_lessons
            done += 1
            out.append(
                (
                    lesson_id,
                    day,
                    _activities(rng, lesson_id, code, topic, last, criteria, day, position, rows),
                )
            )
    return out


def _activities(
    rng: Random,
    lesson_id: str,
    code: str,
    topic: str,
    last: bool,
    criteria: list[str],
    day: int,
    position: float,
    rows: dict[str, list[Row]],
) -> list[_Item]:
    items: list[_Item] = []
    for n in range(1, rng.randint(4, 8) + 1):
        activity_id = _uuid(rng)
        active = _bool(rng.random() > 0.02)
        if rng.random() >= 0.5:
            kind = rng.choice(DISPLAY_TYPES)
            body: object = {
                "display-text": {"text": f"Read about {topic.lower()} before you start."},
                "display-image": {"image_url": f"images/{code}/{activity_id}.png", "alt": f"{topic} diagram"},
                "show-video": {"video_url": f"https://video.example.org/{code}/{activity_id}"},
                "file-download": {
                    "file_name": "worksheet.pdf",
                    "path": f"resources/{lesson_id}/worksheet.pdf",
                },
            }[kind]
            rows["public.activities"].append(
                (activity_id, lesson_id, f"{topic} {n}", kind, _json(body), "f", active, str(n))
            )
            continue
        r = rng.random()
        kind = SCORABLE_TYPES[0 if r < 0.4 else 1 if r < 0.7 else 2 if r < 0.85 else 3]
        summative = rng.random() < (0.75 if last else 0.12)
        question = f"Question {n} on {topic.lower()}"
        correct = ""
        if kind == SCORABLE_TYPES[0]:
            correct = rng.choice("abcd")
            body = {
                "question": f"{question}: which statement is true?",
                "options": [{"id": o, "text": f"Statement {o.upper()} about {topic.lower()}"} for o in "abcd"],
            }
            # Answer keys live apart from what pupils read (public.activity_answer_keys).
            rows["public.activity_answer_keys"].append((activity_id, correct, None, _ts(0)))
            answers = tuple(_json({"option_id": o}) for o in "abcd")
        elif kind == SCORABLE_TYPES[3]:
            body = {
                "question": f"Upload your {topic.lower()} work",
                "accepted": ["pdf", "png", "jpg", "docx"],
            }
            answers = ()
        else:
            model = f"A complete answer defines {topic.lower()} and gives an example."
            body = {"question": f"{question}: explain in your own words."}
            rows["public.activity_answer_keys"].append((activity_id, None, model, _ts(0)))
            answers = (
                _json({"text": model}),
                _json({"text": f"{topic} is about an idea we studied in lesson {n}."}),
                _json({"text": "I am not sure."}),
            )
        linked = tuple(rng.sample(criteria, min(len(criteria), rng.choice((1, 1, 2, 2, 2, 3, 3, 4, 5, 6)))))
        rows["public.activities"].append(
            (activity_id, lesson_id, f"{topic} {n}", kind, _json(body), _bool(summative), active, str(n))
        )
        rows["public.activity_success_criteria"].extend((activity_id, c) for c in linked)
        answer_kind = MCQ if correct else UPLOAD if not answers else TEXT
        prompt_hash = f"{rng.getrandbits(64):016x}"
        items.append(_Item(activity_id, answer_kind, day, position, correct, answers, linked, prompt_hash))
    return items


_Lesson = tuple[str, list[_Item]]  # lesson_id, its scorable activities
_Class = tuple[str, str, int, list[_Lesson]]  # group_id, teacher, weekday shift, lessons in order


class _Pupil(NamedTuple):
    user_id: str
    classes: list[_Class]


def generate(pupils: int, seed: int) -> list[Table]:
    """The whole school as tables in FK order (pure: no database, no clock).

    The work tables are generated lazily, pupil by pupil, while they are read: read the tables in
    order (the criterion scores are collected while the submissions are generated).
    """
    if pupils < 1:
        raise ValueError("pupils must be at least 1")
    rng = Random(seed)
    rows: dict[str, list[Row]] = {name: [] for name in COLUMNS if name not in WORK_TABLES}
    domain = f"school{seed}.example.org"
    joined = _ts(-5 * 1440 + 9 * 60)  # the week before term: accounts and classes were set up

    def person(first: str, last: str, email: str, teacher: bool) -> str:
        user_id = _uuid(rng)
        meta = _json({"first_name": first, "last_name": last})
        rows["auth.users"].append((user_id, email, meta, joined, joined))
        rows["public.profiles"].append((user_id, first, last, email, _bool(teacher), joined))
        return user_id

    # Pupils, their year and their subjects.
    optional = [s for s in SUBJECTS if s not in CORE]
    by_class: dict[tuple[str, int], list[int]] = {}
    pupil_ids: list[str] = []
    for i in range(pupils):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        handle = f"{first}.{last}".lower().replace("'", "")
        pupil_ids.append(person(first, last, f"{handle}.{i + 1:04d}@pupils.{domain}", False))
        year = YEARS[i * len(YEARS) // pupils]
        subjects = [*CORE, *rng.sample(optional, rng.choice((1, 2, 3, 3, 4, 4, 5)))]
        for subject in sorted(subjects, key=list(SUBJECTS).index):
            by_class.setdefault((subject, year), []).append(i)

    rows["public.subjects"] = [(s, "t") for s in SUBJECTS]

    # Classes of about CLASS_SIZE per subject and year, a teacher for about five classes.
    codes: set[str] = set()
    classes: dict[str, list[tuple[str, int, list[int]]]] = {s: [] for s in SUBJECTS}
    for (subject, year), members in sorted(by_class.items(), key=lambda kv: (kv[0][1], list(SUBJECTS).index(kv[0][0]))):
        rng.shuffle(members)
        n = max(1, round(len(members) / CLASS_SIZE))
        for c in range(n):
            group_id = f"{TERM_START.year % 100}-{year}{_letters(c)}-{SUBJECTS[subject][0]}"
            code = "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ23456789", k=6))
            while code in codes:
                code = "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ23456789", k=6))
            codes.add(code)
            rows["public.groups"].append((group_id, subject, code, "t"))
            classes[subject].append((group_id, year, sorted(members[c::n])))

    # Teachers, then the curriculum of each subject and year, assigned to all its classes.
    pupil_classes: list[list[_Class]] = [[] for _ in range(pupils)]
    teacher_count = 0
    for subject, subject_classes in classes.items():
        teachers = []
        for _ in range(max(1, -(-len(subject_classes) // 5))):
            teacher_count += 1
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            email = f"{first[0]}.{last}.{teacher_count:03d}@{domain}".lower().replace("'", "")
            teachers.append(person(first, last, email, True))
        lessons_of = {
            year: _curriculum(rng, subject, year, rng.randint(30, 40), rows)
            for year in sorted({year for _, year, _ in subject_classes})
        }
        for c, (group_id, year, members) in enumerate(subject_classes):
            teacher = teachers[c % len(teachers)]
            shift = rng.randrange(5)  # the weekday this class has the subject
            rows["public.group_membership"].append((group_id, teacher, "teacher", joined))
            rows["public.group_membership"].extend((group_id, pupil_ids[m], "pupil", joined) for m in members)
            for lesson_id, day, _items in lessons_of[year]:
                start = TERM_START + dt.timedelta(days=day + shift)
                visible = _bool(day < SCHOOL_DAYS * 0.85 or rng.random() < 0.5)
                rows["public.lesson_assignments"].append((group_id, lesson_id, str(start), visible))
            lessons: list[_Lesson] = [(lesson_id, items) for lesson_id, _day, items in lessons_of[year]]
            for m in members:
                pupil_classes[m].append((group_id, teacher, shift, lessons))

    # A few sixth-form units (years 12 and 13): nobody in the school is assigned them.
    for subject in ("Computing", "Maths"):
        for year in (12, 13):
            _curriculum(rng, subject, year, 10, rows)

    crit_rows: list[Row] = []
    work = _work(
        Random(rng.getrandbits(64)),
        [_Pupil(p, c) for p, c in zip(pupil_ids, pupil_classes, strict=True)],
        crit_rows,
    )
    tables = [Table(name, COLUMNS[name], [table_rows]) for name, table_rows in rows.items()]
    tables.append(Table("public.submissions", COLUMNS["public.submissions"], work))
    tables.append(
        Table("public.submission_criterion_scores", COLUMNS["public.submission_criterion_scores"], [crit_rows])
    )
    return tables


def _work(rng: Random, pupils: list[_Pupil], crit_rows: list[Row]) -> Iterator[list[Row]]:
    """Each pupil's submissions (one batch per pupil); their criterion marks go to crit_rows."""
    for pupil in pupils:
        ability = min(0.97, max(0.1, rng.gauss(0.62, 0.17)))
        miss = min(0.4, max(0.0, rng.gauss(0.09, 0.05)))  # about 9% of the work is never handed in
        batch: list[Row] = []
        for group_id, teacher, shift, lessons in pupil.classes:
            for _lesson_id, items in lessons:
                for item in items:
                    if rng.random() >= miss:
                        work = (pupil.user_id, ability, group_id, teacher, shift)
                        batch.append(_submission(rng, item, work, crit_rows))
        yield batch


def _submission(rng: Random, item: _Item, work: tuple[str, float, str, str, int], crit_rows: list[Row]) -> Row:
    """One pupil's current work on one scorable activity, marked (or not) as a school would."""
    rand, gauss = rng.random, rng.gauss  # int(rand() * n) is several times faster than randrange(n)
    user_id, ability, group_id, teacher, shift = work
    sid = _uuid(rng)
    created = (item.day + shift) * 1440 + 8 * 60 + int(rand() * 6 * 1440)
    submitted: int | None = created + 5 + int(rand() * 115)
    status = "submitted"
    auto = ai = ai_feedback = ai_meta = override = teacher_feedback = None
    ai_at = override_at = marked_at = None
    if item.kind == MCQ:  # auto-marked as it is saved
        right = rand() < 0.3 + 0.65 * ability
        option = item.correct if right else "abcd".replace(item.correct, "")[int(rand() * 3)]
        body = item.answers["abcd".index(option)]
        auto = "1" if right else "0"
    elif item.kind == TEXT:
        body = item.answers[0 if rand() < ability else 1 + int(rand() * 2)]
    else:
        name = UPLOAD_FILES[int(rand() * len(UPLOAD_FILES))]
        path = f"{group_id}/{item.activity_id}/{user_id}/{name}"  # ids and names need no JSON escaping
        body = f'{{"file_name": "{name}", "path": "{path}"}}'
    awaiting = (0.05 if item.kind == TEXT else 0.12) + 0.35 * item.position**4  # recent work waits longer
    if rand() < 0.03:
        status, submitted = "inprogress", None
    elif item.kind == MCQ or rand() >= awaiting:
        assert submitted is not None
        score = min(1.0, max(0.0, ability + gauss(0.0, 0.15)))
        if item.kind == TEXT and rand() < 0.92:
            ai, ai_at = f"{score:.2f}", submitted + 1 + int(rand() * 29)
            ai_feedback = AI_FEEDBACK[min(2, int(score * 3))][int(rand() * 3)]
            model = AI_MODELS[int(item.position > 0.5)]
            ai_meta = (
                f'{{"model": "{model}", "prompt_hash": "{item.prompt_hash}", '
                f'"completion_id": "chatcmpl-{rng.getrandbits(96):024x}"}}'
            )
        if item.kind != MCQ and rand() < (0.12 if item.kind == TEXT else 0.45):
            marked_at = submitted + 1440 + int(rand() * 5 * 1440)
            for i, criterion in enumerate(item.criteria):
                if i == 0 or rand() < 0.85:
                    mark = CRITERION_MARKS[round(min(1.0, max(0.0, ability + gauss(0.0, 0.2))) * 4)]
                    crit_rows.append((sid, criterion, mark, teacher, _ts(marked_at)))
        if (item.kind != MCQ and ai is None and marked_at is None) or rand() < (0.01, 0.1, 0.4)[item.kind]:
            override = f"{round(min(1.0, max(0.0, score + gauss(0.0, 0.1))) * 20) / 20:.2f}"
            teacher_feedback = TEACHER_FEEDBACK[int(rand() * len(TEACHER_FEEDBACK))]
            override_at = submitted + 1440 + int(rand() * 5 * 1440)
        r = rand()
        status = "completed" if r < 0.06 else "rejected" if r < 0.08 else "submitted"
    updated = max(t for t in (created, submitted, ai_at, override_at, marked_at) if t is not None)
    return (
        sid, item.activity_id, user_id, status, _maybe_ts(submitted), body, auto, ai, ai_feedback, ai_meta,
        _maybe_ts(ai_at), override, teacher_feedback, teacher if override else None, _maybe_ts(override_at),
        _ts(created), _ts(updated),
    )  # fmt: skip


@dataclass(frozen=True)
class SeedSummary:
    pupils: int
    seed: int
    rows: dict[str, int]  # table -> rows loaded
    seconds: float

    def describe(self) -> str:
        n = self.rows.get
        teachers = n("public.profiles", 0) - self.pupils
        return "\n".join(
            (
                f"Seeded {self.pupils:,} pupils, {teachers:,} teachers, {n('public.groups', 0):,} classes "
                f"(seed {self.seed}) in {self.seconds:.1f}s",
                f"  curriculum: {n('public.subjects', 0):,} subjects, {n('public.units', 0):,} units, "
                f"{n('public.lessons', 0):,} lessons, {n('public.activities', 0):,} activities, "
                f"{n('public.success_criteria', 0):,} success criteria",
                f"  assigned:   {n('public.group_membership', 0):,} memberships, "
                f"{n('public.lesson_assignments', 0):,} lesson assignments",
                f"  work:       {n('public.submissions', 0):,} submissions, "
                f"{n('public.submission_criterion_scores', 0):,} criterion marks",
            )
        )


def all_rows(pupils: int, seed: int) -> dict[str, list[Row]]:
    """Every generated row by table, in memory (for tests and small schools)."""
    return {t.name: [r for batch in t.batches for r in batch] for t in generate(pupils, seed)}


def _load(cur: psycopg.Cursor[TupleRow], table: Table) -> Iterator[int]:
    """COPY the table's batches into it; yields the size of each batch once written."""
    if table.name == "public.subjects":  # may be shared with other data (seed.sql): keep what exists
        for batch in table.batches:
            cur.executemany(
                "insert into public.subjects (subject, active) values (%s, %s) on conflict do nothing", batch
            )
            yield len(batch)
        return
    stmt = sql.SQL("copy {} ({}) from stdin").format(
        sql.Identifier(*table.name.split(".")), sql.SQL(", ").join(map(sql.Identifier, table.columns))
    )
    with cur.copy(stmt) as copy:
        for batch in table.batches:
            for row in batch:
                copy.write_row(row)
            yield len(batch)


def _defer_foreign_keys(conn: psycopg.Connection[TupleRow]) -> bool:
    """Skip the per-row foreign key triggers for this transaction if the role may (a superuser may).

    Checking every row costs about as much as loading it, so `_check_foreign_keys` then checks each
    constraint once, with one anti-join, before the commit. Without the privilege (hosted Supabase)
    nothing changes: the triggers check every row. CHECK constraints and unique indexes always apply.
    """
    try:
        with conn.transaction():
            conn.execute("set local session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True


_FOREIGN_KEYS = """
select c.conname, c.conrelid::regclass::text, c.confrelid::regclass::text,
  array(
    select a.attname::text from unnest(c.conkey) with ordinality as k (attnum, i)
    inner join pg_attribute as a on a.attrelid = c.conrelid and a.attnum = k.attnum order by k.i
  ),
  array(
    select a.attname::text from unnest(c.confkey) with ordinality as k (attnum, i)
    inner join pg_attribute as a on a.attrelid = c.confrelid and a.attnum = k.attnum order by k.i
  )
from pg_constraint as c
where c.contype = 'f' and c.conrelid = any(%s::regclass[])
order by 2, 1
"""


def _check_foreign_keys(conn: psycopg.Connection[TupleRow], tables: Iterable[str]) -> None:
    """Every foreign key of the tables holds (what the skipped per-row triggers would have checked)."""
    for name, child, parent, columns, parent_columns in conn.execute(_FOREIGN_KEYS, (list(tables),)):
        query = sql.SQL("select from {} as c where {} and not exists (select from {} as p where {}) limit 1").format(
            sql.SQL(child),  # regclass text: already quoted and qualified as needed
            sql.SQL(" and ").join(sql.SQL("c.{} is not null").format(sql.Identifier(c)) for c in columns),
            sql.SQL(parent),
            sql.SQL(" and ").join(
                sql.SQL("p.{} = c.{}").format(sql.Identifier(p), sql.Identifier(c))
                for c, p in zip(columns, parent_columns, strict=True)
            ),
        )
        if conn.execute(query).fetchone() is not None:
            raise RuntimeError(f"seed: generated rows break foreign key {name} of {child}")


def _clear(conn: psycopg.Connection[TupleRow]) -> None:
    """Delete every domain row (and what references it: report caches, queues); keep reference data."""
    names = [n for n in COLUMNS if n.startswith("public.")]
    names += [
        f"public.{t}"
        for (t,) in conn.execute(
            "select tablename from pg_tables where schemaname = 'public' and tablename like 'report\\_%'"
        )
    ]
    conn.execute(
        sql.SQL("truncate {} cascade").format(sql.SQL(", ").join(sql.Identifier(*n.split(".")) for n in names))
    )
    conn.execute("delete from auth.users")


def _check_free(conn: psycopg.Connection[TupleRow], tables: list[Table]) -> None:
    """With replace=False: refuse to load a school whose classes or emails already exist."""
    by_name = {
        t.name: [r for b in t.batches for r in b] for t in tables if t.name in ("public.groups", "public.profiles")
    }
    taken = (
        conn.execute(
            "select group_id from public.groups where group_id = any(%s) limit 1",
            ([r[0] for r in by_name["public.groups"]],),
        ).fetchone()
        or conn.execute(
            "select email from public.profiles where lower(email) = any(%s) limit 1",
            ([str(r[3]).lower() for r in by_name["public.profiles"]],),
        ).fetchone()
    )
    if taken:
        raise ValueError(f"{taken[0]} already exists: this school (or one like it) is loaded; replace it instead")


def generate_and_load(
    url: str, *, pupils: int, seed: int, replace: bool = True, show_progress: bool = False
) -> SeedSummary:
    """Generate the school of `pupils` pupils for `seed` and load it with COPY in one transaction.

    replace=True first truncates the domain tables (cascading to whatever references them: report
    caches, queues) and deletes auth.users; activity_types and level_boundaries are left alone.
    replace=False adds the school to what is there (subjects that exist are kept) and refuses when
    its classes or emails are taken. The loaded tables are analyzed before the commit.
    """
    started = time.monotonic()
    tables = generate(pupils, seed)
    school = [t for t in tables if t.name not in WORK_TABLES]
    counts = dict.fromkeys(COLUMNS, 0)
    with psycopg.connect(url) as conn, conn.transaction(), conn.cursor() as cur:
        if replace:
            _clear(conn)
        else:
            _check_free(conn, tables)
        deferred = _defer_foreign_keys(conn)
        total_rows = sum(len(b) for t in school for b in t.batches)
        with progress_bar("seed: school", total_rows, "rows", shown=show_progress) as bar:
            for table in school:
                for n in _load(cur, table):
                    counts[table.name] += n
                    bar.update(n)
        with progress_bar("seed: pupils' work", pupils, "pupils", shown=show_progress) as bar:
            for table in tables[len(school) :]:
                for n in _load(cur, table):
                    counts[table.name] += n
                    bar.update(int(table.name == "public.submissions"))
        cur.execute(sql.SQL("analyze {}").format(sql.SQL(", ").join(sql.Identifier(*n.split(".")) for n in COLUMNS)))
        if deferred:
            _check_foreign_keys(conn, COLUMNS)
    return SeedSummary(pupils=pupils, seed=seed, rows=counts, seconds=time.monotonic() - started)
