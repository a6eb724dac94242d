-- Demo school for `supabase db reset` / `make db-reset`: runs after every migration, as postgres,
-- in one transaction. Small and hand-written; `glue seed` generates a realistic school instead.
-- Ids are readable literals '00000000-0000-4000-8000-00000000NNNN', written ...NNNN below: 00xx teachers,
-- 01xx pupils, 02xx units, 03xx lessons, 04xx objectives, 05xx success criteria, 06xx activities, 07xx submissions.
--
-- Who is who
--   teachers  Helen Carter  ...0001  Computing, teaches 25-8A-CS and 25-8B-CS
--             David Okoro   ...0002  Maths, teaches 25-8A-MATH
--   pupils    Priya Patel   ...0101  25-8A-CS, 25-8A-MATH   the worked example's pupil P
--             Ben Adams     ...0102  25-8A-CS, 25-8A-MATH   everything handed in, one mark overridden
--             Chloe Brown   ...0103  25-8A-CS               a wrong MCQ answer, an upload, work in progress
--             Daniel Clarke ...0104  25-8A-CS               nothing handed in (all missing)
--             Emma Davies   ...0105  25-8B-CS, 25-8A-MATH   criterion-marked upload, awaiting marking
--             Farid Khan    ...0106  25-8B-CS, 25-8A-MATH   a rejected answer
--
-- The worked example of docs/scoring.md, exactly:
--   U  unit      00000000-0000-4000-8000-000000000201  'Algorithms' (Computing, year 8)
--   G  group     25-8A-CS (both lessons of U assigned)
--   P  pupil     00000000-0000-4000-8000-000000000101  Priya Patel
--   S1, S2 (level 1) ...0501, ...0502; S3, S4 (level 2) ...0503, ...0504
--   A1 ...0601 MCQ, S1 S2, P right (auto_score 1)     A2 ...0602 short text, summative, S2 S3,
--   A3 ...0603 upload, summative, S3, P nothing       P: ai_score 0.6, teacher marks S2 = 1, S3 = 0.5
--   A4 ...0604 short text, S4, P submitted, unmarked  A5 ...0605 display text (not scorable)
--   Expected report row for (P, U): activities_average 0.7500, assessment_average 0.6250, level 4M,
--   working_level 1, activity_count 4, marked 2, missing 1, awaiting marking 1.

insert into auth.users (id, email) values
('00000000-0000-4000-8000-000000000001', 'h.carter@demo.school.example'),
('00000000-0000-4000-8000-000000000002', 'd.okoro@demo.school.example'),
('00000000-0000-4000-8000-000000000101', 'priya.patel@pupils.demo.school.example'),
('00000000-0000-4000-8000-000000000102', 'ben.adams@pupils.demo.school.example'),
('00000000-0000-4000-8000-000000000103', 'chloe.brown@pupils.demo.school.example'),
('00000000-0000-4000-8000-000000000104', 'daniel.clarke@pupils.demo.school.example'),
('00000000-0000-4000-8000-000000000105', 'emma.davies@pupils.demo.school.example'),
('00000000-0000-4000-8000-000000000106', 'farid.khan@pupils.demo.school.example');

insert into public.profiles (user_id, first_name, last_name, email, is_teacher) values
('00000000-0000-4000-8000-000000000001', 'Helen', 'Carter', 'h.carter@demo.school.example', true),
('00000000-0000-4000-8000-000000000002', 'David', 'Okoro', 'd.okoro@demo.school.example', true),
('00000000-0000-4000-8000-000000000101', 'Priya', 'Patel', 'priya.patel@pupils.demo.school.example', false),
('00000000-0000-4000-8000-000000000102', 'Ben', 'Adams', 'ben.adams@pupils.demo.school.example', false),
('00000000-0000-4000-8000-000000000103', 'Chloe', 'Brown', 'chloe.brown@pupils.demo.school.example', false),
('00000000-0000-4000-8000-000000000104', 'Daniel', 'Clarke', 'daniel.clarke@pupils.demo.school.example', false),
('00000000-0000-4000-8000-000000000105', 'Emma', 'Davies', 'emma.davies@pupils.demo.school.example', false),
('00000000-0000-4000-8000-000000000106', 'Farid', 'Khan', 'farid.khan@pupils.demo.school.example', false);

