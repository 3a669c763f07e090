-- 2: a record's key is (zone_id, uuid), as SQLite's is: the surrogate id
-- and its index cost every push's insert and served nothing. Challenges
-- are UNLOGGED: no WAL, so issuing and consuming one never waits for a
-- flush; a crash empties the table, which costs devices one more round
-- trip, and a standby does not have them (a device that fails over asks
-- for a new one).
ALTER TABLE records DROP CONSTRAINT records_pkey;
ALTER TABLE records DROP COLUMN id;
ALTER TABLE records DROP CONSTRAINT records_zone_id_uuid_key;
ALTER TABLE records ADD PRIMARY KEY (zone_id, uuid);
ALTER TABLE challenges SET UNLOGGED;
