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

impl LedgerRow {
    /// The row as an entry to insert or frame, borrowing its values.
    pub fn entry(&self) -> LedgerEntryRef<'_> {
        LedgerEntryRef {
            seq: self.seq,
            at_ms: self.at_ms,
            kind: &self.kind,
            payload: &self.payload,
            prev_hash: &self.prev_hash,
            hash: &self.hash,
        }
    }
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

/// Entries per sealed block: the appender seals the entries `(k - 1) * N + 1 ..= k * N` into
/// one `ledger_blocks` row when entry `k * N` is stored. Big enough that verification reads a
/// few hundred values per million entries and hashes them in parallel, small enough that the
/// appender's open block (kept in memory, ~1 MB) and the entry rows awaiting their block stay
/// small.
pub const LEDGER_BLOCK_ENTRIES: i64 = 4096;

/// A sealed block to store: the framed entries with seq in `first_seq ..= last_seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedgerBlockRef<'a> {
    pub first_seq: i64,
    pub last_seq: i64,
    pub body: &'a [u8],
}

/// Where a sealed block's body stops framing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {message}")]
pub struct BlockFormatError {
    pub offset: usize,
    pub message: &'static str,
}

/// Appends one entry's frame to a block body: seq (i64 BE), at_ms (i64 BE), kind length (u32
/// BE), kind, payload length (u32 BE), payload, prev_hash (32 bytes), hash (32 bytes). The
/// bytes are the stored ones, unchanged, so a block holds exactly what the rows held. A hash
/// that is not 32 bytes (only a tampered row has one) is framed as zeros, which is what the
/// verifier reads such a hash as anyway (it never matches a real hash).
pub fn push_block_entry(
    buf: &mut Vec<u8>,
    seq: i64,
    at_ms: i64,
    kind: &[u8],
    payload: &[u8],
    prev_hash: &[u8],
    hash: &[u8],
) {
    // A value over 4 GiB cannot be stored (SQLite caps values at 1 GB); u32::MAX then makes
    // the frame fail to parse rather than alias another entry.
    let len = |v: &[u8]| u32::try_from(v.len()).unwrap_or(u32::MAX).to_be_bytes();
    buf.extend_from_slice(&seq.to_be_bytes());
    buf.extend_from_slice(&at_ms.to_be_bytes());
    buf.extend_from_slice(&len(kind));
    buf.extend_from_slice(kind);
    buf.extend_from_slice(&len(payload));
    buf.extend_from_slice(payload);
    for h in [prev_hash, hash] {
        match <&[u8; 32]>::try_from(h) {
            Ok(h) => buf.extend_from_slice(h),
            Err(_) => buf.extend_from_slice(&[0; 32]),
        }
    }
}

/// The entry framed at `at` in `body`, and where the next frame starts.
fn frame_at(body: &[u8], at: usize) -> Result<(PackedEntry, usize), &'static str> {
    const SHORT: &str = "the body ends inside an entry";
    let take = |from: usize, n: usize| -> Result<Range<usize>, &'static str> {
        let end = from.checked_add(n).ok_or(SHORT)?;
        if end > body.len() {
            return Err(SHORT);
        }
        Ok(from..end)
    };
    let int8 = |r: Range<usize>| -> Result<i64, &'static str> {
        Ok(i64::from_be_bytes(body[r].try_into().map_err(|_| SHORT)?))
    };
    let int4 = |r: Range<usize>| -> Result<usize, &'static str> {
        Ok(u32::from_be_bytes(body[r].try_into().map_err(|_| SHORT)?) as usize)
    };
    let seq = int8(take(at, 8)?)?;
    let at_ms = int8(take(at + 8, 8)?)?;
    let kind_len = int4(take(at + 16, 4)?)?;
    let kind = take(at + 20, kind_len)?;
    let payload_len = int4(take(kind.end, 4)?)?;
    let payload = take(kind.end + 4, payload_len)?;
    let prev_hash = take(payload.end, 32)?;
    let hash = take(prev_hash.end, 32)?;
    let next = hash.end;
    Ok((
        PackedEntry {
            seq,
            at_ms,
            kind,
            payload,
            prev_hash,
            hash,
        },
        next,
    ))
}

