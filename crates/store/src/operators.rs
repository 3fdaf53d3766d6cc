//! Operators (staff accounts), their sessions, and each person's access log (a hash chain per
//! person). The store keeps rows; chaining, TOTP and authorization happen above it.

use crate::cell::CellStore;
use crate::db::StoreError;
use crate::ledger::LedgerRow;
use reelm_core::UserId;
use sqlx::Row;

/// One stored operator.
#[derive(Clone, PartialEq, Eq)]
pub struct OperatorRow {
    pub operator_id: i64,
    pub name: String,
    pub role: String,
    pub home_region: String,
    pub password_hash: String,
    pub wrapped_key: Vec<u8>,
    pub totp_secret_enc: Vec<u8>,
    pub created_at: i64,
}

impl std::fmt::Debug for OperatorRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorRow")
            .field("operator_id", &self.operator_id)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("home_region", &self.home_region)
            .finish_non_exhaustive()
    }
}

const OPERATOR_COLUMNS: &str =
    "operator_id, name, role, home_region, password_hash, wrapped_key, totp_secret_enc, created_at";

fn operator(r: &sqlx::any::AnyRow) -> OperatorRow {
    OperatorRow {
        operator_id: r.get(0),
        name: r.get(1),
        role: r.get(2),
        home_region: r.get(3),
        password_hash: r.get(4),
        wrapped_key: r.get(5),
        totp_secret_enc: r.get(6),
        created_at: r.get(7),
    }
}

