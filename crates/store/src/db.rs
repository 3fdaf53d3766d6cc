//! Connecting, migrating and checking a database, for either dialect.

use crate::registry::{self, Scope};
use crate::schema::{self, Migration};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("unique constraint violated: {0}")]
    Unique(String),
    #[error(
        "the schema has columns with no data class in the registry: {0:?}; declare them in reelm-store's registry.rs"
    )]
    Unclassified(Vec<String>),
    #[error("cannot open store {url}: {message}")]
    Open { url: String, message: String },
}

impl StoreError {
    /// Maps a unique-constraint failure to [`StoreError::Unique`] so callers can tell the
    /// person "that handle is taken" instead of failing.
    pub(crate) fn from_sqlx(e: sqlx::Error) -> StoreError {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return StoreError::Unique(db.message().to_owned());
        }
        StoreError::Db(e)
    }
}

/// The PostgreSQL advisory lock key migrations hold ("reelm" in ASCII).
const MIGRATION_LOCK: i64 = 0x0072_6565_6c6d;

/// A connection pool to one database (a cell's or the directory's).
#[derive(Clone, Debug)]
pub struct Db {
    pub(crate) pool: AnyPool,
    pub dialect: Dialect,
}

impl Db {
    /// Opens `url` (`sqlite://path` creating the file and its folder, or `postgres://…`),
    /// applies pending migrations for `scope` and refuses a schema with unclassified columns.
    pub async fn open(url: &str, scope: Scope, max_connections: u32) -> Result<Db, StoreError> {
        sqlx::any::install_default_drivers();
        // The URL may carry a database password; errors end up in logs.
        let open_err = |message: String| StoreError::Open {
            url: reelm_core::sensitive::redact_url(url),
            message,
        };
        let (dialect, connect_url) = if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let path = path.split('?').next().unwrap_or(path);
            if path != ":memory:"
                && let Some(parent) = std::path::Path::new(path).parent()
            {
                std::fs::create_dir_all(parent).map_err(|e| open_err(e.to_string()))?;
            }
            (Dialect::Sqlite, format!("sqlite://{path}?mode=rwc"))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Dialect::Postgres, url.to_owned())
        } else {
            return Err(open_err("use a sqlite:// or postgres:// URL".into()));
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        // WAL lets readers run beside the single writer; NORMAL sync is durable
                        // across application crashes (not power loss) and much faster; the busy
                        // timeout queues writers instead of failing under load. secure_delete
                        // (a per-connection setting) overwrites deleted content with zeros, so
                        // an erased person's wrapped key, ciphertexts and email index do not
                        // linger in free pages of the file (see `checkpoint_wal` for the WAL).
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = NORMAL",
                            "PRAGMA busy_timeout = 10000",
                            "PRAGMA foreign_keys = ON",
                            "PRAGMA secure_delete = ON",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(&connect_url)
            .await
            .map_err(|e| open_err(e.to_string()))?;
        let db = Db { pool, dialect };
        let migrations = match scope {
            Scope::Cell => schema::CELL_MIGRATIONS,
            Scope::Directory => schema::DIRECTORY_MIGRATIONS,
        };
        db.migrate(migrations).await?;
        db.check_classified(scope).await?;
        Ok(db)
    }

    /// Applies the migrations not yet applied. Several processes may open the same store at
    /// once (cells in separate processes share the directory): on PostgreSQL they serialize
    /// on an advisory lock; on SQLite each migration first claims its version in
    /// `schema_migrations`, which waits for a concurrent writer's commit and then finds the
    /// version taken.
    async fn migrate(&self, migrations: &[Migration]) -> Result<(), StoreError> {
        // All on one connection: a PostgreSQL advisory lock belongs to its session.
        let mut conn = self.pool.acquire().await?;
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *conn)
                .await?;
        }
        let result = self.migrate_on(&mut conn, migrations).await;
        if self.dialect == Dialect::Postgres {
            // Released with the session anyway; unlock so the pooled connection is clean.
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *conn)
                .await?;
        }
        result
    }

    async fn migrate_on(
        &self,
        conn: &mut sqlx::AnyConnection,
        migrations: &[Migration],
    ) -> Result<(), StoreError> {
        use sqlx::Connection;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *conn)
        .await?;
        let applied: Vec<i64> = sqlx::query("SELECT version FROM schema_migrations")
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.get::<i64, _>(0))
            .collect();
        for m in migrations.iter().filter(|m| !applied.contains(&m.version)) {
            let mut tx = conn.begin().await?;
            // Claim the version before changing the schema (see `migrate`).
            let claimed =
                sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                    .bind(m.version)
                    .bind(reelm_core::now_ms())
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx);
            match claimed {
                Ok(_) => {}
                Err(StoreError::Unique(_)) => {
                    tx.rollback().await?;
                    continue;
                }
                Err(e) => return Err(e),
            }
            tracing::info!(version = m.version, name = m.name, "applying migration");
            for statement in m.statements {
                let sql = schema::render(statement, self.dialect);
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// Every `(table, column)` of the live schema.
    pub async fn live_columns(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows: Vec<AnyRow> = match self.dialect {
            Dialect::Sqlite => {
                sqlx::query(
                    "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid",
                )
                .fetch_all(&self.pool)
                .await?
            }
            Dialect::Postgres => {
                sqlx::query(
                    "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT) FROM information_schema.columns
                     WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
                )
                .fetch_all(&self.pool)
                .await?
            }
        };
        Ok(rows
            .iter()
            .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
            .collect())
    }

    async fn check_classified(&self, scope: Scope) -> Result<(), StoreError> {
        let missing = registry::unclassified(scope, &self.live_columns().await?);
        if missing.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Unclassified(missing))
        }
    }

    /// Number of rows in `table`, which must be a registered table name.
    pub async fn count_rows(&self, table: &'static str) -> Result<i64, StoreError> {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_one(&self.pool)
            .await?
            .get::<i64, _>(0))
    }

    /// Executes raw SQL; for tests that need to plant a violation or an unclassified column.
    pub async fn execute_unchecked(&self, sql: &str) -> Result<u64, StoreError> {
        Ok(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// Empties the SQLite write-ahead log into the database file and truncates it to zero
    /// bytes (`PRAGMA wal_checkpoint(TRUNCATE)`); a no-op on PostgreSQL.
    ///
    /// Why: `secure_delete` zeroes deleted content in the page it rewrites, but the WAL still
    /// holds the earlier versions of that page (the erased person's rows as they were) until a
    /// checkpoint copies the new pages back and the log is reset. Erasure calls this so that
    /// nothing of the person stays on disk beside the region key file.
    ///
    /// Returns `false` when the checkpoint could not complete (a reader still inside an older
    /// snapshot keeps the log from being reset, after the busy timeout); `true` otherwise.
    pub async fn checkpoint_wal(&self) -> Result<bool, StoreError> {
        if self.dialect != Dialect::Sqlite {
            return Ok(true);
        }
        // One row: busy (1 if the checkpoint could not complete), WAL frames, frames copied.
        let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>(0)? == 0)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// One value of a bulk insert.
#[derive(Clone, Debug)]
pub enum BulkValue {
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
    Null,
}

/// The `VALUES` list of a multi-row statement: `rows` tuples of `cols` parameters, numbered
/// from `$1` on PostgreSQL and anonymous (`?`) on SQLite, where numbered parameters make a
/// statement of a thousand rows about ten times slower to prepare (measured on the ledger).
/// The statement must have no other parameters.
pub(crate) fn values_rows(dialect: Dialect, rows: usize, cols: usize) -> String {
    let mut sql = String::with_capacity(rows * cols * 4);
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            match dialect {
                Dialect::Sqlite => sql.push('?'),
                Dialect::Postgres => sql.push_str(&format!("${}", r * cols + c + 1)),
            }
        }
        sql.push(')');
    }
    sql
}

