-- Who receives the private broadcasts (docs/realtime.md): the RLS policy planner_broadcasts_receive on
-- realtime.messages, checked as Supabase Realtime checks a client joining a private channel: role
-- authenticated with the client's request.jwt.claims, realtime.topic set to the channel's topic, then a
-- select on realtime.messages.
--   assignment_results:{groupId}:{lessonId}  the teachers of the class; not its pupils, not the
--                                            teachers of other classes, not anon
--   report:{pupilId}                         the pupil and the teachers of the pupil's classes
-- Fixture: tests/sql/writes_helpers.psql (T1 teaches W-7A: P1, P2; T2 teaches W-7B: P3; T3 teaches no
-- class; L1 is assigned to W-7A and W-7B).
begin;
\ir ../helpers.psql
\ir ../writes_helpers.psql
\ir realtime_helpers.psql
select plan(36);

select tests.build_school();

-- How many messages the user sees when joining the topic (realtime.topic() = p_join_topic).
create or replace function tests.visible_messages(p_user uuid, p_join_topic text)
returns integer
language plpgsql
as $$
declare
  v_count integer;
begin
  perform tests.authenticate_as(p_user);
  perform set_config('realtime.topic', coalesce(p_join_topic, ''), true);
  select count(*)::integer into v_count
  from realtime.messages as m where not exists (select from noted_messages as r where r.id = m.id::text);
  perform tests.clear_authentication();
  return v_count;
end
$$;

-- True when anon sees no message of the topic: no privilege on realtime.messages (42501, as in the
-- local shim) or no row (a policy that does not apply to anon).
create or replace function tests.anon_sees_no_message(p_join_topic text)
returns boolean
language plpgsql
as $$
declare
  v_count integer;
begin
  perform tests.authenticate_as_anon();
  perform set_config('realtime.topic', p_join_topic, true);
  begin
    select count(*)::integer into v_count
  from realtime.messages as m where not exists (select from noted_messages as r where r.id = m.id::text);
  exception when insufficient_privilege then
    v_count := 0;
  end;
  perform tests.clear_authentication();
  return v_count = 0;
end
$$;
grant execute on all functions in schema tests to anon, authenticated, service_role;

-- Messages: real broadcasts from the write RPCs and the queue, plus a presence row and a broadcast on a
-- topic the policy does not know.
select tests.note_messages();
select tests.authenticate_as(tests.school_id('P1'));
select from public.submissions_submit_answer(tests.school_id('AM'), option_id => 'b');
select tests.clear_authentication();
select tests.authenticate_as(tests.school_id('P3'));
select from public.submissions_submit_answer(tests.school_id('AM'), option_id => 'a');
select tests.clear_authentication();
select from tests.drain_queue();
select is(
  (select array_agg(topic || ' ' || event order by topic, event) from tests.messages_since_note()),
  array[
    tests.grid_topic('W-7A', 'L1') || ' submission_updated', tests.grid_topic('W-7B', 'L1') || ' submission_updated',
    'report:' || tests.school_id('P1') || ' report_updated', 'report:' || tests.school_id('P3') || ' report_updated'
  ],
  'the fixture''s broadcasts: W-7A and W-7B results, reports of P1 and P3'
);
insert into realtime.messages (topic, extension, event, payload, private)
values (tests.grid_topic('W-7A', 'L1'), 'presence', 'sync', '{}', true);
select realtime.send('{}', 'other', 'assignment_results:W-7A', true);

-- 1. The policy -------------------------------------------------------------------------------------
select ok(
  exists (
    select from pg_policies
    where
      schemaname = 'realtime' and tablename = 'messages' and policyname = 'planner_broadcasts_receive'
      and cmd = 'SELECT' and roles = '{authenticated}'
  ),
  'planner_broadcasts_receive: SELECT on realtime.messages for authenticated'
);
select ok(
  (select relrowsecurity from pg_class where oid = 'realtime.messages'::regclass),
  'row level security is on for realtime.messages'
);

-- 2. assignment_results:{groupId}:{lessonId} -----------------------------------------------------------
select is(tests.visible_messages(tests.school_id('T1'), tests.grid_topic('W-7A', 'L1')), 1,
  'T1 (teacher of W-7A) receives on W-7A''s topic: the broadcast, not the presence row');
select is(
  (select (payload ->> 'pupilId')::uuid from tests.messages_since_note()
   where topic = tests.grid_topic('W-7A', 'L1') and extension = 'broadcast'),
  tests.school_id('P1'),
  'that broadcast is P1''s cell'
);
select is(tests.visible_messages(tests.school_id('P1'), tests.grid_topic('W-7A', 'L1')), 0, 'P1 (a pupil of W-7A) does not');
select is(tests.visible_messages(tests.school_id('P2'), tests.grid_topic('W-7A', 'L1')), 0, 'P2 (a pupil of W-7A) does not');
select is(tests.visible_messages(tests.school_id('T2'), tests.grid_topic('W-7A', 'L1')), 0, 'T2 (teacher of W-7B) does not');
select is(tests.visible_messages(tests.school_id('T3'), tests.grid_topic('W-7A', 'L1')), 0, 'T3 (teacher of no class) does not');
select ok(tests.anon_sees_no_message(tests.grid_topic('W-7A', 'L1')), 'anon does not');
select is(tests.visible_messages(tests.school_id('T2'), tests.grid_topic('W-7B', 'L1')), 1, 'T2 receives on W-7B''s topic');
select is(tests.visible_messages(tests.school_id('T1'), tests.grid_topic('W-7B', 'L1')), 0, 'T1 does not receive on W-7B''s topic');
select is(tests.visible_messages(tests.school_id('T1'), tests.grid_topic('W-7A', 'L2')), 0,
  'T1 may join W-7A''s topic of another lesson, which holds no message');
