-- Grafana only reads finpipe's tables; give it a user that cannot change them.
-- Runs once, when the mysql container initialises an empty data volume (docker/compose.yml).
CREATE USER IF NOT EXISTS 'grafana'@'%' IDENTIFIED BY 'grafana';
GRANT SELECT ON finpipe.* TO 'grafana'@'%';
