-- 0006: what an admin sees and decides about a circle. `disabled` (Unix
-- seconds, NULL when enabled): the circle's devices get 403
-- circle_disabled and their sockets close; nothing of it is deleted.
-- `last_active`: the last session token issued to one of its devices.
ALTER TABLE circles ADD COLUMN disabled INTEGER;
ALTER TABLE circles ADD COLUMN last_active INTEGER;
CREATE INDEX circles_disabled ON circles (circle_id) WHERE disabled IS NOT NULL;
