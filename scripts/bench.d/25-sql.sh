# Cache::get hits on the SQL store vs the raw sqlx SELECT the store runs (same pool type and
# settings, same database, same run): a SQLite file and a PostgreSQL server started by the bench.
set -euo pipefail
./scripts/ensure-sql.sh
out=$(cargo bench -q -p cache-core --features postgres,sqlite --bench sql_get)
echo "$out" >&2
echo "$out" | grep '^SQLROW' | while IFS='|' read -r _ what ours raw; do
  ./scripts/ratio-row.sh "$(echo "$what" | sed 's/^ *//; s/ *$//')" "${ours// /}" "${raw// /}" 1.30 ns
done
