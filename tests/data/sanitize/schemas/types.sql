-- Columns of every type a constant may meet, a long text key, limits, a composite key.
CREATE DOMAIN short_text AS varchar(12);
CREATE TABLE accounts (
  code text PRIMARY KEY,
  email varchar(24) NOT NULL UNIQUE,
  phone varchar(10),
  profile jsonb,
  settings json,
  active boolean NOT NULL DEFAULT true,
  logins integer,
  born_on date,
  seen_at timestamptz,
  label short_text,
  tags text[]
);
CREATE TABLE memberships (
  account_code text NOT NULL,
  club_id integer NOT NULL,
  display_name varchar(8),
  contact_email text UNIQUE,
  PRIMARY KEY (club_id, account_code)
);
CREATE TABLE tiny (id bigint PRIMARY KEY, email varchar(9), nick varchar(12) UNIQUE);
