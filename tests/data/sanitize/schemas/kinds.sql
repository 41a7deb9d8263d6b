-- Every kind of relation that holds rows, and what keeps a table off the rewrite.
CREATE TABLE users (
  id serial PRIMARY KEY,
  email text NOT NULL UNIQUE,
  first_name text,
  last_name text,
  full_name text GENERATED ALWAYS AS (first_name || ' ' || last_name) STORED,
  city text COLLATE "C"
);
CREATE VIEW user_emails AS SELECT id, email FROM users;
CREATE MATERIALIZED VIEW mailing_list AS SELECT email FROM user_emails;
CREATE MATERIALIZED VIEW mailing_list_copy AS SELECT email FROM mailing_list;
CREATE MATERIALIZED VIEW later AS SELECT 1 AS n WITH NO DATA;
CREATE TABLE events (id bigint NOT NULL, happened_on date NOT NULL, ip_address text,
                     PRIMARY KEY (id, happened_on)) PARTITION BY RANGE (happened_on);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE contacts (id integer PRIMARY KEY, phone text);
CREATE TABLE vip_contacts (tier text) INHERITS (contacts);
CREATE TABLE notes (id integer PRIMARY KEY, body text, author_email text);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER notes_touch BEFORE UPDATE OF author_email ON notes
  FOR EACH ROW EXECUTE FUNCTION touch();
