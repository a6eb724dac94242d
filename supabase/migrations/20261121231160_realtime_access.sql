-- Who receives the project's private broadcasts (docs/realtime.md): an RLS policy on realtime.messages.
--
-- Supabase Realtime authorises a client joining a private channel by selecting from realtime.messages
-- as that client (role authenticated, request.jwt.claims) with realtime.topic() set to the channel's
-- topic, then rolling back. This policy lets it read broadcast rows of the topic when
-- private.realtime_can_receive(topic) says so:
--   assignment_results:{groupId}:{lessonId}   the teachers of the class
--   report:{pupilId}                          the pupil and the teachers of the pupil's classes
-- and nobody else (pupils of the class, teachers of other classes, anon, unknown topics).
--
-- It comes after the functions migration because the policy calls a function it installs. It is
-- created only where realtime.messages and realtime.topic() exist (on Supabase, and locally through
-- the platform shim); elsewhere it does nothing. No ALTER TABLE: realtime.messages belongs to
-- Supabase's realtime admin role, which already enables RLS on it; postgres may only add policies.
do $realtime$
begin
  if pg_catalog.to_regclass('realtime.messages') is null
    or pg_catalog.to_regprocedure('realtime.topic()') is null then
    raise notice 'realtime.messages is absent here: no realtime authorization policy created';
    return;
  end if;
  execute 'drop policy if exists planner_broadcasts_receive on realtime.messages';
  execute $policy$
    create policy planner_broadcasts_receive on realtime.messages
    for select to authenticated
    using (
      extension = 'broadcast'
      and topic = (select realtime.topic())
      and (select private.realtime_can_receive((select realtime.topic())))
    )
  $policy$;
  execute $comment$
    comment on policy planner_broadcasts_receive on realtime.messages is
    'Private broadcasts of the planner: assignment_results:{groupId}:{lessonId} to the class''s teachers, '
    'report:{pupilId} to the pupil and their teachers (private.realtime_can_receive).'
  $comment$;
end
$realtime$;