impl CellStore {
    pub async fn insert_operator(&self, o: &OperatorRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO operators (operator_id, name, role, home_region, password_hash, wrapped_key, totp_secret_enc, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(o.operator_id)
        .bind(&o.name)
        .bind(&o.role)
        .bind(&o.home_region)
        .bind(&o.password_hash)
        .bind(&o.wrapped_key)
        .bind(&o.totp_secret_enc)
        .bind(o.created_at)
        .execute(&self.db.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    pub async fn operator_by_name(&self, name: &str) -> Result<Option<OperatorRow>, StoreError> {
        let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE name = $1");
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(name)
            .fetch_optional(&self.db.pool)
            .await?
            .as_ref()
            .map(operator))
    }

    pub async fn operator(&self, id: i64) -> Result<Option<OperatorRow>, StoreError> {
        let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE operator_id = $1");
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?
            .as_ref()
            .map(operator))
    }

    /// Records that operator `id` signed in with the TOTP code of time step `step`, unless a
    /// code of that step or a later one was already accepted (RFC 6238 section 5.2: a code is
    /// good once). One conditional UPDATE, so two sign-ins racing with the same code cannot
    /// both win. Returns whether the step was claimed.
    pub async fn claim_totp_step(&self, id: i64, step: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE operators SET last_totp_step = $1
             WHERE operator_id = $2 AND (last_totp_step IS NULL OR last_totp_step < $3)",
        )
        .bind(step)
        .bind(id)
        .bind(step)
        .execute(&self.db.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn insert_operator_session(
        &self,
        token_hash: &str,
        operator_id: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO operator_sessions (token_hash, operator_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(operator_id)
        .bind(now)
        .bind(expires_at)
        .execute(&self.db.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// The operator of a live session.
    pub async fn operator_session(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query(
            "SELECT operator_id FROM operator_sessions WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.db.pool)
        .await?
        .map(|r| r.get(0)))
    }

    /// Appends one entry of `person`'s access log (a single INSERT; the primary key refuses a
    /// second entry with the same seq).
    pub async fn insert_access_entry(
        &self,
        person: UserId,
        e: &LedgerRow,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO access_log (person_id, seq, at_ms, kind, payload, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(person.0)
        .bind(e.seq)
        .bind(e.at_ms)
        .bind(&e.kind)
        .bind(&e.payload)
        .bind(&e.prev_hash)
        .bind(&e.hash)
        .execute(&self.db.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// `person`'s entries with seq in `(after, before)`, ascending when `newest_first` is false.
    pub async fn access_entries(
        &self,
        person: UserId,
        after: i64,
        before: i64,
        newest_first: bool,
        limit: i64,
    ) -> Result<Vec<LedgerRow>, StoreError> {
        let order = if newest_first { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT seq, at_ms, kind, payload, prev_hash, hash FROM access_log
             WHERE person_id = $1 AND seq > $2 AND seq < $3 ORDER BY seq {order} LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(person.0)
            .bind(after)
            .bind(before)
            .bind(limit)
            .fetch_all(&self.db.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| LedgerRow {
                seq: r.get(0),
                at_ms: r.get(1),
                kind: r.get(2),
                payload: r.get(3),
                prev_hash: r.get(4),
                hash: r.get(5),
            })
            .collect())
    }
}

impl CellStore {
    /// Every operator's id and wrapped data key (for region-key rotation).
    pub async fn operator_wrapped_keys(&self) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        Ok(
            sqlx::query("SELECT operator_id, wrapped_key FROM operators ORDER BY operator_id")
                .fetch_all(&self.db.pool)
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect(),
        )
    }

    /// Replaces an operator's wrapped key if it is still `old`; true when replaced.
    pub async fn replace_operator_wrapped_key(
        &self,
        operator_id: i64,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE operators SET wrapped_key = $1 WHERE operator_id = $2 AND wrapped_key = $3",
        )
        .bind(new)
        .bind(operator_id)
        .bind(old)
        .execute(&self.db.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }
}

/// A break-glass request (pending until a second operator approves it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantRow {
    pub grant_id: i64,
    pub person_id: UserId,
    pub requester_id: i64,
    pub requester_region: String,
    pub purpose: String,
    pub ticket: String,
    pub created_at: i64,
    pub approver_id: Option<i64>,
    pub expires_at: Option<i64>,
}

const GRANT_COLUMNS: &str = "grant_id, person_id, requester_id, requester_region, purpose, ticket, created_at, approver_id, expires_at";

fn grant(r: &sqlx::any::AnyRow) -> GrantRow {
    GrantRow {
        grant_id: r.get(0),
        person_id: UserId(r.get(1)),
        requester_id: r.get(2),
        requester_region: r.get(3),
        purpose: r.get(4),
        ticket: r.get(5),
        created_at: r.get(6),
        approver_id: r.get(7),
        expires_at: r.get(8),
    }
}

impl CellStore {
    pub async fn insert_grant(&self, g: &GrantRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO break_glass_grants (grant_id, person_id, requester_id, requester_region, purpose, ticket, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(g.grant_id)
        .bind(g.person_id.0)
        .bind(g.requester_id)
        .bind(&g.requester_region)
        .bind(&g.purpose)
        .bind(&g.ticket)
        .bind(g.created_at)
        .execute(&self.db.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    pub async fn grant(&self, id: i64) -> Result<Option<GrantRow>, StoreError> {
        let sql = format!("SELECT {GRANT_COLUMNS} FROM break_glass_grants WHERE grant_id = $1");
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?
            .as_ref()
            .map(grant))
    }

    /// Approves a pending grant; false if it was already approved.
    pub async fn approve_grant(
        &self,
        id: i64,
        approver: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE break_glass_grants SET approver_id = $1, expires_at = $2 WHERE grant_id = $3 AND approver_id IS NULL",
        )
        .bind(approver)
        .bind(expires_at)
        .bind(id)
        .execute(&self.db.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// An approved, unexpired grant for this requester, person, purpose and ticket.
    pub async fn active_grant(
        &self,
        person: UserId,
        requester: i64,
        purpose: &str,
        ticket: &str,
        now: i64,
    ) -> Result<Option<GrantRow>, StoreError> {
        let sql = format!(
            "SELECT {GRANT_COLUMNS} FROM break_glass_grants WHERE person_id = $1 AND requester_id = $2
             AND purpose = $3 AND ticket = $4 AND approver_id IS NOT NULL AND expires_at > $5
             ORDER BY expires_at DESC LIMIT 1"
        );
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(person.0)
            .bind(requester)
            .bind(purpose)
            .bind(ticket)
            .bind(now)
            .fetch_optional(&self.db.pool)
            .await?
            .as_ref()
            .map(grant))
    }
}

/// One stored access-log checkpoint (signed over the heads that moved since the previous one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessCheckpointRow {
    pub seq: i64,
    pub root: Vec<u8>,
    pub heads: i64,
    pub at_ms: i64,
    pub signer_key_id: String,
    pub signature: Vec<u8>,
}

/// One head an access-log checkpoint signed: the person's chain tag, never their id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessHeadRow {
    pub checkpoint_seq: i64,
    pub person_tag: Vec<u8>,
    pub seq: i64,
    pub hash: Vec<u8>,
}

/// One access-log entry with its person, for region-wide verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessEntryRow {
    pub person_id: UserId,
    pub entry: LedgerRow,
}

const ACCESS_CHECKPOINT_COLUMNS: &str = "seq, root, heads, at_ms, signer_key_id, signature";

fn access_checkpoint(r: &sqlx::any::AnyRow) -> AccessCheckpointRow {
    AccessCheckpointRow {
        seq: r.get(0),
        root: r.get(1),
        heads: r.get(2),
        at_ms: r.get(3),
        signer_key_id: r.get(4),
        signature: r.get(5),
    }
}

impl CellStore {
    /// Stores a checkpoint and the heads it signed in one transaction.
    pub async fn insert_access_checkpoint(
        &self,
        cp: &AccessCheckpointRow,
        heads: &[AccessHeadRow],
    ) -> Result<(), StoreError> {
        let mut tx = self.db.pool.begin().await?;
        let sql = format!(
            "INSERT INTO access_checkpoints ({ACCESS_CHECKPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(cp.seq)
            .bind(&cp.root)
            .bind(cp.heads)
            .bind(cp.at_ms)
            .bind(&cp.signer_key_id)
            .bind(&cp.signature)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        // 4 parameters a row: 1,000 rows stay below 9,000 parameters.
        for chunk in heads.chunks(1000) {
            let mut sql = String::from(
                "INSERT INTO access_checkpoint_heads (checkpoint_seq, person_tag, seq, hash) VALUES ",
            );
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push_str(", ");
                }
                let b = i * 4;
                sql.push_str(&format!("(${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4));
            }
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for h in chunk {
                q = q
                    .bind(h.checkpoint_seq)
                    .bind(&h.person_tag)
                    .bind(h.seq)
                    .bind(&h.hash);
            }
            q.execute(&mut *tx).await.map_err(StoreError::from_sqlx)?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The checkpoint with the highest seq.
    pub async fn last_access_checkpoint(&self) -> Result<Option<AccessCheckpointRow>, StoreError> {
        let sql = format!(
            "SELECT {ACCESS_CHECKPOINT_COLUMNS} FROM access_checkpoints ORDER BY seq DESC LIMIT 1"
        );
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_optional(&self.db.pool)
            .await?
            .as_ref()
            .map(access_checkpoint))
    }

    /// Every access-log checkpoint, in seq order.
    pub async fn access_checkpoints(&self) -> Result<Vec<AccessCheckpointRow>, StoreError> {
        let sql =
            format!("SELECT {ACCESS_CHECKPOINT_COLUMNS} FROM access_checkpoints ORDER BY seq");
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.db.pool)
            .await?
            .iter()
            .map(access_checkpoint)
            .collect())
    }

    /// Up to `limit` signed heads after `(checkpoint_seq, person_tag)` = `after`, in that order.
    pub async fn access_heads_page(
        &self,
        after: Option<(i64, &[u8])>,
        limit: i64,
    ) -> Result<Vec<AccessHeadRow>, StoreError> {
        let (cp, tag) = after.unwrap_or((i64::MIN, &[]));
        let rows = sqlx::query(
            "SELECT checkpoint_seq, person_tag, seq, hash FROM access_checkpoint_heads
             WHERE checkpoint_seq > $1 OR (checkpoint_seq = $1 AND person_tag > $2)
             ORDER BY checkpoint_seq, person_tag LIMIT $3",
        )
        .bind(cp)
        .bind(tag)
        .bind(limit)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| AccessHeadRow {
                checkpoint_seq: r.get(0),
                person_tag: r.get(1),
                seq: r.get(2),
                hash: r.get(3),
            })
            .collect())
    }

    /// The newest signed head of the chain tagged `tag`: `(seq, hash)`.
    pub async fn latest_access_head(
        &self,
        tag: &[u8],
    ) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
        Ok(sqlx::query(
            "SELECT seq, hash FROM access_checkpoint_heads WHERE person_tag = $1
             ORDER BY checkpoint_seq DESC LIMIT 1",
        )
        .bind(tag)
        .fetch_optional(&self.db.pool)
        .await?
        .map(|r| (r.get(0), r.get(1))))
    }

    /// Up to `limit` access-log entries after `(person_id, seq)` = `after`, ordered by person
    /// then seq: every person's chain in turn, for region-wide verification.
    pub async fn access_log_page(
        &self,
        after: (i64, i64),
        limit: i64,
    ) -> Result<Vec<AccessEntryRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT person_id, seq, at_ms, kind, payload, prev_hash, hash FROM access_log
             WHERE person_id > $1 OR (person_id = $1 AND seq > $2)
             ORDER BY person_id, seq LIMIT $3",
        )
        .bind(after.0)
        .bind(after.1)
        .bind(limit)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| AccessEntryRow {
                person_id: UserId(r.get(0)),
                entry: LedgerRow {
                    seq: r.get(1),
                    at_ms: r.get(2),
                    kind: r.get(3),
                    payload: r.get(4),
                    prev_hash: r.get(5),
                    hash: r.get(6),
                },
            })
            .collect())
    }

    /// The ids named by this cell's erasure receipts (people erased here).
    pub async fn erased_people(&self) -> Result<Vec<UserId>, StoreError> {
        Ok(sqlx::query("SELECT DISTINCT user_id FROM erasure_receipts")
            .fetch_all(&self.db.pool)
            .await?
            .iter()
            .map(|r| UserId(r.get(0)))
            .collect())
    }
}