impl Db {
    /// Inserts many rows in batched multi-row statements inside one transaction per 20k rows.
    /// For loading benchmark datasets; `table` and `columns` must be registered, so bulk
    /// loading cannot create unclassified data either.
    pub async fn bulk_insert(
        &self,
        scope: Scope,
        table: &str,
        columns: &[&str],
        rows: &[Vec<BulkValue>],
    ) -> Result<(), StoreError> {
        let spec = registry::table(scope, table)
            .ok_or_else(|| StoreError::Unclassified(vec![table.to_owned()]))?;
        let unknown: Vec<String> = columns
            .iter()
            .filter(|c| !spec.columns.iter().any(|(n, _)| n == *c))
            .map(|c| format!("{table}.{c}"))
            .collect();
        if !unknown.is_empty() {
            return Err(StoreError::Unclassified(unknown));
        }
        // At most 9,000 parameters per statement: PostgreSQL's numbered parameters stay below
        // five digits (beyond $9999 sqlx's SQLite driver was once seen binding values to the
        // wrong placeholders, before SQLite moved to anonymous ones).
        let per_statement = (9_000 / columns.len().max(1)).clamp(1, 1000);
        for chunk in rows.chunks(20_000) {
            let mut tx = self.pool.begin().await?;
            for batch in chunk.chunks(per_statement) {
                let sql = format!(
                    "INSERT INTO {table} ({}) VALUES {}",
                    columns.join(", "),
                    values_rows(self.dialect, batch.len(), columns.len())
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for row in batch {
                    for v in row {
                        q = match v {
                            BulkValue::Int(i) => q.bind(*i),
                            BulkValue::Text(t) => q.bind(t.clone()),
                            BulkValue::Bytes(b) => q.bind(b.clone()),
                            BulkValue::Null => q.bind(Option::<String>::None),
                        };
                    }
                }
                q.execute(&mut *tx).await.map_err(StoreError::from_sqlx)?;
            }
            tx.commit().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_rows_numbers_postgres_and_leaves_sqlite_anonymous() {
        assert_eq!(values_rows(Dialect::Sqlite, 2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(
            values_rows(Dialect::Postgres, 2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(values_rows(Dialect::Postgres, 0, 3), "");
    }
}
