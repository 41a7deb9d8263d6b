-- Column names: the ones the coverage check must catch, and look-alikes it must not.
CREATE TABLE people (
  id serial PRIMARY KEY,
  ssn text, date_of_birth date, ip_address inet, "homePhone" text, "EMAIL_ADDR" text,
  zip text, dob date,
  postal_code text, mail text, e_mail text, tel text, cell text, ipaddr text,
  credit_card text, national_id text, login text, user_agent text, latitude numeric,
  longitude double precision, "IBAN" text, passport_no text, username text,
  mobile text, last_seen_from inet,
  zipper text, hotel text, cellar text, last_login timestamptz, shipped boolean,
  user_id integer
);
