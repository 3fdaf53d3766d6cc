//! A cell's transfer ledger (hash-chained, see `reelm-vault`'s chain) and its signed
//! checkpoints. The store only keeps rows; chaining, signing and verifying happen above it.

use crate::cell::CellStore;
use crate::db::{Dialect, StoreError};
use sqlx::{AssertSqlSafe, Row};
use std::ops::Range;
use std::sync::{Arc, OnceLock};

/// One stored ledger entry; hashes are 32 raw bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerRow {
    pub seq: i64,
    pub at_ms: i64,
    pub kind: String,
    pub payload: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// One stored signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointRow {
    pub seq: i64,
    pub hash: Vec<u8>,
    pub at_ms: i64,
    pub signer_key_id: String,
    pub signature: Vec<u8>,
}

/// A ledger entry to insert, borrowed from the caller (no copies of payloads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedgerEntryRef<'a> {
    pub seq: i64,
    pub at_ms: i64,
    pub kind: &'a str,
    pub payload: &'a str,
    pub prev_hash: &'a [u8],
    pub hash: &'a [u8],
}

/// Rows per multi-row INSERT of ledger entries: powers of two up to this (6 parameters a row,
/// so at most 6,144 parameters, below the 9,000 the bulk loader keeps to), so that a handful
/// of statement texts is prepared and cached whatever the batch sizes are.
const MAX_ROWS_PER_INSERT: usize = 1024;

/// The `INSERT … VALUES ($1, …), …` text for `rows` rows, built once per power of two.
fn ledger_insert_sql(rows: usize) -> Arc<str> {
    static CACHE: OnceLock<Vec<Arc<str>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| {
        (0..=MAX_ROWS_PER_INSERT.trailing_zeros())
            .map(|k| {
                let n = 1usize << k;
                let mut sql = String::from(
                    "INSERT INTO transfer_ledger (seq, at_ms, kind, payload, prev_hash, hash) VALUES ",
                );
                for i in 0..n {
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    let b = i * 6;
                    sql.push_str(&format!(
                        "(${}, ${}, ${}, ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6
                    ));
                }
                Arc::from(sql)
            })
            .collect()
    });
    cache[rows.trailing_zeros() as usize].clone()
}

/// A page of ledger entries read as one packed value (see [`CellStore::ledger_packed_page`]):
/// the stored bytes of every entry in one buffer, sliced without copying or decoding.
#[derive(Clone, Debug, Default)]
pub struct LedgerPage {
    buf: Vec<u8>,
    entries: Vec<PackedEntry>,
}

#[derive(Clone, Debug)]
struct PackedEntry {
    seq: i64,
    at_ms: i64,
    kind: Range<usize>,
    payload: Range<usize>,
    prev_hash: Range<usize>,
    hash: Range<usize>,
}

/// One entry of a [`LedgerPage`], as stored (hashes may have a wrong length if tampered with).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedRow<'a> {
    pub seq: i64,
    pub at_ms: i64,
    pub kind: &'a [u8],
    pub payload: &'a [u8],
    pub prev_hash: &'a [u8],
    pub hash: &'a [u8],
}

