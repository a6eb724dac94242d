"""The data generator (glue_tools.seed) and the demo school (supabase/seed.sql), on real databases."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from glue_tools import seed
from glue_tools.localdb import platform_url, scratch_database
from glue_tools.migrate import migrate
from glue_tools.paths import SEED_SQL

PUPILS, SEED = 60, 7
TABLES = list(seed.COLUMNS)


def _one(url: str, query: str) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def _checksums(url: str) -> dict[str, object]:
    return {t: _one(url, f"select md5(string_agg(t::text, ',' order by t::text)) from {t} as t") for t in TABLES}


@pytest.fixture(scope="module")
def school(database_url: str) -> Iterator[tuple[str, seed.SeedSummary]]:
    """A migrated scratch database holding the school of 60 pupils, seed 7."""
    with scratch_database(database_url, "planner_seed") as url:
        migrate(url)
        yield url, seed.generate_and_load(url, pupils=PUPILS, seed=SEED)


def test_summary_counts_the_loaded_rows(school: tuple[str, seed.SeedSummary]) -> None:
    url, summary = school
    assert {t: _one(url, f"select count(*) from {t}") for t in TABLES} == summary.rows
    text = summary.describe()
    assert text.startswith(f"Seeded {PUPILS} pupils, ")
    assert "submissions" in text
    assert len(text.splitlines()) >= 2


def test_people_and_classes(school: tuple[str, seed.SeedSummary]) -> None:
    url, _ = school
    with psycopg.connect(url) as conn:
        pupils = conn.execute(
            """
            select p.user_id, count(*), count(distinct g.subject),
              array_agg(g.subject order by g.subject) @> array['English', 'Maths', 'Science']
            from public.profiles as p
            inner join public.group_membership as m on m.user_id = p.user_id and m.role = 'pupil'
            inner join public.groups as g on g.group_id = m.group_id
            where not p.is_teacher
            group by p.user_id
            """
        ).fetchall()
        assert len(pupils) == PUPILS
        assert all(4 <= n <= 8 and subjects == n and core for _, n, subjects, core in pupils)
        teachers = conn.execute(
            """
            select g.group_id, count(m.user_id), bool_and(p.is_teacher)
            from public.groups as g
            left join public.group_membership as m on m.group_id = g.group_id and m.role = 'teacher'
            left join public.profiles as p on p.user_id = m.user_id
            group by g.group_id
            """
        ).fetchall()
        assert teachers
        assert all(n == 1 and is_teacher for _, n, is_teacher in teachers)
        assert conn.execute(
            "select bool_and(p.is_teacher = (m.role = 'teacher')) from public.group_membership as m"
            " inner join public.profiles as p using (user_id)"
        ).fetchone() == (True,)
        # Every person is an auth user with the same email; emails are unique case-insensitively.
        assert conn.execute(
            "select count(*) from public.profiles as p inner join auth.users as u"
            " on u.id = p.user_id and u.email = p.email"
        ).fetchone() == (_one(url, "select count(*) from auth.users"),)
        assert conn.execute("select count(distinct lower(email)) = count(*) from auth.users").fetchone() == (True,)
        ids = [r[0] for r in conn.execute("select group_id from public.groups")]
        assert all(g.startswith("25-") for g in ids)


def test_curriculum_and_assignments(school: tuple[str, seed.SeedSummary]) -> None:
    url, _ = school
    with psycopg.connect(url) as conn:
        per_class = conn.execute(
            """
            select la.group_id, count(*), count(distinct (u.subject, u.year)),
              bool_and(u.subject = g.subject), min(u.year),
              string_agg(la.lesson_id::text, ',' order by la.lesson_id), g.subject
            from public.lesson_assignments as la
            inner join public.lessons as l on l.lesson_id = la.lesson_id
            inner join public.units as u on u.unit_id = l.unit_id
            inner join public.groups as g on g.group_id = la.group_id
            group by la.group_id, g.subject
            """
        ).fetchall()
        assert len(per_class) == _one(url, "select count(*) from public.groups")
        assert all(30 <= n <= 40 and kinds == 1 and same for _, n, kinds, same, *_ in per_class)
        lesson_sets: dict[tuple[str, int], set[str]] = {}
        for *_, year, lessons, subject in per_class:
            lesson_sets.setdefault((subject, year), set()).add(lessons)
        assert all(len(s) == 1 for s in lesson_sets.values())  # a subject-year's classes share its lessons

        per_lesson = conn.execute(
            "select min(n), max(n) from (select count(*) as n from public.activities group by lesson_id) as c"
        ).fetchone()
        assert per_lesson == (4, 8)
        scorable, summative, total = conn.execute(
            """
            select count(*) filter (where t.scorable), count(*) filter (where t.scorable and a.is_summative),
              count(*)
            from public.activities as a inner join public.activity_types as t using (type)
            """
        ).fetchone() or (0, 0, 0)
        assert 0.4 < scorable / total < 0.6
        assert 0.18 < summative / scorable < 0.35
        links = conn.execute(
            """
            select t.scorable, min(n), max(n), bool_or(a.is_summative)
            from public.activities as a
            inner join public.activity_types as t using (type)
            cross join lateral (
              select count(*) as n from public.activity_success_criteria as l
              where l.activity_id = a.activity_id
            ) as c
            group by t.scorable
            """
        ).fetchall()
        assert sorted(links) == [(False, 0, 0, False), (True, 1, 6, True)]
        # Every MCQ has a key among its options and every text question a model answer, both kept in
        # activity_answer_keys (never in the pupil-readable body_data).
        assert conn.execute(
            "select count(*) from public.activities as a"
            " left join public.activity_answer_keys as k on a.activity_id = k.activity_id"
            " where a.type = 'multiple-choice-question'"
            " and not a.body_data -> 'options' @> jsonb_build_array(jsonb_build_object('id', k.correct_option_id))"
        ).fetchone() == (0,)
        assert conn.execute(
            "select count(*) from public.activities as a"
            " left join public.activity_answer_keys as k on a.activity_id = k.activity_id"
            " where a.type in ('short-text-question', 'long-text-question') and k.model_answer is null"
        ).fetchone() == (0,)
        assert conn.execute(
            "select count(*) from public.activities where body_data ?| array['correct_option_id', 'model_answer']"
        ).fetchone() == (0,)
        assert conn.execute("select min(level), max(level) from public.success_criteria").fetchone() == (1, 5)
        assert conn.execute("select bool_or(year > 11) from public.units").fetchone() == (True,)
        assert conn.execute("select bool_and(active) from public.lessons").fetchone() == (False,)
        assert conn.execute("select bool_and(active) from public.activities").fetchone() == (False,)


def test_submissions_are_assigned_scorable_work(school: tuple[str, seed.SeedSummary]) -> None:
    url, _ = school
    with psycopg.connect(url) as conn:
        stray = conn.execute(
            """
            select count(*)
            from public.submissions as s
            inner join public.activities as a on a.activity_id = s.activity_id
            inner join public.activity_types as t on t.type = a.type
            where not t.scorable or not exists (
              select
              from public.lesson_assignments as la
              inner join public.group_membership as m on m.group_id = la.group_id and m.role = 'pupil'
              where la.lesson_id = a.lesson_id and m.user_id = s.user_id
            )
            """
        ).fetchone()
        assert stray == (0,)
        duplicates = conn.execute(
            "select count(*) from (select from public.submissions group by activity_id, user_id"
            " having count(*) > 1) as d"
        ).fetchone()
        assert duplicates == (0,)


def test_every_state_of_work_is_present(school: tuple[str, seed.SeedSummary]) -> None:
    url, _ = school
    with psycopg.connect(url) as conn:
        assigned, handed_in = conn.execute(
            """
            with assigned as (
              select distinct m.user_id, a.activity_id
              from public.group_membership as m
              inner join public.lesson_assignments as la on la.group_id = m.group_id
              inner join public.activities as a on a.lesson_id = la.lesson_id
              inner join public.activity_types as t on t.type = a.type
              where m.role = 'pupil' and t.scorable
            )
            select count(*), count(s.submission_id)
            from assigned as w
            left join public.submissions as s on s.user_id = w.user_id and s.activity_id = w.activity_id
            """
        ).fetchone() or (0, 0)
        assert 0.05 < 1 - handed_in / assigned < 0.13  # missing work: about 9%
        states = conn.execute(
            """
            select
              count(*) filter (where s.auto_score is not null),
              count(*) filter (where s.ai_score is not null),
              count(*) filter (where s.override_score is not null),
              count(*) filter (where c.submission_id is not null),
              count(*) filter (where s.status <> 'inprogress' and s.auto_score is null and s.ai_score is null
                and s.override_score is null and c.submission_id is null),
              count(*) filter (where s.status = 'inprogress'),
              count(*) filter (where s.status = 'submitted'),
              count(*) filter (where s.status = 'completed'),
              count(*) filter (where s.status = 'rejected'),
              count(*)
            from public.submissions as s
            left join (select distinct submission_id from public.submission_criterion_scores) as c
              on c.submission_id = s.submission_id
            """
        ).fetchone()
        assert states is not None
        auto, ai, override, criteria, awaiting, inprogress, submitted, completed, rejected, total = states
        assert min(auto, ai, override, criteria, awaiting, inprogress, completed, rejected) > 0
        assert submitted > total / 2
        assert awaiting < total / 5


def test_marks_are_consistent(school: tuple[str, seed.SeedSummary]) -> None:
    url, _ = school
    with psycopg.connect(url) as conn:
        problems = conn.execute(
            """
            select
              count(*) filter (where a.type = 'multiple-choice-question' and s.auto_score is distinct from
                case when s.body ->> 'option_id' = k.correct_option_id then 1 else 0 end),
              count(*) filter (where a.type <> 'multiple-choice-question' and s.auto_score is not null),
              count(*) filter (where s.ai_score is not null and (a.type not like '%text-question'
                or s.ai_feedback is null or s.ai_marked_at < s.submitted_at
                or not s.ai_meta ?& array['model', 'prompt_hash', 'completion_id'])),
              count(*) filter (where (s.override_score is null) <> (s.override_by is null)
                or s.override_at < s.submitted_at),
              count(*) filter (where a.type = 'upload-file' and not s.body ?& array['file_name', 'path']),
              count(*) filter (where a.type like '%text-question' and not s.body ? 'text'),
              count(*) filter (where (s.status = 'inprogress') <> (s.submitted_at is null)),
              count(*) filter (where s.updated_at < s.created_at)
            from public.submissions as s
            inner join public.activities as a on a.activity_id = s.activity_id
            left join public.activity_answer_keys as k on a.activity_id = k.activity_id
            """
        ).fetchone()
        assert problems == (0,) * 8
        assert conn.execute(
            "select count(distinct auto_score), max(scale(ai_score)) <= 4 from public.submissions"
        ).fetchone() == (2, True)


def test_teacher_marks_come_from_the_class_teacher(school: tuple[str, seed.SeedSummary]) -> None:
    url, _ = school
    teaches = """
        exists (
          select
          from public.lesson_assignments as la
          inner join public.group_membership as p on p.group_id = la.group_id and p.role = 'pupil'
          inner join public.group_membership as t on t.group_id = la.group_id and t.role = 'teacher'
          where la.lesson_id = a.lesson_id and p.user_id = s.user_id and t.user_id = {teacher}
        )
    """
    with psycopg.connect(url) as conn:
        bad_overrides = conn.execute(
            "select count(*) from public.submissions as s"
            " inner join public.activities as a using (activity_id)"
            f" where s.override_by is not null and not {teaches.format(teacher='s.override_by')}"
        ).fetchone()
        assert bad_overrides == (0,)
        bad_marks = conn.execute(
            f"""
            select
              count(*) filter (where not exists (
                select from public.activity_success_criteria as l
                where l.activity_id = s.activity_id and l.success_criteria_id = c.success_criteria_id
              )),
              count(*) filter (where not {teaches.format(teacher="c.marked_by")}),
              count(*) filter (where c.marked_at < s.submitted_at or s.status = 'inprogress')
            from public.submission_criterion_scores as c
            inner join public.submissions as s on s.submission_id = c.submission_id
            inner join public.activities as a on a.activity_id = s.activity_id
            """
        ).fetchone()
        assert bad_marks == (0, 0, 0)


def test_same_seed_same_tables_other_seed_other_tables(school: tuple[str, seed.SeedSummary], database_url: str) -> None:
    url, summary = school
    first = _checksums(url)
    with scratch_database(database_url, "planner_seed") as other:
        migrate(other)
        again = seed.generate_and_load(other, pupils=PUPILS, seed=SEED)
        assert again.rows == summary.rows
        assert _checksums(other) == first
        seed.generate_and_load(other, pupils=PUPILS, seed=SEED + 1)  # replaces the first school
        changed = _checksums(other)
    assert changed["public.submissions"] != first["public.submissions"]
    assert changed["public.profiles"] != first["public.profiles"]
    assert changed["public.subjects"] == first["public.subjects"]


def test_rows_without_a_database_are_deterministic() -> None:
    a, b = seed.all_rows(12, 3), seed.all_rows(12, 3)
    assert a == b
    assert a != seed.all_rows(12, 4)
    assert list(a) == TABLES
    assert all(len(row) == len(seed.COLUMNS[t]) for t, rows in a.items() for row in rows)
    rng, ref = random.Random(5), random.Random(5)
    assert [seed._uuid(rng) for _ in range(50)] == [
        str(uuid.UUID(int=ref.getrandbits(128), version=4)) for _ in range(50)
    ]
    with pytest.raises(ValueError, match="at least 1"):
        seed.generate(0, 1)


def test_foreign_key_check_catches_a_dangling_row(school: tuple[str, seed.SeedSummary]) -> None:
    url, _ = school
    # Only the platform's superuser may switch the per-row checks off to plant a dangling row.
    with psycopg.connect(platform_url(url)) as conn:
        seed._check_foreign_keys(conn, TABLES)
        conn.execute("set session_replication_role = replica")
        conn.execute(
            "insert into public.submissions (activity_id, user_id, status)"
            " select gen_random_uuid(), user_id, 'inprogress' from public.profiles limit 1"
        )
        with pytest.raises(RuntimeError, match="submissions_activity_id_fkey"):
            seed._check_foreign_keys(conn, TABLES)
        conn.rollback()


def test_foreign_keys_stay_checked_per_row_without_the_privilege(
    school: tuple[str, seed.SeedSummary],
) -> None:
    url, _ = school
    with psycopg.connect(url) as conn:
        assert seed._defer_foreign_keys(conn) is False  # postgres, as on Supabase: not a superuser
        conn.execute("set role service_role")
        assert seed._defer_foreign_keys(conn) is False
        assert conn.execute("show session_replication_role").fetchone() == ("origin",)
        conn.rollback()


def test_seed_sql_holds_the_worked_example(migrated_scratch_url: str) -> None:
    url = migrated_scratch_url
    with psycopg.connect(url) as conn:
        conn.execute(SEED_SQL.read_bytes())
        conn.commit()
        u, p, g = "00000000-0000-4000-8000-000000000201", "00000000-0000-4000-8000-000000000101", "25-8A-CS"
        assert conn.execute("select year, subject from public.units where unit_id = %s", (u,)).fetchone() == (
            8,
            "Computing",
        )
        assert conn.execute(
            "select role from public.group_membership where group_id = %s and user_id = %s", (g, p)
        ).fetchone() == ("pupil",)
        assert conn.execute(
            "select count(*) = count(la.lesson_id) from public.lessons as l"
            " left join public.lesson_assignments as la on la.lesson_id = l.lesson_id and la.group_id = %s"
            " where l.unit_id = %s",
            (g, u),
        ).fetchone() == (True,)
        activities = conn.execute(
            """
            select left(a.title, 2), a.type, a.is_summative,
              array_remove(array_agg(left(sc.description, 2) order by sc.description), null),
              array_remove(array_agg(sc.level order by sc.description), null)
            from public.activities as a
            inner join public.lessons as l on l.lesson_id = a.lesson_id
            left join public.activity_success_criteria as x on x.activity_id = a.activity_id
            left join public.success_criteria as sc on sc.success_criteria_id = x.success_criteria_id
            where l.unit_id = %s
            group by a.activity_id
            order by a.title
            """,
            (u,),
        ).fetchall()
        assert activities == [
            ("A1", "multiple-choice-question", False, ["S1", "S2"], [1, 1]),
            ("A2", "short-text-question", True, ["S2", "S3"], [1, 2]),
            ("A3", "upload-file", True, ["S3"], [2]),
            ("A4", "short-text-question", False, ["S4"], [2]),
            ("A5", "display-text", False, [], []),
        ]
        work = conn.execute(
            """
            select left(a.title, 2), s.status, s.auto_score, s.ai_score, s.override_score,
              (select jsonb_object_agg(left(sc.description, 2), c.score order by sc.description)
               from public.submission_criterion_scores as c
               inner join public.success_criteria as sc on sc.success_criteria_id = c.success_criteria_id
               where c.submission_id = s.submission_id)
            from public.submissions as s
            inner join public.activities as a on a.activity_id = s.activity_id
            inner join public.lessons as l on l.lesson_id = a.lesson_id
            where s.user_id = %s and l.unit_id = %s
            order by a.title
            """,
            (p, u),
        ).fetchall()
        assert [(t, st, _f(au), _f(ai), _f(ov), m) for t, st, au, ai, ov, m in work] == [
            ("A1", "submitted", 1.0, None, None, None),
            ("A2", "submitted", None, 0.6, None, {"S2": 1, "S3": 0.5}),
            ("A4", "submitted", None, None, None, None),
        ]


def _f(value: object) -> float | None:
    return None if value is None else float(str(value))


def test_generated_school_beside_the_demo_then_replacing_it(migrated_scratch_url: str) -> None:
    url = migrated_scratch_url
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute(SEED_SQL.read_bytes())
    reference = (
        _one(url, "select count(*) from public.level_boundaries"),
        _one(url, "select count(*) from public.activity_types"),
    )
    demo = _one(url, "select count(*) from public.submissions")
    kept = seed.generate_and_load(url, pupils=10, seed=2, replace=False)
    assert _one(url, "select count(*) from public.submissions") == demo + kept.rows["public.submissions"]
    with pytest.raises(ValueError, match="already exists"):
        seed.generate_and_load(url, pupils=10, seed=2, replace=False)
    replaced = seed.generate_and_load(url, pupils=10, seed=2)
    assert _one(url, "select count(*) from public.submissions") == replaced.rows["public.submissions"]
    assert _one(url, "select count(*) from public.profiles where email like '%demo.school.example'") == 0
    assert _one(url, "select count(*) from auth.users") == replaced.rows["auth.users"]
    assert (
        _one(url, "select count(*) from public.level_boundaries"),
        _one(url, "select count(*) from public.activity_types"),
    ) == reference