insert into public.subjects (subject, active) values
('Computing', true),
('Maths', true);

insert into public.groups (group_id, subject, join_code, active) values
('25-8A-CS', 'Computing', 'DEMO8A', true),
('25-8B-CS', 'Computing', 'DEMO8B', true),
('25-8A-MATH', 'Maths', 'DEMO8M', true);

insert into public.group_membership (group_id, user_id, role) values
('25-8A-CS', '00000000-0000-4000-8000-000000000001', 'teacher'),
('25-8A-CS', '00000000-0000-4000-8000-000000000101', 'pupil'),
('25-8A-CS', '00000000-0000-4000-8000-000000000102', 'pupil'),
('25-8A-CS', '00000000-0000-4000-8000-000000000103', 'pupil'),
('25-8A-CS', '00000000-0000-4000-8000-000000000104', 'pupil'),
('25-8B-CS', '00000000-0000-4000-8000-000000000001', 'teacher'),
('25-8B-CS', '00000000-0000-4000-8000-000000000105', 'pupil'),
('25-8B-CS', '00000000-0000-4000-8000-000000000106', 'pupil'),
('25-8A-MATH', '00000000-0000-4000-8000-000000000002', 'teacher'),
('25-8A-MATH', '00000000-0000-4000-8000-000000000101', 'pupil'),
('25-8A-MATH', '00000000-0000-4000-8000-000000000102', 'pupil'),
('25-8A-MATH', '00000000-0000-4000-8000-000000000105', 'pupil'),
('25-8A-MATH', '00000000-0000-4000-8000-000000000106', 'pupil');

-- U (Computing, year 8) and a Maths unit; a year 12 unit nobody is assigned.
insert into public.units (unit_id, title, subject, description, year, active) values
(
  '00000000-0000-4000-8000-000000000201', 'Algorithms', 'Computing',
  'Year 8 Computing: what an algorithm is, and designing algorithms with flowcharts.', 8, true
),
(
  '00000000-0000-4000-8000-000000000202', 'Fractions', 'Maths',
  'Year 8 Maths: equivalent fractions and adding fractions.', 8, true
),
(
  '00000000-0000-4000-8000-000000000203', 'Databases', 'Computing',
  'Year 12 Computing: relational databases and SQL.', 12, true
);

insert into public.lessons (lesson_id, unit_id, title, order_by, active) values
('00000000-0000-4000-8000-000000000301', '00000000-0000-4000-8000-000000000201', 'What is an algorithm?', 1, true),
('00000000-0000-4000-8000-000000000302', '00000000-0000-4000-8000-000000000201', 'Flowcharts: assessment', 2, true),
('00000000-0000-4000-8000-000000000303', '00000000-0000-4000-8000-000000000202', 'Equivalent fractions', 1, true),
('00000000-0000-4000-8000-000000000304', '00000000-0000-4000-8000-000000000203', 'Tables and keys', 1, true);

insert into public.lesson_assignments (group_id, lesson_id, start_date, feedback_visible) values
('25-8A-CS', '00000000-0000-4000-8000-000000000301', '2025-09-15', true),
('25-8A-CS', '00000000-0000-4000-8000-000000000302', '2025-09-22', true),
('25-8B-CS', '00000000-0000-4000-8000-000000000301', '2025-09-16', true),
('25-8B-CS', '00000000-0000-4000-8000-000000000302', '2025-09-23', false),
('25-8A-MATH', '00000000-0000-4000-8000-000000000303', '2025-09-17', true);

insert into public.learning_objectives (learning_objective_id, title, order_by) values
('00000000-0000-4000-8000-000000000401', 'Understand what an algorithm is', 1),
('00000000-0000-4000-8000-000000000402', 'Design algorithms with flowcharts', 2),
('00000000-0000-4000-8000-000000000403', 'Work with equivalent fractions', 1);