select tests.authenticate_as(tests.school_id('T1'));
select ok(private.realtime_can_receive(tests.grid_topic('W-7A', 'L2')), 'the helper lets T1 join any lesson topic of W-7A');
select tests.clear_authentication();

-- 3. report:{pupilId} ---------------------------------------------------------------------------------
select is(tests.visible_messages(tests.school_id('P1'), 'report:' || tests.school_id('P1')), 1, 'P1 receives on their own report topic');
select is(tests.visible_messages(tests.school_id('T1'), 'report:' || tests.school_id('P1')), 1, 'T1 (P1''s teacher) receives on it');
select is(tests.visible_messages(tests.school_id('P2'), 'report:' || tests.school_id('P1')), 0, 'P2 (a classmate) does not');
select is(tests.visible_messages(tests.school_id('T2'), 'report:' || tests.school_id('P1')), 0, 'T2 (not P1''s teacher) does not');
select is(tests.visible_messages(tests.school_id('T3'), 'report:' || tests.school_id('P1')), 0, 'T3 does not');
select ok(tests.anon_sees_no_message('report:' || tests.school_id('P1')), 'anon does not');
select is(tests.visible_messages(tests.school_id('P3'), 'report:' || tests.school_id('P3')), 1, 'P3 receives on their own report topic');
select is(tests.visible_messages(tests.school_id('T2'), 'report:' || tests.school_id('P3')), 1, 'T2 (P3''s teacher) receives on it');
select is(tests.visible_messages(tests.school_id('T1'), 'report:' || tests.school_id('P3')), 0, 'T1 does not');

-- 4. Only the joined topic, only broadcasts, only known topics ----------------------------------------------
select is(tests.visible_messages(tests.school_id('T1'), null), 0, 'without realtime.topic nobody sees anything');
select is(
  tests.visible_messages(tests.school_id('T1'), tests.grid_topic('W-7A', 'L1')) + tests.visible_messages(tests.school_id('T1'), 'report:' || tests.school_id('P1')),
  (select count(*)::int from tests.messages_since_note()
   where extension = 'broadcast' and topic in (tests.grid_topic('W-7A', 'L1'), 'report:' || tests.school_id('P1'))),
  'joined to one topic, T1 sees that topic''s broadcasts only, never the other topics'' rows'
);
select is(tests.visible_messages(tests.school_id('T1'), 'assignment_results:W-7A'), 0,
  'a topic without a lesson id is nobody''s (not even with a message on it)');
select is(tests.visible_messages(tests.school_id('T1'), 'report:not-a-uuid'), 0, 'a malformed report topic is nobody''s');
select is(tests.visible_messages(tests.school_id('T1'), 'W-7A'), 0, 'an unknown topic is nobody''s');
select ok(
  not private.realtime_can_receive(null) and not private.realtime_can_receive('assignment_results:W-7A:x'),
  'the helper says false for NULL and malformed topics'
);

-- 5. As Supabase Realtime authorises a join: insert a probe row for the topic, select it as the client,
-- roll back.
select tests.note_messages();
insert into realtime.messages (topic, extension) values (tests.grid_topic('W-7A', 'L1'), 'broadcast');
select is(tests.visible_messages(tests.school_id('T1'), tests.grid_topic('W-7A', 'L1')), 1, 'the probe: T1 may read');
select is(tests.visible_messages(tests.school_id('P1'), tests.grid_topic('W-7A', 'L1')), 0, 'the probe: P1 may not');
select is(tests.visible_messages(tests.school_id('T2'), tests.grid_topic('W-7A', 'L1')), 0, 'the probe: T2 may not');

-- 6. Writes to realtime.messages: nobody but the SECURITY DEFINER broadcasts --------------------------------
select tests.authenticate_as(tests.school_id('T1'));
select is(
  tests.sqlstate_of(format(
    $$insert into realtime.messages (topic, extension, event, payload, private) values (%L, 'broadcast', 'x', '{}', true)$$,
    tests.grid_topic('W-7A', 'L1')
  )),
  '42501', 'a teacher cannot broadcast on the topic directly (no INSERT policy)'
);
select tests.clear_authentication();
select tests.authenticate_as(tests.school_id('P1'));
select is(
  tests.sqlstate_of(format(
    $$insert into realtime.messages (topic, extension, event, payload, private) values (%L, 'broadcast', 'x', '{}', true)$$,
    tests.grid_topic('W-7A', 'L1')
  )),
  '42501', 'nor can a pupil'
);
select tests.clear_authentication();
select ok(
  has_function_privilege('authenticated', 'private.realtime_can_receive(text)', 'execute'),
  'authenticated may execute the policy''s helper'
);
select ok(
  not has_function_privilege('anon', 'private.realtime_can_receive(text)', 'execute'),
  'anon may not'
);

select * from finish();
rollback;