impl LedgerPage {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn row<'a>(&'a self, e: &PackedEntry) -> PackedRow<'a> {
        PackedRow {
            seq: e.seq,
            at_ms: e.at_ms,
            kind: &self.buf[e.kind.clone()],
            payload: &self.buf[e.payload.clone()],
            prev_hash: &self.buf[e.prev_hash.clone()],
            hash: &self.buf[e.hash.clone()],
        }
    }

    /// Entry `i` of the page, in seq order.
    pub fn get(&self, i: usize) -> Option<PackedRow<'_>> {
        self.entries.get(i).map(|e| self.row(e))
    }

    /// The entries in seq order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = PackedRow<'_>> + '_ {
        self.entries.iter().map(|e| self.row(e))
    }

    /// Seq of the last entry.
    pub fn last_seq(&self) -> Option<i64> {
        self.entries.last().map(|e| e.seq)
    }

    /// Splits the packed bytes into entries. SQLite frames each entry as
    /// `seq,at_ms,len(kind),len(payload),len(prev_hash),len(hash),` in decimal followed by the
    /// four values' bytes; PostgreSQL as six big-endian integers (8, 8, 4, 4, 4, 4 bytes) and the
    /// same bytes. `None` when the bytes do not frame (a value of an unexpected type).
    fn unpack(buf: Vec<u8>, dialect: Dialect, expected: usize) -> Option<LedgerPage> {
        let mut entries = Vec::with_capacity(expected);
        let mut at = 0usize;
        while at < buf.len() {
            let mut nums = [0i64; 6];
            match dialect {
                Dialect::Sqlite => {
                    for n in &mut nums {
                        let end = at + buf.get(at..)?.iter().position(|&b| b == b',')?;
                        *n = std::str::from_utf8(&buf[at..end]).ok()?.parse().ok()?;
                        at = end + 1;
                    }
                }
                Dialect::Postgres => {
                    for (k, n) in nums.iter_mut().enumerate() {
                        if k < 2 {
                            *n = i64::from_be_bytes(buf.get(at..at + 8)?.try_into().ok()?);
                            at += 8;
                        } else {
                            *n = i64::from(i32::from_be_bytes(
                                buf.get(at..at + 4)?.try_into().ok()?,
                            ));
                            at += 4;
                        }
                    }
                }
            }
            let mut take = |len: i64| -> Option<Range<usize>> {
                let len = usize::try_from(len).ok()?;
                let r = at..at.checked_add(len)?;
                if r.end > buf.len() {
                    return None;
                }
                at = r.end;
                Some(r)
            };
            let kind = take(nums[2])?;
            let payload = take(nums[3])?;
            let prev_hash = take(nums[4])?;
            let hash = take(nums[5])?;
            entries.push(PackedEntry {
                seq: nums[0],
                at_ms: nums[1],
                kind,
                payload,
                prev_hash,
                hash,
            });
        }
        (entries.len() == expected).then_some(LedgerPage { buf, entries })
    }
}