-- S1..S4 of the worked example, then the Maths criteria.
insert into public.success_criteria (success_criteria_id, learning_objective_id, description, level, order_by) values
(
  '00000000-0000-4000-8000-000000000501', '00000000-0000-4000-8000-000000000401',
  'S1: I can say what an algorithm is', 1, 1
),
(
  '00000000-0000-4000-8000-000000000502', '00000000-0000-4000-8000-000000000401',
  'S2: I can give an everyday example of an algorithm', 1, 2
),
(
  '00000000-0000-4000-8000-000000000503', '00000000-0000-4000-8000-000000000402',
  'S3: I can draw a flowchart with a decision', 2, 1
),
(
  '00000000-0000-4000-8000-000000000504', '00000000-0000-4000-8000-000000000402',
  'S4: I can trace a flowchart with a loop', 2, 2
),
(
  '00000000-0000-4000-8000-000000000505', '00000000-0000-4000-8000-000000000403',
  'I can find an equivalent fraction', 1, 1
),
(
  '00000000-0000-4000-8000-000000000506', '00000000-0000-4000-8000-000000000403',
  'I can explain why two fractions are equivalent', 3, 2
);

-- A1..A5 of the worked example (lessons 1 and 2 of U), then Maths and year 12 activities.
insert into public.activities (
  activity_id, lesson_id, title, type, body_data, is_summative, active, order_by
) values
(
  '00000000-0000-4000-8000-000000000605', '00000000-0000-4000-8000-000000000301', 'A5: Algorithms around us',
  'display-text', '{"text": "An algorithm is a precise sequence of steps that solves a problem."}', false, true, 1
),
(
  '00000000-0000-4000-8000-000000000601', '00000000-0000-4000-8000-000000000301', 'A1: Which is an algorithm?',
  'multiple-choice-question',
  '{"question": "Which of these is an algorithm?", "options": [{"id": "a", "text": "A computer"},
    {"id": "b", "text": "A recipe for a cake"}, {"id": "c", "text": "A keyboard"}, {"id": "d", "text": "The internet"}]}',
  false, true, 2
),
(
  '00000000-0000-4000-8000-000000000602', '00000000-0000-4000-8000-000000000301', 'A2: Explain an algorithm',
  'short-text-question',
  '{"question": "Describe an everyday algorithm and draw its first decision."}',
  true, true, 3
),
(
  '00000000-0000-4000-8000-000000000603', '00000000-0000-4000-8000-000000000302', 'A3: Upload your flowchart',
  'upload-file', '{"question": "Upload a flowchart for crossing the road.", "accepted": ["pdf", "png", "jpg"]}',
  true, true, 1
),
(
  '00000000-0000-4000-8000-000000000604', '00000000-0000-4000-8000-000000000302', 'A4: Trace the loop',
  'short-text-question',
  '{"question": "Trace the flowchart: what is printed?"}',
  false, true, 2
),
(
  '00000000-0000-4000-8000-000000000606', '00000000-0000-4000-8000-000000000303', 'Equivalent to one half',
  'multiple-choice-question',
  '{"question": "Which fraction equals 1/2?", "options": [{"id": "a", "text": "2/3"}, {"id": "b", "text": "3/4"},
    {"id": "c", "text": "4/8"}]}',
  false, true, 1
),
(
  '00000000-0000-4000-8000-000000000607', '00000000-0000-4000-8000-000000000303', 'Why are they equal?',
  'long-text-question',
  '{"question": "Explain why 2/4 and 3/6 are equivalent."}',
  true, true, 2
),
(
  '00000000-0000-4000-8000-000000000608', '00000000-0000-4000-8000-000000000304', 'Primary keys',
  'show-video', '{"video_url": "https://video.example.org/CS/primary-keys"}', false, true, 1
);

-- What marks them: pupils never read these (public.activity_answer_keys).
insert into public.activity_answer_keys (activity_id, correct_option_id, model_answer) values
('00000000-0000-4000-8000-000000000601', 'b', null),
(
  '00000000-0000-4000-8000-000000000602', null,
  'Making tea: boil water, then decide whether to add milk; a decision is a diamond.'
),
('00000000-0000-4000-8000-000000000604', null, '1, 2, 3, then it stops.'),
('00000000-0000-4000-8000-000000000606', 'c', null),
('00000000-0000-4000-8000-000000000607', null, 'Both simplify to 1/2.');

