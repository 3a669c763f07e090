-- 0008: when the server last said that another current member signed a
-- manifest of this zone with another root at the same change token (the
-- devices disagree about the zone), in ms since the Unix epoch; NULL once
-- this device's next signed manifest is stored without that flag. `vault
-- status` reads it without the password: a time and a flag, nothing secret.
ALTER TABLE sync_state ADD COLUMN divergence_ms INTEGER;
