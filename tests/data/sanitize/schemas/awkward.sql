-- The awkward fixture: quoted mixed-case names, a second schema, citext, NULLs, a
-- table without a primary key, a varchar(20) unique e-mail column.
CREATE EXTENSION citext;
CREATE SCHEMA billing;
CREATE TABLE users (
  id bigserial PRIMARY KEY,
  email citext NOT NULL UNIQUE,
  name text,
  phone varchar(20),
  address text,
  nickname varchar(20) UNIQUE,
  role text NOT NULL DEFAULT 'member',
  notes text,
  last_sign_in_ip inet,
  api_token text UNIQUE,
  created_at date NOT NULL DEFAULT '2020-01-01'
);
CREATE TABLE billing."Invoices" (
  "Id" integer PRIMARY KEY,
  "userId" bigint NOT NULL REFERENCES users (id),
  "BillingEmail" varchar(20) NOT NULL UNIQUE,
  "customerName" text,
  total numeric NOT NULL
);
CREATE TABLE newsletter_signups (
  email text NOT NULL UNIQUE,
  full_name text,
  signed_up_on date NOT NULL
);
CREATE TABLE sessions (
  id serial PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users (id),
  token text NOT NULL
);
CREATE TABLE products (id serial PRIMARY KEY, name text NOT NULL);

INSERT INTO users (email, name, phone, address, nickname, role, notes, last_sign_in_ip,
                   api_token) VALUES
  ('Ada@Example.com', 'Ada Lovelace', '+44 20 7946 0000', '12 St James''s Sq', 'ada',
   'admin', 'VIP', '10.0.0.1', 'tok-ada'),
  ('zoe@example.org', 'Zoë Ñúñez 🌍', NULL, NULL, NULL, 'member', NULL, NULL, NULL),
  ('o''brien@example.net', 'Robert"); DROP TABLE users; --', '555 0199', 'Dún Laoghaire',
   'bobby', 'member', 'said "hi"', '::1', 'tok-bob'),
  ('same@example.com', NULL, '+1 202 555 0100', '1 Main St', NULL, 'member', 'x', NULL,
   'tok-same');
INSERT INTO billing."Invoices" VALUES
  (1, 1, 'ada.billing@ex.com', 'Ada L.', 10),
  (2, 3, 'bob@ex.com', NULL, 20),
  (3, 3, 'free@ex.com', 'Bob (free)', 0);
INSERT INTO newsletter_signups VALUES
  ('ada@example.com', 'Ada', '2021-02-03'),
  ('zoë@exämple.com', NULL, '2021-02-04'),
  ('x@y.z', 'Ex Why', '2021-02-05');
INSERT INTO sessions (user_id, token) VALUES (1, 's1'), (3, 's2');
INSERT INTO products (name) VALUES ('Tea'), ('Cake');
