-- 0009: the circle's other sync servers, tried in order after server_url
-- when it does not answer (several instances of one deployment, without a
-- load balancer in front); one URL per line, empty for none. Local to this
-- device, like server_url: `vault circle servers add|rm|ls`.
ALTER TABLE circle ADD COLUMN more_servers TEXT NOT NULL DEFAULT '';
