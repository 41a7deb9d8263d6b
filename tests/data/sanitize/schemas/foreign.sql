-- A foreign table: its rows live on another server.
CREATE EXTENSION file_fdw;
CREATE SERVER files FOREIGN DATA WRAPPER file_fdw;
CREATE FOREIGN TABLE partner_contacts (email text, phone text)
  SERVER files OPTIONS (filename '/dev/null', format 'csv');
CREATE TABLE orders (id integer PRIMARY KEY, total numeric);