insert into public.activity_success_criteria (activity_id, success_criteria_id) values
('00000000-0000-4000-8000-000000000601', '00000000-0000-4000-8000-000000000501'),
('00000000-0000-4000-8000-000000000601', '00000000-0000-4000-8000-000000000502'),
('00000000-0000-4000-8000-000000000602', '00000000-0000-4000-8000-000000000502'),
('00000000-0000-4000-8000-000000000602', '00000000-0000-4000-8000-000000000503'),
('00000000-0000-4000-8000-000000000603', '00000000-0000-4000-8000-000000000503'),
('00000000-0000-4000-8000-000000000604', '00000000-0000-4000-8000-000000000504'),
('00000000-0000-4000-8000-000000000606', '00000000-0000-4000-8000-000000000505'),
('00000000-0000-4000-8000-000000000607', '00000000-0000-4000-8000-000000000505'),
('00000000-0000-4000-8000-000000000607', '00000000-0000-4000-8000-000000000506');

-- Submissions 07PP: P = 01 Priya (the worked example: A1, A2, A4; nothing on A3), 02 Ben, 03 Chloe,
-- 05 Emma, 06 Farid; Daniel (04) has handed in nothing.
insert into public.submissions (
  submission_id, activity_id, user_id, status, submitted_at, body, auto_score, ai_score, ai_feedback, ai_meta,
  ai_marked_at, override_score, teacher_feedback, override_by, override_at, created_at, updated_at
) values
-- Priya: A1 right (auto 1); A2 AI 0.6 (and criterion marks below); A4 submitted, awaiting marking.
(
  '00000000-0000-4000-8000-000000000701', '00000000-0000-4000-8000-000000000601',
  '00000000-0000-4000-8000-000000000101', 'submitted', '2025-09-15 10:05+00', '{"option_id": "b"}', 1,
  null, null, null, null, null, null, null, null, '2025-09-15 10:04+00', '2025-09-15 10:05+00'
),
(
  '00000000-0000-4000-8000-000000000702', '00000000-0000-4000-8000-000000000602',
  '00000000-0000-4000-8000-000000000101', 'submitted', '2025-09-15 10:20+00',
  '{"text": "Brushing teeth: if the brush is dry, wet it; then brush for two minutes."}', null,
  0.6, 'A good everyday example; show the decision as a diamond.',
  '{"model": "gpt-4o-mini", "prompt_hash": "5e1f0c2a9b7d4e33", "completion_id": "chatcmpl-demo0702"}',
  '2025-09-15 10:21+00', null, null, null, null, '2025-09-15 10:12+00', '2025-09-16 16:00+00'
),
(
  '00000000-0000-4000-8000-000000000704', '00000000-0000-4000-8000-000000000604',
  '00000000-0000-4000-8000-000000000101', 'submitted', '2025-09-22 10:30+00', '{"text": "1, 2, 3"}', null,
  null, null, null, null, null, null, null, null, '2025-09-22 10:25+00', '2025-09-22 10:30+00'
),
-- Ben: everything handed in; his A2 AI mark overridden by Helen Carter; upload marked by override.
(
  '00000000-0000-4000-8000-000000000711', '00000000-0000-4000-8000-000000000601',
  '00000000-0000-4000-8000-000000000102', 'completed', '2025-09-15 10:06+00', '{"option_id": "b"}', 1,
  null, null, null, null, null, null, null, null, '2025-09-15 10:06+00', '2025-09-15 10:06+00'
),
(
  '00000000-0000-4000-8000-000000000712', '00000000-0000-4000-8000-000000000602',
  '00000000-0000-4000-8000-000000000102', 'submitted', '2025-09-15 10:25+00',
  '{"text": "A recipe: mix, bake, and check if it is cooked."}', null,
  0.45, 'Add the decision step to your example.',
  '{"model": "gpt-4o-mini", "prompt_hash": "5e1f0c2a9b7d4e33", "completion_id": "chatcmpl-demo0712"}',
  '2025-09-15 10:26+00', 0.7, 'The check is a decision: good.', '00000000-0000-4000-8000-000000000001',
  '2025-09-16 16:05+00', '2025-09-15 10:15+00', '2025-09-16 16:05+00'
),
(
  '00000000-0000-4000-8000-000000000713', '00000000-0000-4000-8000-000000000603',
  '00000000-0000-4000-8000-000000000102', 'submitted', '2025-09-22 10:40+00',
  '{"file_name": "road.png", "path": "25-8A-CS/00000000-0000-4000-8000-000000000603/00000000-0000-4000-8000-000000000102/road.png"}', null,
  null, null, null, null, 0.8, 'Clear flowchart.', '00000000-0000-4000-8000-000000000001',
  '2025-09-23 15:00+00', '2025-09-22 10:40+00', '2025-09-23 15:00+00'
),
(
  '00000000-0000-4000-8000-000000000714', '00000000-0000-4000-8000-000000000604',
  '00000000-0000-4000-8000-000000000102', 'submitted', '2025-09-22 10:45+00', '{"text": "1, 2, 3, then stop"}',
  null, 0.9, 'Correct trace.',
  '{"model": "gpt-4o-mini", "prompt_hash": "a81c33f0de924b10", "completion_id": "chatcmpl-demo0714"}',
  '2025-09-22 10:46+00', null, null, null, null, '2025-09-22 10:41+00', '2025-09-22 10:46+00'
),
-- Chloe: A1 wrong (auto 0); A2 AI 0.9; A3 uploaded, awaiting marking; A4 still in progress.
(
  '00000000-0000-4000-8000-000000000721', '00000000-0000-4000-8000-000000000601',
  '00000000-0000-4000-8000-000000000103', 'submitted', '2025-09-15 10:07+00', '{"option_id": "a"}', 0,
  null, null, null, null, null, null, null, null, '2025-09-15 10:07+00', '2025-09-15 10:07+00'
),
(
  '00000000-0000-4000-8000-000000000722', '00000000-0000-4000-8000-000000000602',
  '00000000-0000-4000-8000-000000000103', 'submitted', '2025-09-15 10:30+00',
  '{"text": "Getting dressed: if it is raining, take a coat. The if is a diamond in a flowchart."}', null,
  0.9, 'Excellent, with a clear decision.',
  '{"model": "gpt-4o-mini", "prompt_hash": "5e1f0c2a9b7d4e33", "completion_id": "chatcmpl-demo0722"}',
  '2025-09-15 10:31+00', null, null, null, null, '2025-09-15 10:18+00', '2025-09-15 10:31+00'
),
(
  '00000000-0000-4000-8000-000000000723', '00000000-0000-4000-8000-000000000603',
  '00000000-0000-4000-8000-000000000103', 'submitted', '2025-09-22 10:50+00',
  '{"file_name": "flowchart.pdf", "path": "25-8A-CS/00000000-0000-4000-8000-000000000603/00000000-0000-4000-8000-000000000103/flowchart.pdf"}',
  null, null, null, null, null, null, null, null, null, '2025-09-22 10:50+00', '2025-09-22 10:50+00'
),
(
  '00000000-0000-4000-8000-000000000724', '00000000-0000-4000-8000-000000000604',
  '00000000-0000-4000-8000-000000000103', 'inprogress', null, '{"text": "1, 2"}', null,
  null, null, null, null, null, null, null, null, '2025-09-22 10:52+00', '2025-09-22 10:52+00'
),
-- Emma (25-8B-CS): A1 right; A2 awaiting marking; A3 upload marked per criterion.
(
  '00000000-0000-4000-8000-000000000751', '00000000-0000-4000-8000-000000000601',
  '00000000-0000-4000-8000-000000000105', 'submitted', '2025-09-16 11:05+00', '{"option_id": "b"}', 1,
  null, null, null, null, null, null, null, null, '2025-09-16 11:05+00', '2025-09-16 11:05+00'
),
(
  '00000000-0000-4000-8000-000000000752', '00000000-0000-4000-8000-000000000602',
  '00000000-0000-4000-8000-000000000105', 'submitted', '2025-09-16 11:20+00',
  '{"text": "Washing hands: wet, soap, rinse; if still dirty, repeat."}', null,
  null, null, null, null, null, null, null, null, '2025-09-16 11:10+00', '2025-09-16 11:20+00'
),
(
  '00000000-0000-4000-8000-000000000753', '00000000-0000-4000-8000-000000000603',
  '00000000-0000-4000-8000-000000000105', 'completed', '2025-09-23 11:30+00',
  '{"file_name": "crossing.jpg", "path": "25-8B-CS/00000000-0000-4000-8000-000000000603/00000000-0000-4000-8000-000000000105/crossing.jpg"}',
  null, null, null, null, null, null, null, null, null, '2025-09-23 11:30+00', '2025-09-24 15:00+00'
),
-- Farid (25-8B-CS): A2 rejected by Helen Carter (override 0.2).
(
  '00000000-0000-4000-8000-000000000762', '00000000-0000-4000-8000-000000000602',
  '00000000-0000-4000-8000-000000000106', 'rejected', '2025-09-16 11:25+00', '{"text": "idk"}', null,
  0.1, 'Not yet: describe the steps.',
  '{"model": "gpt-4o-mini", "prompt_hash": "5e1f0c2a9b7d4e33", "completion_id": "chatcmpl-demo0762"}',
  '2025-09-16 11:26+00', 0.2, 'Please try again in full sentences.', '00000000-0000-4000-8000-000000000001',
  '2025-09-17 08:30+00', '2025-09-16 11:25+00', '2025-09-17 08:30+00'
),
-- Maths (25-8A-MATH, David Okoro): Priya, Ben, Emma.
(
  '00000000-0000-4000-8000-000000000781', '00000000-0000-4000-8000-000000000606',
  '00000000-0000-4000-8000-000000000101', 'submitted', '2025-09-17 09:10+00', '{"option_id": "c"}', 1,
  null, null, null, null, null, null, null, null, '2025-09-17 09:10+00', '2025-09-17 09:10+00'
),
(
  '00000000-0000-4000-8000-000000000782', '00000000-0000-4000-8000-000000000607',
  '00000000-0000-4000-8000-000000000101', 'submitted', '2025-09-17 09:30+00',
  '{"text": "Both are one half when you simplify them."}', null,
  0.85, 'Correct; mention dividing top and bottom by the same number.',
  '{"model": "gpt-4o-mini", "prompt_hash": "0c9d2e71b4a85f66", "completion_id": "chatcmpl-demo0782"}',
  '2025-09-17 09:31+00', null, null, null, null, '2025-09-17 09:20+00', '2025-09-17 09:31+00'
),
(
  '00000000-0000-4000-8000-000000000783', '00000000-0000-4000-8000-000000000606',
  '00000000-0000-4000-8000-000000000102', 'submitted', '2025-09-17 09:12+00', '{"option_id": "a"}', 0,
  null, null, null, null, null, null, null, null, '2025-09-17 09:12+00', '2025-09-17 09:12+00'
),
(
  '00000000-0000-4000-8000-000000000785', '00000000-0000-4000-8000-000000000606',
  '00000000-0000-4000-8000-000000000105', 'submitted', '2025-09-17 09:14+00', '{"option_id": "c"}', 1,
  null, null, null, null, null, null, null, null, '2025-09-17 09:14+00', '2025-09-17 09:14+00'
);

-- Teacher marks per criterion: P's A2 (S2 = 1, S3 = 0.5, the worked example) and Emma's upload.
insert into public.submission_criterion_scores (submission_id, success_criteria_id, score, marked_by, marked_at) values
(
  '00000000-0000-4000-8000-000000000702', '00000000-0000-4000-8000-000000000502', 1,
  '00000000-0000-4000-8000-000000000001', '2025-09-16 16:00+00'
),
(
  '00000000-0000-4000-8000-000000000702', '00000000-0000-4000-8000-000000000503', 0.5,
  '00000000-0000-4000-8000-000000000001', '2025-09-16 16:00+00'
),
(
  '00000000-0000-4000-8000-000000000753', '00000000-0000-4000-8000-000000000503', 0.75,
  '00000000-0000-4000-8000-000000000001', '2025-09-24 15:00+00'
);

-- The reports cache for the demo data: writes through the RPCs would have enqueued each pupil; a seed
-- arrives after the backfill migration, so it fills the cache itself.
select private.report_backfill_all();