impl CellStore {
    /// Appends many entries and checkpoints in ONE transaction (multi-row INSERTs of up to
    /// 1,024 rows): all of them are stored, or none.
    pub async fn insert_ledger_batch(
        &self,
        entries: &[LedgerEntryRef<'_>],
        checkpoints: &[CheckpointRow],
    ) -> Result<(), StoreError> {
        let mut tx = self.db.pool.begin().await?;
        let mut rest = entries;
        while !rest.is_empty() {
            // The largest power of two that fits: few distinct statements, all cached.
            let n = 1usize << rest.len().min(MAX_ROWS_PER_INSERT).ilog2();
            let (chunk, tail) = rest.split_at(n);
            let mut q = sqlx::query(AssertSqlSafe(ledger_insert_sql(n)));
            for e in chunk {
                q = q
                    .bind(e.seq)
                    .bind(e.at_ms)
                    .bind(e.kind)
                    .bind(e.payload)
                    .bind(e.prev_hash)
                    .bind(e.hash);
            }
            q.execute(&mut *tx).await.map_err(StoreError::from_sqlx)?;
            rest = tail;
        }
        for c in checkpoints {
            sqlx::query(
                "INSERT INTO ledger_checkpoints (seq, hash, at_ms, signer_key_id, signature) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(c.seq)
            .bind(&c.hash)
            .bind(c.at_ms)
            .bind(&c.signer_key_id)
            .bind(&c.signature)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Up to `limit` entries with seq > `after`, in seq order, read as ONE value: the database
    /// concatenates the page (SQLite `group_concat`, PostgreSQL `string_agg`) so that no row
    /// goes through the driver's per-row decoding, which dominated verification. Falls back to
    /// [`CellStore::ledger_page`] for a page whose values do not frame (tampered types).
    pub async fn ledger_packed_page(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<LedgerPage, StoreError> {
        let sql = match self.db.dialect {
            Dialect::Sqlite => {
                "SELECT CAST(group_concat(
                    seq || ',' || at_ms || ',' || length(CAST(kind AS BLOB)) || ','
                    || length(CAST(payload AS BLOB)) || ',' || length(CAST(prev_hash AS BLOB)) || ','
                    || length(CAST(hash AS BLOB)) || ',' || CAST(kind AS BLOB) || CAST(payload AS BLOB)
                    || CAST(prev_hash AS BLOB) || CAST(hash AS BLOB), '' ORDER BY seq) AS BLOB), COUNT(*)
                 FROM (SELECT seq, at_ms, kind, payload, prev_hash, hash FROM transfer_ledger
                       WHERE seq > $1 ORDER BY seq LIMIT $2) AS page"
            }
            Dialect::Postgres => {
                "SELECT string_agg(int8send(seq) || int8send(at_ms)
                    || int4send(octet_length(kind)) || int4send(octet_length(payload))
                    || int4send(length(prev_hash)) || int4send(length(hash))
                    || convert_to(kind, 'UTF8') || convert_to(payload, 'UTF8') || prev_hash || hash,
                    ''::bytea ORDER BY seq), COUNT(*)
                 FROM (SELECT seq, at_ms, kind, payload, prev_hash, hash FROM transfer_ledger
                       WHERE seq > $1 ORDER BY seq LIMIT $2) AS page"
            }
        };
        let row = sqlx::query(sql)
            .bind(after)
            .bind(limit)
            .fetch_one(&self.db.pool)
            .await?;
        let packed: Option<Vec<u8>> = row.get(0);
        let count: i64 = row.get(1);
        let Some(packed) = packed else {
            return Ok(LedgerPage::default());
        };
        if let Some(page) = LedgerPage::unpack(packed, self.db.dialect, count.max(0) as usize) {
            return Ok(page);
        }
        // Row by row: the typed decoder reports what is wrong with the odd value.
        let rows = self.ledger_page(after, limit).await?;
        let mut buf = Vec::new();
        let mut entries = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut put = |bytes: &[u8]| {
                let start = buf.len();
                buf.extend_from_slice(bytes);
                start..buf.len()
            };
            entries.push(PackedEntry {
                seq: r.seq,
                at_ms: r.at_ms,
                kind: put(r.kind.as_bytes()),
                payload: put(r.payload.as_bytes()),
                prev_hash: put(&r.prev_hash),
                hash: put(&r.hash),
            });
        }
        Ok(LedgerPage { buf, entries })
    }

    /// Appends one entry (a single INSERT).
    pub async fn insert_ledger_entry(&self, e: &LedgerRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO transfer_ledger (seq, at_ms, kind, payload, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6)",
        )
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

    /// Up to `limit` entries with seq > `after`, in seq order.
    pub async fn ledger_page(&self, after: i64, limit: i64) -> Result<Vec<LedgerRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at_ms, kind, payload, prev_hash, hash FROM transfer_ledger WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
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

    /// The entry with the highest seq, to resume the chain after a restart.
    pub async fn last_ledger_entry(&self) -> Result<Option<LedgerRow>, StoreError> {
        let last: Option<i64> = sqlx::query("SELECT MAX(seq) FROM transfer_ledger")
            .fetch_one(&self.db.pool)
            .await?
            .get(0);
        match last {
            Some(seq) => Ok(self.ledger_page(seq - 1, 1).await?.pop()),
            None => Ok(None),
        }
    }

    pub async fn insert_ledger_checkpoint(&self, c: &CheckpointRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO ledger_checkpoints (seq, hash, at_ms, signer_key_id, signature) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(c.seq)
        .bind(&c.hash)
        .bind(c.at_ms)
        .bind(&c.signer_key_id)
        .bind(&c.signature)
        .execute(&self.db.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Every checkpoint, in seq order.
    pub async fn ledger_checkpoints(&self) -> Result<Vec<CheckpointRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, hash, at_ms, signer_key_id, signature FROM ledger_checkpoints ORDER BY seq",
        )
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| CheckpointRow {
                seq: r.get(0),
                hash: r.get(1),
                at_ms: r.get(2),
                signer_key_id: r.get(3),
                signature: r.get(4),
            })
            .collect())
    }

    /// The highest checkpointed seq (0 if none).
    pub async fn last_ledger_checkpoint_seq(&self) -> Result<i64, StoreError> {
        let last: Option<i64> = sqlx::query("SELECT MAX(seq) FROM ledger_checkpoints")
            .fetch_one(&self.db.pool)
            .await?
            .get(0);
        Ok(last.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh cell store on SQLite, and on PostgreSQL when `REELM_TEST_POSTGRES_URL` is set.
    async fn stores() -> Vec<(CellStore, Option<tempfile::TempDir>)> {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/cell.db", dir.path().display());
        let mut out = vec![(CellStore::open(&url, 4).await.unwrap(), Some(dir))];
        if let Ok(base) = std::env::var("REELM_TEST_POSTGRES_URL") {
            let url = crate::testing::fresh_postgres_database(&base, "reelm_ledger_test")
                .await
                .unwrap();
            out.push((CellStore::open(&url, 4).await.unwrap(), None));
        }
        out
    }

    fn row(seq: i64) -> LedgerRow {
        LedgerRow {
            seq,
            at_ms: 1_700_000_000_000 + seq,
            kind: if seq % 2 == 0 {
                "transfer"
            } else {
                "tränsfer"
            }
            .to_owned(),
            // Commas, quotes, a NUL and non-ASCII in the payload: framing is by length.
            payload: format!("{{\"n\":{seq},\"s\":\"a,b\\u0000 é '\"}}"),
            prev_hash: vec![(seq % 251) as u8; 32],
            hash: (0..32).map(|i| (seq as u8).wrapping_add(i)).collect(),
        }
    }

    fn refs(rows: &[LedgerRow]) -> Vec<LedgerEntryRef<'_>> {
        rows.iter()
            .map(|r| LedgerEntryRef {
                seq: r.seq,
                at_ms: r.at_ms,
                kind: &r.kind,
                payload: &r.payload,
                prev_hash: &r.prev_hash,
                hash: &r.hash,
            })
            .collect()
    }

    #[tokio::test]
    async fn batches_insert_in_one_transaction_and_read_back_packed() {
        for (store, _dir) in stores().await {
            let dialect = store.db.dialect;
            // Sizes that are not powers of two, and more than one statement's worth.
            let mut next = 1;
            for size in [1usize, 3, 1500, 2049] {
                let rows: Vec<LedgerRow> = (next..next + size as i64).map(row).collect();
                next += size as i64;
                let cp = CheckpointRow {
                    seq: next - 1,
                    hash: rows.last().unwrap().hash.clone(),
                    at_ms: 5,
                    signer_key_id: "eu-s1".into(),
                    signature: vec![7; 64],
                };
                store
                    .insert_ledger_batch(&refs(&rows), std::slice::from_ref(&cp))
                    .await
                    .unwrap();
            }
            let total = next - 1;
            assert_eq!(store.last_ledger_checkpoint_seq().await.unwrap(), total);
            assert_eq!(store.ledger_checkpoints().await.unwrap().len(), 4);
            // Packed pages equal row-by-row pages, across page boundaries.
            let mut after = 0;
            let mut seen = 0;
            loop {
                let packed = store.ledger_packed_page(after, 700).await.unwrap();
                let rows = store.ledger_page(after, 700).await.unwrap();
                assert_eq!(packed.len(), rows.len(), "{dialect:?}");
                for (p, r) in packed.iter().zip(&rows) {
                    assert_eq!(p.seq, r.seq);
                    assert_eq!(p.at_ms, r.at_ms);
                    assert_eq!(p.kind, r.kind.as_bytes());
                    assert_eq!(p.payload, r.payload.as_bytes(), "{dialect:?} seq {}", r.seq);
                    assert_eq!(p.prev_hash, r.prev_hash.as_slice());
                    assert_eq!(p.hash, r.hash.as_slice());
                }
                let Some(last) = packed.last_seq() else { break };
                seen += packed.len() as i64;
                after = last;
            }
            assert_eq!(seen, total);
            assert!(
                store
                    .ledger_packed_page(total, 10)
                    .await
                    .unwrap()
                    .is_empty()
            );

            // A failing batch stores nothing: seq 1 exists, so the whole batch is refused.
            let more: Vec<LedgerRow> = [total + 1, total + 2, 1].into_iter().map(row).collect();
            assert!(store.insert_ledger_batch(&refs(&more), &[]).await.is_err());
            assert_eq!(store.last_ledger_entry().await.unwrap().unwrap().seq, total);

            // A hash of the wrong length (tampering) still frames and reads back as stored.
            store
                .db
                .execute_unchecked(
                    "UPDATE transfer_ledger SET hash = prev_hash || prev_hash WHERE seq = 2",
                )
                .await
                .unwrap();
            let page = store.ledger_packed_page(0, 3).await.unwrap();
            assert_eq!(page.get(1).unwrap().hash.len(), 64);
        }
    }

    #[test]
    fn unpack_refuses_bytes_that_do_not_frame() {
        let ok = b"1,2,1,2,1,1,kpayh".to_vec();
        let page = LedgerPage::unpack(ok, Dialect::Sqlite, 1).unwrap();
        let e = page.get(0).unwrap();
        assert_eq!(
            (e.seq, e.at_ms, e.kind, e.payload),
            (1, 2, &b"k"[..], &b"pa"[..])
        );
        assert!(LedgerPage::unpack(b"1,2,1,9,1,1,kp".to_vec(), Dialect::Sqlite, 1).is_none());
        assert!(LedgerPage::unpack(b"1.5,2,0,0,0,0,".to_vec(), Dialect::Sqlite, 1).is_none());
        assert!(LedgerPage::unpack(b"1,2,0,0,0,0,".to_vec(), Dialect::Sqlite, 2).is_none());
    }
}
