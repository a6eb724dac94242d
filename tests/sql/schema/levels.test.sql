-- The level table of the specification (minimum percent per label and year) is seeded exactly, and
-- activity_types says which types score.
begin;
create extension if not exists pgtap with schema extensions;
select plan(21);

-- 1. The whole table, transcribed from the specification (year, label, rank, min_percent) -----
select is((select count(*)::int from public.level_boundaries), 107, 'level_boundaries holds 107 rows');

select results_eq(
  $$select year, label, rank, min_percent from public.level_boundaries order by year, rank$$,
  $$select year, label, rank, min_percent
    from (values
      (7, '0'::text, 0, 0::numeric), (7, '1L', 1, 6), (7, '1M', 2, 11), (7, '1H', 3, 17), (7, '2L', 4, 22), (7, '2M', 5, 33), (7, '2H', 6, 40),
      (7, '3L', 7, 47), (7, '3M', 8, 53), (7, '3H', 9, 60), (7, '4L', 10, 67), (7, '4M', 11, 73), (7, '4H', 12, 80), (7, '5L', 13, 87),
      (7, '5M', 14, 93),
      (8, '0', 0, 0), (8, '1L', 1, 6), (8, '1M', 2, 11), (8, '1H', 3, 17), (8, '2L', 4, 22), (8, '2M', 5, 28), (8, '2H', 6, 33),
      (8, '3L', 7, 39), (8, '3M', 8, 44), (8, '3H', 9, 50), (8, '4L', 10, 56), (8, '4M', 11, 61), (8, '4H', 12, 67), (8, '5L', 13, 72),
      (8, '5M', 14, 78), (8, '5H', 15, 83), (8, '6L', 16, 89), (8, '6M', 17, 94),
      (9, '0', 0, 0), (9, '1L', 1, 5), (9, '1M', 2, 10), (9, '1H', 3, 14), (9, '2L', 4, 19), (9, '2M', 5, 24), (9, '2H', 6, 29),
      (9, '3L', 7, 33), (9, '3M', 8, 38), (9, '3H', 9, 43), (9, '4L', 10, 48), (9, '4M', 11, 52), (9, '4H', 12, 57), (9, '5L', 13, 62),
      (9, '5M', 14, 67), (9, '5H', 15, 71), (9, '6L', 16, 76), (9, '6M', 17, 81), (9, '6H', 18, 86), (9, '7L', 19, 90), (9, '7M', 20, 95),
      (10, '0', 0, 0), (10, '1L', 1, 4), (10, '1M', 2, 8), (10, '1H', 3, 12), (10, '2L', 4, 16), (10, '2M', 5, 20), (10, '2H', 6, 24),
      (10, '3L', 7, 28), (10, '3M', 8, 32), (10, '3H', 9, 36), (10, '4L', 10, 40), (10, '4M', 11, 44), (10, '4H', 12, 48), (10, '5L', 13, 52),
      (10, '5M', 14, 56), (10, '5H', 15, 60), (10, '6L', 16, 64), (10, '6M', 17, 68), (10, '6H', 18, 72), (10, '7L', 19, 76), (10, '7M', 20, 80),
      (10, '7H', 21, 84), (10, '8L', 22, 88), (10, '8M', 23, 92), (10, '8H', 24, 96),
      (11, '0', 0, 0), (11, '1L', 1, 4), (11, '1M', 2, 7), (11, '1H', 3, 11), (11, '2L', 4, 14), (11, '2M', 5, 18), (11, '2H', 6, 21),
      (11, '3L', 7, 25), (11, '3M', 8, 29), (11, '3H', 9, 32), (11, '4L', 10, 36), (11, '4M', 11, 39), (11, '4H', 12, 43), (11, '5L', 13, 46),
      (11, '5M', 14, 50), (11, '5H', 15, 54), (11, '6L', 16, 57), (11, '6M', 17, 61), (11, '6H', 18, 64), (11, '7L', 19, 68), (11, '7M', 20, 71),
      (11, '7H', 21, 75), (11, '8L', 22, 79), (11, '8M', 23, 82), (11, '8H', 24, 86), (11, '9L', 25, 89), (11, '9M', 26, 93), (11, '9H', 27, 96)
    ) as v (year, label, rank, min_percent)
    order by year, rank$$,
  'level_boundaries equals the specification''s table, cell by cell'
);

