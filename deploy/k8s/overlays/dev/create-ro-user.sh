# Sourced by the MariaDB image's entrypoint on the first start (an empty data
# directory), after it created database txgate and user txgate (whose rights
# the image limits to that database): creates txgate_ro, the account of
# read-only tokens, which may only read it (README, "Security").
ro_password=$(cat /etc/mariadb/secrets/mysql-ro-password)
docker_process_sql --database=mysql <<SQL
CREATE USER IF NOT EXISTS 'txgate_ro'@'%' IDENTIFIED BY '${ro_password}';
GRANT SELECT ON txgate.* TO 'txgate_ro'@'%';
SQL