/// Rows per multi-row INSERT of ledger entries: powers of two up to this (6 parameters a row,
/// so at most 6,144 parameters, below the 9,000 the bulk loader keeps to), so that a handful
/// of statement texts is prepared and cached whatever the batch sizes are.
pub const MAX_LEDGER_ROWS_PER_STATEMENT: usize = 1024;
const MAX_ROWS_PER_INSERT: usize = MAX_LEDGER_ROWS_PER_STATEMENT;

/// The INSERT of up to `slots` rows (a power of two), built once per size: the rows come from a
/// `VALUES` list of `slots` rows and rows whose seq is NULL are skipped, so a batch of any size
/// up to `slots` is ONE statement (padded with NULLs) and only a dozen statement texts are ever
/// prepared. SQLite gets anonymous `?` placeholders: with thousands of numbered `$n` ones,
/// SQLite's parser and sqlx's binding spend time quadratic in their number (a 1,024-row
/// statement took ~60 ms instead of ~5 ms); PostgreSQL needs `$n` (and types on the first
/// row, which the NULL padding cannot give).
fn ledger_insert_sql(slots: usize, dialect: Dialect) -> Arc<str> {
    static CACHE: OnceLock<[Vec<Arc<str>>; 2]> = OnceLock::new();
    let cache = CACHE.get_or_init(|| {
        [Dialect::Sqlite, Dialect::Postgres].map(|d| {
            (0..=MAX_ROWS_PER_INSERT.trailing_zeros())
                .map(|k| {
                    let n = 1usize << k;
                    let mut sql = String::from(
                        "INSERT INTO transfer_ledger (seq, at_ms, kind, payload, prev_hash, hash) ",
                    );
                    match d {
                        Dialect::Sqlite => sql.push_str(
                            "SELECT column1, column2, column3, column4, column5, column6 FROM (VALUES ",
                        ),
                        Dialect::Postgres => sql.push_str("SELECT a, b, c, d, e, f FROM (VALUES "),
                    }
                    for i in 0..n {
                        if i > 0 {
                            sql.push_str(", ");
                        }
                        match d {
                            Dialect::Sqlite => sql.push_str("(?, ?, ?, ?, ?, ?)"),
                            Dialect::Postgres if i == 0 => sql.push_str(
                                "($1::BIGINT, $2::BIGINT, $3::TEXT, $4::TEXT, $5::BYTEA, $6::BYTEA)",
                            ),
                            Dialect::Postgres => {
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
                        }
                    }
                    match d {
                        Dialect::Sqlite => sql.push_str(") WHERE column1 IS NOT NULL"),
                        Dialect::Postgres => {
                            sql.push_str(") AS v (a, b, c, d, e, f) WHERE a IS NOT NULL")
                        }
                    }
                    Arc::from(sql)
                })
                .collect()
        })
    });
    let d = match dialect {
        Dialect::Sqlite => 0,
        Dialect::Postgres => 1,
    };
    cache[d][slots.trailing_zeros() as usize].clone()
}

/// A page of ledger entries read as a few packed values (see
/// [`CellStore::ledger_packed_page`]): the stored bytes of every entry's kind, payload and
/// hashes, each column concatenated into one buffer and sliced without copying or decoding.
#[derive(Clone, Debug, Default)]
pub struct LedgerPage {
    /// kinds, payloads, hashes (prev_hash and hash of each entry); for a sealed block, its
    /// body alone in `bufs[0]`, which every range then indexes (`single`).
    bufs: [Vec<u8>; 3],
    single: bool,
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

/// The packed columns of a page as the database returns them: `MIN(seq)`, `MAX(seq)`,
/// `COUNT(*)`, how many hashes are not 32 bytes, the `at_ms` list (comma-separated), the kinds
/// and the payloads (newline-separated) and the hashes (`prev_hash | hash` per entry).
struct Packed {
    min_seq: i64,
    max_seq: i64,
    count: i64,
    odd_hashes: i64,
    at_ms: String,
    kinds: Vec<u8>,
    payloads: Vec<u8>,
    hashes: Vec<u8>,
}

impl LedgerPage {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn row<'a>(&'a self, e: &PackedEntry) -> PackedRow<'a> {
        let buf = |c: usize| &self.bufs[if self.single { 0 } else { c }];
        PackedRow {
            seq: e.seq,
            at_ms: e.at_ms,
            kind: &buf(0)[e.kind.clone()],
            payload: &buf(1)[e.payload.clone()],
            prev_hash: &buf(2)[e.prev_hash.clone()],
            hash: &buf(2)[e.hash.clone()],
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

    /// Builds the page of seqs `after + 1 ..= after + count` from the packed columns. `None`
    /// unless the seqs are exactly those (dense: nothing missing in the range), every hash has
    /// 32 bytes and the lists split into exactly `count` values (a newline inside a kind or
    /// payload, which canonical JSON never has, or a value of an unexpected type, fails this):
    /// then the caller reads the page row by row.
    fn unpack(after: i64, p: Packed) -> Option<LedgerPage> {
        let n = usize::try_from(p.count).ok()?;
        if p.min_seq != after.checked_add(1)?
            || p.max_seq != after.checked_add(p.count)?
            || p.odd_hashes != 0
            || p.hashes.len() != n.checked_mul(64)?
        {
            return None;
        }
        let at_ms = p
            .at_ms
            .split(',')
            .map(|v| v.parse::<i64>().ok())
            .collect::<Option<Vec<i64>>>()?;
        // Newline positions: through `str::split` (memchr-fast) when the bytes are UTF-8 (a
        // tampered value may not be: then byte by byte).
        let split = |buf: &[u8]| -> Vec<Range<usize>> {
            let mut ranges = Vec::with_capacity(n);
            match std::str::from_utf8(buf) {
                Ok(text) => {
                    let base = text.as_ptr() as usize;
                    ranges.extend(text.split('\n').map(|part| {
                        let start = part.as_ptr() as usize - base;
                        start..start + part.len()
                    }));
                }
                Err(_) => {
                    let mut start = 0;
                    for (i, &b) in buf.iter().enumerate() {
                        if b == b'\n' {
                            ranges.push(start..i);
                            start = i + 1;
                        }
                    }
                    ranges.push(start..buf.len());
                }
            }
            ranges
        };
        let kinds = split(&p.kinds);
        let payloads = split(&p.payloads);
        if at_ms.len() != n || kinds.len() != n || payloads.len() != n {
            return None;
        }
        let entries = (0..n)
            .map(|i| PackedEntry {
                seq: after + 1 + i as i64,
                at_ms: at_ms[i],
                kind: kinds[i].clone(),
                payload: payloads[i].clone(),
                prev_hash: 64 * i..64 * i + 32,
                hash: 64 * i + 32..64 * i + 64,
            })
            .collect();
        Some(LedgerPage {
            bufs: [p.kinds, p.payloads, p.hashes],
            single: false,
            entries,
        })
    }

    /// The entries framed in a sealed block's `body` (see [`push_block_entry`]), without
    /// copying it. A body that stops framing (only tampering does that) gives the entries
    /// before that point and where it stopped.
    pub fn from_block(body: Vec<u8>) -> (LedgerPage, Option<BlockFormatError>) {
        let mut entries = Vec::new();
        let mut at = 0usize;
        let mut error = None;
        while at < body.len() {
            match frame_at(&body, at) {
                Ok((entry, next)) => {
                    entries.push(entry);
                    at = next;
                }
                Err(message) => {
                    error = Some(BlockFormatError {
                        offset: at,
                        message,
                    });
                    break;
                }
            }
        }
        let page = LedgerPage {
            bufs: [body, Vec::new(), Vec::new()],
            single: true,
            entries,
        };
        (page, error)
    }

    /// A page from rows read one by one.
    fn from_rows(rows: &[LedgerRow]) -> LedgerPage {
        let mut page = LedgerPage::default();
        let mut put = |c: usize, v: &[u8]| {
            let start = page.bufs[c].len();
            page.bufs[c].extend_from_slice(v);
            start..page.bufs[c].len()
        };
        let mut entries = Vec::with_capacity(rows.len());
        for r in rows {
            entries.push(PackedEntry {
                seq: r.seq,
                at_ms: r.at_ms,
                kind: put(0, r.kind.as_bytes()),
                payload: put(1, r.payload.as_bytes()),
                prev_hash: put(2, &r.prev_hash),
                hash: put(2, &r.hash),
            });
        }
        page.entries = entries;
        page
    }
}

impl CellStore {
    /// Appends many entries and checkpoints, and seals a block, atomically: all of it is
    /// stored, or none. Up to [`MAX_LEDGER_ROWS_PER_STATEMENT`] entries without checkpoints or
    /// block are ONE INSERT, atomic on its own (no transaction round trips); anything else is
    /// one transaction. Sealing `block` stores it and deletes the entry rows of its seq range
    /// (the block now holds them); `entries` are the rows after it.
    pub async fn insert_ledger_batch(
        &self,
        entries: &[LedgerEntryRef<'_>],
        checkpoints: &[CheckpointRow],
        block: Option<LedgerBlockRef<'_>>,
    ) -> Result<(), StoreError> {
        if entries.is_empty() && checkpoints.is_empty() && block.is_none() {
            return Ok(());
        }
        if checkpoints.is_empty() && block.is_none() && entries.len() <= MAX_ROWS_PER_INSERT {
            return self
                .ledger_insert_statement(entries)
                .execute(&self.db.pool)
                .await
                .map(|_| ())
                .map_err(StoreError::from_sqlx);
        }
        let mut tx = self.db.pool.begin().await?;
        if let Some(b) = block {
            sqlx::query("DELETE FROM transfer_ledger WHERE seq >= $1 AND seq <= $2")
                .bind(b.first_seq)
                .bind(b.last_seq)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO ledger_blocks (first_seq, last_seq, body) VALUES ($1, $2, $3)",
            )
            .bind(b.first_seq)
            .bind(b.last_seq)
            .bind(b.body)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        }
        for chunk in entries.chunks(MAX_ROWS_PER_INSERT) {
            self.ledger_insert_statement(chunk)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
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

    /// One INSERT of `chunk` (1 to [`MAX_ROWS_PER_INSERT`] entries), padded with NULL rows to the
    /// next power of two.
    fn ledger_insert_statement<'q>(
        &self,
        chunk: &'q [LedgerEntryRef<'q>],
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        let slots = chunk.len().max(1).next_power_of_two();
        let mut q = sqlx::query(AssertSqlSafe(ledger_insert_sql(slots, self.db.dialect)));
        for e in chunk {
            q = q
                .bind(e.seq)
                .bind(e.at_ms)
                .bind(e.kind)
                .bind(e.payload)
                .bind(e.prev_hash)
                .bind(e.hash);
        }
        for _ in chunk.len()..slots {
            q = q
                .bind(None::<i64>)
                .bind(None::<i64>)
                .bind(None::<&str>)
                .bind(None::<&str>)
                .bind(None::<&[u8]>)
                .bind(None::<&[u8]>);
        }
        q
    }

    /// The entries with seq in `(after, after + span]`, in seq order, read as ONE row of
    /// aggregates: the database concatenates each column of the page (SQLite `group_concat`
    /// over the page in seq order, PostgreSQL `string_agg … ORDER BY seq`), so no entry goes
    /// through the driver's per-row decoding, which dominated verification. When that range is
    /// empty but later entries exist (a gap in the seqs), reads from the next stored seq
    /// instead; an empty page means there is nothing after `after`. A page whose values do not
    /// frame (a value of an unexpected type) is read row by row instead.
    pub async fn ledger_packed_page(
        &self,
        after: i64,
        span: i64,
    ) -> Result<LedgerPage, StoreError> {
        let page = self.ledger_packed_range(after, span).await?;
        if !page.is_empty() {
            return Ok(page);
        }
        let next: Option<i64> = sqlx::query("SELECT MIN(seq) FROM transfer_ledger WHERE seq > $1")
            .bind(after)
            .fetch_one(&self.db.pool)
            .await?
            .get(0);
        match next {
            Some(next) => self.ledger_packed_range(next - 1, span).await,
            None => Ok(page),
        }
    }

    /// The entries with seq in `(after, after + span]`, in seq order, read as
    /// [`CellStore::ledger_packed_page`] does (an empty page when the range is empty).
    pub async fn ledger_packed_range(
        &self,
        after: i64,
        span: i64,
    ) -> Result<LedgerPage, StoreError> {
        let sql = match self.db.dialect {
            // The primary key's index drives the scan (INDEXED BY), so the aggregates see the
            // rows in seq order; MIN, MAX and COUNT show the seqs are exactly the range.
            Dialect::Sqlite => {
                "SELECT MIN(seq), MAX(seq), COUNT(*),
                    COALESCE(SUM(length(CAST(prev_hash AS BLOB)) <> 32 OR length(CAST(hash AS BLOB)) <> 32), 0),
                    group_concat(at_ms, ','),
                    CAST(group_concat(kind, char(10)) AS BLOB),
                    CAST(group_concat(payload, char(10)) AS BLOB),
                    CAST(group_concat(CAST(prev_hash AS BLOB) || CAST(hash AS BLOB), '') AS BLOB)
                 FROM transfer_ledger INDEXED BY sqlite_autoindex_transfer_ledger_1
                 WHERE seq > $1 AND seq <= $2"
            }
            Dialect::Postgres => {
                "SELECT MIN(seq), MAX(seq), COUNT(*),
                    COALESCE(SUM(CASE WHEN length(prev_hash) <> 32 OR length(hash) <> 32 THEN 1 ELSE 0 END), 0)::BIGINT,
                    string_agg(at_ms::text, ',' ORDER BY seq),
                    convert_to(string_agg(kind, E'\\n' ORDER BY seq), 'UTF8'),
                    convert_to(string_agg(payload, E'\\n' ORDER BY seq), 'UTF8'),
                    string_agg(prev_hash || hash, ''::bytea ORDER BY seq)
                 FROM transfer_ledger WHERE seq > $1 AND seq <= $2"
            }
        };
        let row = sqlx::query(sql)
            .bind(after)
            .bind(after.saturating_add(span))
            .fetch_one(&self.db.pool)
            .await?;
        let count: i64 = row.get(2);
        if count <= 0 {
            return Ok(LedgerPage::default());
        }
        let packed = Packed {
            min_seq: row.get(0),
            max_seq: row.get(1),
            count,
            odd_hashes: row.get(3),
            at_ms: row.get::<Option<String>, _>(4).unwrap_or_default(),
            kinds: row.get::<Option<Vec<u8>>, _>(5).unwrap_or_default(),
            payloads: row.get::<Option<Vec<u8>>, _>(6).unwrap_or_default(),
            hashes: row.get::<Option<Vec<u8>>, _>(7).unwrap_or_default(),
        };
        if let Some(page) = LedgerPage::unpack(after, packed) {
            return Ok(page);
        }
        // Not dense, or odd values: row by row (the typed decoder reports a value of the wrong
        // type), still only the range.
        let rows = self.ledger_rows(after, count).await?;
        Ok(LedgerPage::from_rows(&rows))
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

    /// Up to `limit` entries with seq > `after`, in seq order, from the sealed blocks and the
    /// entry rows after them. For reading entries back (tests, diagnosis), not for verifying:
    /// a block's entries that do not frame are left out, and a kind or payload that is not
    /// UTF-8 is decoded lossily.
    pub async fn ledger_page(&self, after: i64, limit: i64) -> Result<Vec<LedgerRow>, StoreError> {
        let mut out = Vec::new();
        let mut last_first = i64::MIN;
        while (out.len() as i64) < limit {
            let Some(row) = sqlx::query(
                "SELECT first_seq, body FROM ledger_blocks WHERE last_seq > $1 AND first_seq > $2
                 ORDER BY first_seq LIMIT 1",
            )
            .bind(after)
            .bind(last_first)
            .fetch_optional(&self.db.pool)
            .await?
            else {
                break;
            };
            last_first = row.get(0);
            let (page, _) = LedgerPage::from_block(row.get(1));
            out.extend(page.iter().filter(|e| e.seq > after).map(|e| LedgerRow {
                seq: e.seq,
                at_ms: e.at_ms,
                kind: String::from_utf8_lossy(e.kind).into_owned(),
                payload: String::from_utf8_lossy(e.payload).into_owned(),
                prev_hash: e.prev_hash.to_vec(),
                hash: e.hash.to_vec(),
            }));
        }
        out.extend(self.ledger_rows(after, limit).await?);
        out.sort_by_key(|r| r.seq);
        out.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(out)
    }

    /// The sealed blocks' seq ranges `(first_seq, last_seq)`, in `first_seq` order.
    pub async fn ledger_block_ranges(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        Ok(
            sqlx::query("SELECT first_seq, last_seq FROM ledger_blocks ORDER BY first_seq")
                .fetch_all(&self.db.pool)
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect(),
        )
    }

    /// The body of the sealed block starting at `first_seq` (one value: the driver copies it
    /// once, whatever the number of entries).
    pub async fn ledger_block(&self, first_seq: i64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query("SELECT body FROM ledger_blocks WHERE first_seq = $1")
                .bind(first_seq)
                .fetch_optional(&self.db.pool)
                .await?
                .map(|r| r.get(0)),
        )
    }

    /// The highest seq a sealed block covers (0 without blocks).
    pub async fn ledger_sealed_through(&self) -> Result<i64, StoreError> {
        let last: Option<i64> = sqlx::query("SELECT MAX(last_seq) FROM ledger_blocks")
            .fetch_one(&self.db.pool)
            .await?
            .get(0);
        Ok(last.unwrap_or(0))
    }

    /// Up to `limit` entry rows (not sealed yet) with seq > `after`, in seq order.
    async fn ledger_rows(&self, after: i64, limit: i64) -> Result<Vec<LedgerRow>, StoreError> {
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

    /// How many entry rows (entries not sealed into a block yet) the ledger holds and their
    /// lowest and highest seq.
    pub async fn ledger_rows_extent(&self) -> Result<(i64, Option<i64>, Option<i64>), StoreError> {
        let r = sqlx::query("SELECT COUNT(*), MIN(seq), MAX(seq) FROM transfer_ledger")
            .fetch_one(&self.db.pool)
            .await?;
        Ok((r.get(0), r.get(1), r.get(2)))
    }

    /// The entry with the highest seq (an entry row, or else the last entry of the last sealed
    /// block), to resume the chain after a restart.
    pub async fn last_ledger_entry(&self) -> Result<Option<LedgerRow>, StoreError> {
        let last: Option<i64> = sqlx::query("SELECT MAX(seq) FROM transfer_ledger")
            .fetch_one(&self.db.pool)
            .await?
            .get(0);
        let row = match last {
            Some(seq) => self.ledger_rows(seq - 1, 1).await?.pop(),
            None => None,
        };
        let sealed = self.ledger_sealed_through().await?;
        if row.as_ref().is_some_and(|r| r.seq > sealed) || sealed == 0 {
            return Ok(row);
        }
        Ok(self.ledger_page(sealed - 1, 1).await?.pop().or(row))
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
            // Commas, quotes, an escaped NUL and non-ASCII in the payload.
            payload: if seq % 500 == 0 {
                // A raw newline (never in canonical JSON): that page is read row by row.
                format!("{{\"n\":{seq}}}\n")
            } else {
                format!("{{\"n\":{seq},\"s\":\"a,b\\u0000 é '\"}}")
            },
            prev_hash: vec![(seq % 251) as u8; 32],
            hash: (0..32).map(|i| (seq as u8).wrapping_add(i)).collect(),
        }
    }

    fn refs(rows: &[LedgerRow]) -> Vec<LedgerEntryRef<'_>> {
        rows.iter().map(LedgerRow::entry).collect()
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
                    .insert_ledger_batch(&refs(&rows), std::slice::from_ref(&cp), None)
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
            assert!(
                store
                    .insert_ledger_batch(&refs(&more), &[], None)
                    .await
                    .is_err()
            );
            assert_eq!(store.last_ledger_entry().await.unwrap().unwrap().seq, total);

            // A gap in the seqs (dropped entries) is skipped, not taken for the end.
            store
                .db
                .execute_unchecked("DELETE FROM transfer_ledger WHERE seq > 100 AND seq <= 2000")
                .await
                .unwrap();
            let first = store.ledger_packed_page(0, 700).await.unwrap();
            assert_eq!((first.len(), first.last_seq()), (100, Some(100)));
            let next = store.ledger_packed_page(100, 700).await.unwrap();
            assert_eq!(next.get(0).unwrap().seq, 2001, "{dialect:?}");

            // A hash of the wrong length (tampering) still frames and reads back as stored.
            store
                .db
                .execute_unchecked(match dialect {
                    Dialect::Sqlite => {
                        "UPDATE transfer_ledger SET hash = CAST(prev_hash || prev_hash AS BLOB) WHERE seq = 2"
                    }
                    Dialect::Postgres => {
                        "UPDATE transfer_ledger SET hash = prev_hash || prev_hash WHERE seq = 2"
                    }
                })
                .await
                .unwrap();
            let page = store.ledger_packed_page(0, 3).await.unwrap();
            assert_eq!(page.get(1).unwrap().hash.len(), 64);
        }
    }

    fn frame(rows: &[LedgerRow]) -> Vec<u8> {
        let mut body = Vec::new();
        for r in rows {
            push_block_entry(
                &mut body,
                r.seq,
                r.at_ms,
                r.kind.as_bytes(),
                r.payload.as_bytes(),
                &r.prev_hash,
                &r.hash,
            );
        }
        body
    }

    #[tokio::test]
    async fn sealed_blocks_replace_their_rows_and_read_back() {
        for (store, _dir) in stores().await {
            let dialect = store.db.dialect;
            let rows: Vec<LedgerRow> = (1..=10).map(row).collect();
            store
                .insert_ledger_batch(&refs(&rows[..6]), &[], None)
                .await
                .unwrap();
            // Entries 1..=6 were rows; 7 and 8 go straight into the block, 9 and 10 are rows.
            let body = frame(&rows[..8]);
            let block = LedgerBlockRef {
                first_seq: 1,
                last_seq: 8,
                body: &body,
            };
            store
                .insert_ledger_batch(&refs(&rows[8..]), &[], Some(block))
                .await
                .unwrap();
            assert_eq!(
                store.ledger_rows_extent().await.unwrap(),
                (2, Some(9), Some(10)),
                "{dialect:?}"
            );
            assert_eq!(store.ledger_sealed_through().await.unwrap(), 8);
            assert_eq!(store.ledger_block_ranges().await.unwrap(), vec![(1, 8)]);
            assert_eq!(store.ledger_page(0, 100).await.unwrap(), rows);
            assert_eq!(store.ledger_page(6, 3).await.unwrap(), rows[6..9]);
            assert_eq!(store.last_ledger_entry().await.unwrap().unwrap(), rows[9]);
            let stored = store.ledger_block(1).await.unwrap().unwrap();
            assert_eq!(stored, body);
            let (page, error) = LedgerPage::from_block(stored);
            assert!(error.is_none());
            for (p, r) in page.iter().zip(&rows) {
                assert_eq!(
                    (p.seq, p.at_ms, p.kind, p.payload, p.prev_hash, p.hash),
                    (
                        r.seq,
                        r.at_ms,
                        r.kind.as_bytes(),
                        r.payload.as_bytes(),
                        &r.prev_hash[..],
                        &r.hash[..]
                    )
                );
            }
            // Without rows after it, the last entry is the block's.
            store
                .db
                .execute_unchecked("DELETE FROM transfer_ledger")
                .await
                .unwrap();
            assert_eq!(store.last_ledger_entry().await.unwrap().unwrap(), rows[7]);
            // A block is stored once: sealing it again fails and changes nothing.
            assert!(
                store
                    .insert_ledger_batch(&refs(&rows[8..]), &[], Some(block))
                    .await
                    .is_err()
            );
            assert!(store.ledger_rows_extent().await.unwrap().1.is_none());
        }
    }

    #[test]
    fn a_block_that_stops_framing_says_where() {
        let rows: Vec<LedgerRow> = (1..=3).map(row).collect();
        let body = frame(&rows);
        let (page, error) = LedgerPage::from_block(body[..body.len() - 1].to_vec());
        assert_eq!(page.len(), 2);
        let error = error.unwrap();
        assert_eq!(error.offset, frame(&rows[..2]).len());
        // A length running past the end.
        let mut bad = frame(&rows[..1]);
        bad[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        let (page, error) = LedgerPage::from_block(bad);
        assert!(page.is_empty());
        assert_eq!(error.unwrap().offset, 0);
        // A hash of another length (a tampered row) is framed as zeros.
        let mut odd = rows[0].clone();
        odd.hash = vec![1; 64];
        let (page, error) = LedgerPage::from_block(frame(&[odd]));
        assert!(error.is_none());
        assert_eq!(page.get(0).unwrap().hash, &[0u8; 32][..]);
    }

    fn packed(at_ms: &str, kinds: &[u8], payloads: &[u8], count: i64) -> Packed {
        Packed {
            min_seq: 11,
            max_seq: 10 + count,
            count,
            odd_hashes: 0,
            at_ms: at_ms.into(),
            kinds: kinds.to_vec(),
            payloads: payloads.to_vec(),
            hashes: (0..64 * count as u8).collect(),
        }
    }

    #[test]
    fn unpack_refuses_values_that_do_not_frame() {
        let page = LedgerPage::unpack(10, packed("5,6", b"k\nt", b"pa\ny", 2)).unwrap();
        let e = page.get(1).unwrap();
        assert_eq!(
            (e.seq, e.at_ms, e.kind, e.payload),
            (12, 6, &b"t"[..], &b"y"[..])
        );
        assert_eq!((e.prev_hash[0], e.hash[0], e.hash.len()), (64, 96, 32));
        // A newline too many (or too few), a non-integer, seqs that are not the whole range,
        // hashes of another length.
        assert!(LedgerPage::unpack(10, packed("5,6", b"k\nt", b"p\na\ny", 2)).is_none());
        assert!(LedgerPage::unpack(10, packed("5,6", b"kt", b"pa\ny", 2)).is_none());
        assert!(LedgerPage::unpack(10, packed("5,6.5", b"k\nt", b"pa\ny", 2)).is_none());
        assert!(LedgerPage::unpack(9, packed("5,6", b"k\nt", b"pa\ny", 2)).is_none());
        let mut gap = packed("5,6", b"k\nt", b"pa\ny", 2);
        gap.max_seq += 1;
        assert!(LedgerPage::unpack(10, gap).is_none());
        let mut odd = packed("5,6", b"k\nt", b"pa\ny", 2);
        odd.odd_hashes = 1;
        assert!(LedgerPage::unpack(10, odd).is_none());
        odd = packed("5,6", b"k\nt", b"pa\ny", 2);
        odd.hashes.pop();
        assert!(LedgerPage::unpack(10, odd).is_none());
    }
}

#[cfg(test)]
mod insert_experiments {
    use super::*;

    /// Rows/s of `insert_ledger_batch` by batch size on SQLite (release: `cargo test --release
    /// -p reelm-store insert_batches -- --ignored --nocapture`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn insert_batches() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/cell.db", dir.path().display());
        let store = CellStore::open(&url, 8).await.unwrap();
        let payload = r#"{"class":"public","decision":"allowed","from":"eu","object":"video_counters","purpose":"public_counter","reason":"allowed by rule \"public-anywhere\" (public content the creator published; counters are public)","to":"us"}"#;
        let mut seq = 0i64;
        for batch in [1usize, 8, 64, 100, 512, 1024] {
            let n = if batch == 1 { 5_000 } else { 100_000 };
            let t = std::time::Instant::now();
            for _ in 0..n / batch {
                let rows: Vec<LedgerRow> = (0..batch)
                    .map(|_| {
                        seq += 1;
                        LedgerRow {
                            seq,
                            at_ms: 1,
                            kind: "transfer".into(),
                            payload: payload.into(),
                            prev_hash: vec![1; 32],
                            hash: vec![2; 32],
                        }
                    })
                    .collect();
                let refs: Vec<LedgerEntryRef<'_>> = rows.iter().map(LedgerRow::entry).collect();
                store.insert_ledger_batch(&refs, &[], None).await.unwrap();
            }
            let s = t.elapsed().as_secs_f64();
            println!(
                "batch {batch}: {:.0} rows/s, {:.1} µs per batch",
                n as f64 / s,
                s * 1e6 / (n / batch) as f64
            );
        }
    }
}

