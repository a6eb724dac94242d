-- Size and precision limits on what callers store, as table constraints: the backstop behind the
-- RPCs' own checks (which answer first, with PLV02/PLV07/PLV13 and a readable message), so that a
-- service-role client writing the tables directly meets the same limits. The limits and their
-- SQLSTATEs are listed in docs/errors.md ("Limits").
--
-- NOT VALID: rows written before these limits existed are kept as they are (nothing is lost or
-- rejected at deploy time); every new or updated row is checked. `alter table ... validate
-- constraint` proves the old rows too once an operator has looked at any that break a limit.

alter table public.submissions
add constraint submissions_body_size_check check (octet_length(body::text) <= 131072) not valid,
add constraint submissions_ai_feedback_length_check check (length(ai_feedback) <= 20000) not valid,
add constraint submissions_teacher_feedback_length_check check (length(teacher_feedback) <= 20000) not valid,
add constraint submissions_ai_meta_size_check check (
  jsonb_typeof(ai_meta) = 'object' and octet_length(ai_meta::text) <= 16384
) not valid,
add constraint submissions_auto_score_scale_check check (scale(trim_scale(auto_score)) <= 20) not valid,
add constraint submissions_ai_score_scale_check check (scale(trim_scale(ai_score)) <= 20) not valid,
add constraint submissions_override_score_scale_check check (scale(trim_scale(override_score)) <= 20) not valid;

alter table public.submission_criterion_scores
add constraint submission_criterion_scores_score_scale_check check (scale(trim_scale(score)) <= 20) not valid;
