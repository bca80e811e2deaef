CREATE TABLE app_notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text NOT NULL);
INSERT INTO app_notes (body) VALUES ('first'), ('second');
