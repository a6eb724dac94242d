-- Every level label of every year, at and just below its boundary (public.level_boundaries), through
-- private.level_for, the function every stored level comes from.
begin;
\ir ../helpers.psql
select plan(7);

select is((select count(*) from public.level_boundaries where year between 7 and 11), 107::bigint,
  '107 boundaries: 28 labels over 5 years, blanks absent');

select is_empty(
  $$select lb.year, lb.label, got.label
    from public.level_boundaries as lb
    cross join lateral private.level_for(lb.year, lb.min_percent / 100) as got
    where got.label is distinct from lb.label$$,
  'at each boundary (average = min_percent / 100) the level is that label'
);

select is_empty(
  $$select lb.year, lb.label, got.label, prev.label
    from public.level_boundaries as lb
    join public.level_boundaries as prev on prev.year = lb.year
      and prev.rank = (select max(p.rank) from public.level_boundaries as p where p.year = lb.year and p.rank < lb.rank)
    left join lateral private.level_for(lb.year, lb.min_percent / 100 - 0.0001) as got on true
    where lb.rank > 0 and got.label is distinct from prev.label$$,
  'just below each boundary (0.0001 less) the level is the label below'
);

select is(
  (select count(*) from public.level_boundaries as lb
   cross join lateral private.level_for(lb.year, lb.min_percent / 100 - 0.0001) as got where lb.rank > 0),
  102::bigint, 'all 102 boundaries above 0 were checked from below'
);

select results_eq(
  $$select y, (select label from private.level_for(y, 1)) from generate_series(7, 11) as y order by y$$,
  $$values (7, '5M'), (8, '6M'), (9, '7M'), (10, '8H'), (11, '9H')$$,
  'full marks reach the top label of each year (Year 11 9H at 96)'
);

select results_eq(
  $$values ((select label from private.level_for(7, 0.54))), ((select label from private.level_for(8, 0.73))),
    ((select label from private.level_for(11, 0.96))), ((select label from private.level_for(11, 0.9599)))$$,
  $$values ('3M'), ('5L'), ('9H'), ('9M')$$,
  'the examples of the specification: Y7 54 % 3M, Y8 73 % 5L; Y11 96 % 9H, 95.99 % 9M'
);

select is_empty(
  $$select y from unnest(array[6, 12, 13]) as y cross join lateral private.level_for(y, 0.9) as got
    union all select 1 from private.level_for(8, null)$$,
  'years outside 7-11 and a NULL average have no level'
);

select * from finish();
rollback;
