-- People, subjects, classes and who belongs to which class.

create table public.profiles (
  user_id uuid primary key references auth.users (id) on delete cascade,
  first_name text not null,
  last_name text not null,
  email text not null,
  is_teacher boolean not null default false,
  created_at timestamptz not null default now(),
  constraint profiles_email_check check (email like '_%@_%'),
  constraint profiles_names_check check (length(first_name) between 1 and 200 and length(last_name) between 1 and 200)
);
create unique index profiles_email_key on public.profiles (lower(email));
create index profiles_name_idx on public.profiles (last_name, first_name);
comment on table public.profiles is 'One row per person (pupil or teacher); user_id is the Supabase auth user.';

create table public.subjects (
  subject text primary key,
  active boolean not null default true,
  constraint subjects_subject_check check (length(subject) between 1 and 100)
);
comment on table public.subjects is 'Subjects taught (Computing, Maths, ...).';

create table public.groups (
  group_id text primary key,
  subject text not null references public.subjects (subject) on update cascade,
  join_code text not null,
  active boolean not null default true,
  constraint groups_group_id_check check (group_id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$'),
  constraint groups_join_code_key unique (join_code)
);
create index groups_subject_idx on public.groups (subject);
comment on table public.groups is 'A class, keyed by its class code such as 25-7A-IT.';

create table public.group_membership (
  group_id text not null references public.groups (group_id) on delete cascade,
  user_id uuid not null references public.profiles (user_id) on delete cascade,
  role text not null,
  created_at timestamptz not null default now(),
  primary key (group_id, user_id),
  constraint group_membership_role_check check (role in ('pupil', 'teacher'))
);
create index group_membership_user_idx on public.group_membership (user_id, role, group_id);
comment on table public.group_membership is 'Who is in which class, as pupil or teacher.';