select results_eq(
  $$select year, count(*)::int from public.level_boundaries group by year order by year$$,
  $$values (7, 15), (8, 18), (9, 21), (10, 25), (11, 28)$$,
  'rows per year: 15, 18, 21, 25, 28 (years 7 to 11 only)'
);
select is(
  (select min_percent from public.level_boundaries where year = 11 and label = '9H'), 96::numeric,
  'Year 11 9H needs 96'
);
select is(
  (select min_percent from public.level_boundaries where year = 8 and label = '4M'), 61::numeric,
  'Year 8 4M needs 61 (the worked example)'
);

-- 2. Blank cells are absent ----------------------------------------------------------------------
select is_empty($$select from public.level_boundaries where year = 7 and label = '5H'$$, 'no Year 7 5H');
select is_empty($$select from public.level_boundaries where year = 8 and label = '6H'$$, 'no Year 8 6H');
select is_empty($$select from public.level_boundaries where year = 9 and label = '7H'$$, 'no Year 9 7H');
select is_empty($$select from public.level_boundaries where year = 10 and label like '9_'$$, 'no Year 10 level 9');
select is_empty($$select from public.level_boundaries where year not between 7 and 11$$, 'no boundaries outside years 7 to 11');

-- 3. Ranks and labels -----------------------------------------------------------------------------
select results_eq(
  $$select distinct rank, label from public.level_boundaries order by rank$$,
  $$select r - 1, case when r = 1 then '0' else ((r - 2) / 3 + 1)::text || substr('LMH', (r - 2) % 3 + 1, 1) end
    from generate_series(1, 28) as r order by r$$,
  'ranks 0..27 map to one label each: 0, 1L, 1M, 1H, ..., 9H'
);
select results_eq(
  $$select label from public.level_boundaries where year = 11 order by rank$$,
  $$values ('0'), ('1L'), ('1M'), ('1H'), ('2L'), ('2M'), ('2H'), ('3L'), ('3M'), ('3H'), ('4L'), ('4M'), ('4H'),
      ('5L'), ('5M'), ('5H'), ('6L'), ('6M'), ('6H'), ('7L'), ('7M'), ('7H'), ('8L'), ('8M'), ('8H'),
      ('9L'), ('9M'), ('9H')$$,
  'Year 11 spells every label from 0 to 9H in rank order'
);
select is_empty(
  $$select year from public.level_boundaries group by year
    having min(rank) <> 0 or max(rank) <> count(*) - 1 or min(min_percent) <> 0$$,
  'every year starts at rank 0 with 0 percent and has no gaps in its ranks'
);
select is_empty(
  $$select year, rank
    from (
      select year, rank, min_percent,
             lag(min_percent) over (partition by year order by rank) as previous
      from public.level_boundaries
    ) as b
    where min_percent <= previous$$,
  'min_percent strictly increases with rank within each year'
);

-- 4. The label a percentage earns (highest rank whose min_percent <= percent) -------------------
create temp table level_probe (year int, percent numeric, expected text) on commit drop;
insert into level_probe values (7, 54, '3M'), (8, 73, '5L'), (8, 62.5, '4M'), (7, 53, '3M'), (11, 100, '9H'), (9, 0, '0');
select results_eq(
  $$select p.year, p.percent,
           (select b.label from public.level_boundaries as b
            where b.year = p.year and b.min_percent <= p.percent order by b.rank desc limit 1)
    from level_probe as p order by p.year, p.percent$$,
  $$select year, percent, expected from level_probe order by year, percent$$,
  'the specification''s examples: Y7 54% = 3M, Y8 73% = 5L, Y8 62.5% = 4M; edges Y7 53% = 3M, Y11 100% = 9H, 0% = 0'
);

-- 5. activity_types: scorable is data ------------------------------------------------------------
select set_eq(
  $$select type from public.activity_types where scorable$$,
  array['multiple-choice-question', 'short-text-question', 'long-text-question', 'upload-file'],
  'exactly MCQ, short text, long text and upload are scorable'
);
select set_eq(
  $$select type from public.activity_types where not scorable$$,
  array['display-text', 'display-image', 'show-video', 'file-download'],
  'the display-only types are not scorable'
);
select is((select scorable from public.activity_types where type = 'multiple-choice-question'), true, 'multiple-choice-question is scorable');
select is((select scorable from public.activity_types where type = 'upload-file'), true, 'upload-file is scorable');
select is((select scorable from public.activity_types where type = 'display-text'), false, 'display-text is not scorable');
select is((select scorable from public.activity_types where type = 'long-text-question'), true, 'long-text-question is scorable');

select * from finish();
rollback;
