-- 0007: quotas per circle. `zones.bytes` is the ciphertext a zone's records
-- hold (wrapped key plus encrypted item, tombstones included), kept by the
-- push and by tombstone collection inside their transactions, so a quota
-- check reads a few counter rows instead of every record. A circle's own
-- limits (`vault-server admin circle quota`) are NULL where the server's
-- `[quotas]` apply.
ALTER TABLE zones ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0 CHECK (bytes >= 0);
UPDATE zones SET bytes = (
    SELECT COALESCE(sum(length(r.wrappedkey) + length(r.encitem)), 0)
    FROM records r WHERE r.zone_id = zones.zone_id
);
ALTER TABLE circles ADD COLUMN max_devices INTEGER CHECK (max_devices IS NULL OR max_devices >= 0);
ALTER TABLE circles ADD COLUMN max_records INTEGER CHECK (max_records IS NULL OR max_records >= 0);
ALTER TABLE circles ADD COLUMN max_bytes INTEGER CHECK (max_bytes IS NULL OR max_bytes >= 0);