#[cfg(test)]
mod read_bench {
    use super::*;

    /// Time to read a ledger's packed pages of 20,000 seqs, one reader
    /// (`REELM_LEDGER_DB=path/to/store.db cargo test --release -p reelm-store read_packed --
    /// --ignored --nocapture`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn read_packed() {
        let path = std::env::var("REELM_LEDGER_DB").unwrap();
        let store = CellStore::open(&format!("sqlite://{path}"), 4)
            .await
            .unwrap();
        let span = std::env::var("SPAN")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20_000);
        for _ in 0..3 {
            let t = std::time::Instant::now();
            let (mut after, mut n) = (0, 0);
            loop {
                let page = store.ledger_packed_page(after, span).await.unwrap();
                let Some(l) = page.last_seq() else { break };
                after = l;
                n += page.len();
            }
            println!(
                "packed pages: {n} entries in {:.3}s",
                t.elapsed().as_secs_f64()
            );
        }
        let (_, _, max) = store.ledger_rows_extent().await.unwrap();
        let pages = (max.unwrap_or(0) + span - 1) / span;
        for readers in [1i64, 2, 3] {
            let t = std::time::Instant::now();
            let mut tasks = Vec::new();
            for r in 0..readers {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    let mut n = 0;
                    let mut i = r;
                    while i < pages {
                        n += store
                            .ledger_packed_range(i * span, span)
                            .await
                            .unwrap()
                            .len();
                        i += readers;
                    }
                    n
                }));
            }
            let mut n = 0;
            for t in tasks {
                n += t.await.unwrap();
            }
            println!(
                "{readers} readers: {n} entries in {:.3}s",
                t.elapsed().as_secs_f64()
            );
        }
    }
}
