-- private.import_write_submissions: the staged answers and criterion marks are written; a re-import
-- writes nothing, and a changed answer updates its row with a new revision.
begin;
\ir mapper_helpers.psql
select plan(6);

select tests.import_until('write_submissions');
select is(
  private.import_write_submissions(), '{"submissions": 5, "submission_criterion_scores": 2}'::jsonb,
  'five answers and two criterion marks written'
);
select is(
  (select (s.auto_score, s.status) from public.submissions as s
   where s.submission_id = '1e6ac000-0000-4000-8000-0000000000e2'),
  (1::numeric, 'submitted'::text), 'the right answer with its score'
);
create temporary table before on commit drop as
select s.revision from public.submissions as s where s.submission_id = '1e6ac000-0000-4000-8000-0000000000e5';

select tests.import_until('write_submissions');
select is(
  private.import_write_submissions(), '{"submissions": 0, "submission_criterion_scores": 0}'::jsonb,
  'a re-import writes nothing'
);
update legacy.submissions set body = '{"answer": "Third try"}'
where submission_id = '1e6ac000-0000-4000-8000-0000000000e5';
select tests.import_until('write_submissions');
select is(
  private.import_write_submissions(), '{"submissions": 1, "submission_criterion_scores": 0}'::jsonb,
  'a changed answer is written again'
);
select isnt(
  (select s.revision from public.submissions as s where s.submission_id = '1e6ac000-0000-4000-8000-0000000000e5'),
  (select revision from before), 'with a new revision'
);
select ok(tests.import_private('private.import_write_submissions()'), 'no API role may call it');

select * from finish();
rollback;
