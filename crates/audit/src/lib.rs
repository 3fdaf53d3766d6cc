//! The residency audit.
//!
//! Must not know: HTTP, or any feature subsystem; it only reads stores, folders and public keys.
//!
//! It reads every region's store, media folder and the directory, counts
//! rows per data class per region, and proves promise 1 of PLATFORM.md: every row of a
//! home-bound class (personal, sensitive, behavioral, derived) sits in the home region of the
//! person it belongs to, and every stored media object belongs to a video whose row is in that
//! region's store and whose creator lives there. It also verifies each region's transfer ledger
//! and access logs against their signed checkpoints. It trusts nothing but the stores, the
//! folders and the regions' public signing keys. Regions are audited concurrently.

use reelm_core::{DataClass, RegionId, UserId};
use reelm_platform::Error;
use reelm_platform::platform::{Cell, Platform};
use reelm_store::registry::{self, Scope};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Serialize, PartialEq)]
pub struct Violation {
    pub region: String,
    pub table: &'static str,
    pub class: DataClass,
    pub user_id: String,
    /// The person's home region per the directory, or `None` when the directory does not know
    /// them (an orphaned row of a person who does not exist).
    pub home_region: Option<String>,
    pub rows: i64,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.home_region {
            Some(home) => write!(
                f,
                "{} {} row(s) of {}.{} belong to user {} whose home is {}, but are stored in {}",
                self.rows, self.class, self.region, self.table, self.user_id, home, self.region
            ),
            None => write!(
                f,
                "{} {} row(s) of {}.{} belong to user {}, who is not in the directory",
                self.rows, self.class, self.region, self.table, self.user_id
            ),
        }
    }
}

/// A media object stored where it does not belong.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct MediaViolation {
    pub region: String,
    /// not-secret: the object's path in the region's media store (`videos/<id>.mp4`).
    pub key: String,
    /// `orphan` (no video anywhere records it), `misplaced` (recorded by a video of another
    /// region), `no_video` (its record names a video this region does not hold) or
    /// `foreign_creator` (its video's creator lives in another region, or nowhere).
    pub kind: String,
    pub message: String,
}

impl std::fmt::Display for MediaViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "media object {} in {}: {} ({})",
            self.key,
            self.region,
            self.message,
            self.kind.replace('_', " ")
        )
    }
}

/// One region's media folder in the audit.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct MediaAudit {
    pub region: String,
    /// Where the objects live (folder or `memory://`).
    pub root: String,
    /// Objects found in the folder.
    pub objects: u64,
    /// Records in `media_objects` whose object is not in the folder (not a residency matter;
    /// reported for completeness).
    pub missing: u64,
}

#[derive(Debug, Serialize)]
pub struct AuditReport {
    /// region → class → rows.
    pub counts: BTreeMap<String, BTreeMap<DataClass, i64>>,
    pub users_per_region: BTreeMap<String, i64>,
    pub violations: Vec<Violation>,
    pub tables_checked: usize,
    /// Each region's media folder.
    pub media: Vec<MediaAudit>,
    pub media_violations: Vec<MediaViolation>,
    /// Each region's transfer ledger, verified (hashes, links, signed checkpoints).
    pub ledger: Vec<LedgerAudit>,
    /// Each region's access logs, verified (every person's chain, signed checkpoints).
    pub access_logs: Vec<AccessLogAudit>,
    pub seconds: f64,
}

/// One region's ledger in the audit: the verification summary, or where it is broken.
#[derive(Debug, Serialize)]
pub struct LedgerAudit {
    pub region: String,
    pub entries: u64,
    pub last_seq: u64,
    pub refused: u64,
    pub last_checkpoint_seq: Option<u64>,
    pub unanchored_tail: u64,
    /// `None` when the chain verified.
    pub violation: Option<String>,
}

/// One region's access logs in the audit.
#[derive(Debug, Serialize)]
pub struct AccessLogAudit {
    pub region: String,
    pub people: u64,
    pub entries: u64,
    pub checkpoints: u64,
    /// Signed logs that are gone because their person was erased.
    pub erased: u64,
    pub unanchored: u64,
    /// `None` when every chain verified.
    pub violation: Option<String>,
}

impl AuditReport {
    pub fn passed(&self) -> bool {
        self.violation_count() == 0
    }

    /// Placement violations, misplaced media, broken ledgers and broken access logs.
    pub fn violation_count(&self) -> usize {
        self.violations.len()
            + self.media_violations.len()
            + self.ledger.iter().filter(|l| l.violation.is_some()).count()
            + self
                .access_logs
                .iter()
                .filter(|l| l.violation.is_some())
                .count()
    }

    /// A human table: counts per class and region, the media folders, the ledgers and access
    /// logs, then each violation.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let regions: Vec<&String> = self.counts.keys().collect();
        out.push_str(&format!("{:<12}", "class"));
        for r in &regions {
            out.push_str(&format!("{:>12}", r));
        }
        out.push('\n');
        for class in DataClass::ALL {
            out.push_str(&format!("{:<12}", class.as_str()));
            for r in &regions {
                out.push_str(&format!(
                    "{:>12}",
                    self.counts[*r].get(&class).copied().unwrap_or(0)
                ));
            }
            out.push('\n');
        }
        out.push_str(&format!("{:<12}", "people"));
        for r in &regions {
            out.push_str(&format!(
                "{:>12}",
                self.users_per_region.get(*r).copied().unwrap_or(0)
            ));
        }
        out.push('\n');
        out.push_str("\nmedia        objects  missing  folder\n");
        for m in &self.media {
            out.push_str(&format!(
                "{:<10}{:>10}{:>9}  {}\n",
                m.region, m.objects, m.missing, m.root
            ));
        }
        out.push_str("\nledger      entries  refused  last seq  checkpointed  unanchored\n");
        for l in &self.ledger {
            out.push_str(&format!(
                "{:<10}{:>9}{:>9}{:>10}{:>14}{:>12}  {}\n",
                l.region,
                l.entries,
                l.refused,
                l.last_seq,
                l.last_checkpoint_seq.unwrap_or(0),
                l.unanchored_tail,
                l.violation.as_deref().unwrap_or("ok")
            ));
        }
        out.push_str("\naccess log   people  entries  checkpoints  erased  unanchored\n");
        for l in &self.access_logs {
            out.push_str(&format!(
                "{:<10}{:>9}{:>9}{:>13}{:>8}{:>12}  {}\n",
                l.region,
                l.people,
                l.entries,
                l.checkpoints,
                l.erased,
                l.unanchored,
                if l.violation.is_some() {
                    "BROKEN"
                } else {
                    "ok"
                }
            ));
        }
        if self.passed() {
            out.push_str(&format!(
                "\nPASS: every home-bound row of {} tables is in its owner's home region, every media object in its video's region; ledgers and access logs verified ({:.1}s).\n",
                self.tables_checked, self.seconds
            ));
        } else {
            out.push_str(&format!(
                "\nFAIL: {} violation(s):\n",
                self.violation_count()
            ));
            for v in &self.violations {
                out.push_str(&format!("  - {v}\n"));
            }
            for v in &self.media_violations {
                out.push_str(&format!("  - {v}\n"));
            }
            for l in &self.ledger {
                if let Some(v) = &l.violation {
                    out.push_str(&format!("  - region {} transfer ledger: {v}\n", l.region));
                }
            }
            for l in &self.access_logs {
                if let Some(v) = &l.violation {
                    out.push_str(&format!("  - region {} access log: {v}\n", l.region));
                }
            }
        }
        out
    }
}

/// What one region contributes to the report.
struct CellAudit {
    region: String,
    counts: BTreeMap<DataClass, i64>,
    violations: Vec<Violation>,
    tables_checked: usize,
    ledger: LedgerAudit,
    access: AccessLogAudit,
}

pub async fn run(p: &Platform) -> Result<AuditReport, Error> {
    let started = std::time::Instant::now();
    let homes: HashMap<UserId, RegionId> = p
        .directory
        .all()
        .await?
        .into_iter()
        .map(|e| (e.user_id, e.region))
        .collect();
    let mut users_per_region: BTreeMap<String, i64> = BTreeMap::new();
    for region in homes.values() {
        *users_per_region.entry(region.to_string()).or_default() += 1;
    }
    let (cells, media) = futures::future::join(
        futures::future::try_join_all(p.cells().iter().map(|c| audit_cell(p, c, &homes))),
        audit_media(p, &homes),
    )
    .await;
    let (media, media_violations) = media?;
    let mut report = AuditReport {
        counts: BTreeMap::new(),
        users_per_region,
        violations: Vec::new(),
        tables_checked: 0,
        media,
        media_violations,
        ledger: Vec::new(),
        access_logs: Vec::new(),
        seconds: 0.0,
    };
    for c in cells? {
        report.counts.insert(c.region, c.counts);
        report.violations.extend(c.violations);
        report.tables_checked += c.tables_checked;
        report.ledger.push(c.ledger);
        report.access_logs.push(c.access);
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Placement of every home-bound row, the transfer ledger and the access logs of one region.
async fn audit_cell(
    p: &Platform,
    cell: &Cell,
    homes: &HashMap<UserId, RegionId>,
) -> Result<CellAudit, Error> {
    let region = cell.id().to_string();
    let mut counts = BTreeMap::new();
    let mut violations = Vec::new();
    let mut tables_checked = 0;
    for t in registry::tables(Scope::Cell) {
        let n = cell.store.db.count_rows(t.name).await?;
        *counts.entry(t.class()).or_default() += n;
        if !t.home_bound() {
            continue;
        }
        tables_checked += 1;
        let Some(owner) = t.owner_column else {
            continue;
        };
        for (user, rows) in cell.store.owners(t.name, owner).await? {
            let home = homes.get(&user);
            if home != Some(cell.id()) {
                violations.push(Violation {
                    region: region.clone(),
                    table: t.name,
                    class: t.class(),
                    user_id: user.to_string(),
                    home_region: home.map(|h| h.to_string()),
                    rows,
                });
            }
        }
    }
    let ledger =
        match reelm_residency::ledger::verify_ledger(&cell.store, &p.config.data_dir, cell.id())
            .await
        {
            Ok(r) => LedgerAudit {
                region: region.clone(),
                entries: r.entries,
                last_seq: r.last_seq,
                refused: r.refused,
                last_checkpoint_seq: r.last_checkpoint_seq,
                unanchored_tail: r.unanchored_tail,
                violation: None,
            },
            Err(reelm_residency::ledger::LedgerError::Tampered {
                verified,
                violation,
                ..
            }) => LedgerAudit {
                region: region.clone(),
                entries: verified,
                last_seq: 0,
                refused: 0,
                last_checkpoint_seq: None,
                unanchored_tail: 0,
                violation: Some(violation.to_string()),
            },
            Err(reelm_residency::ledger::LedgerError::Failed(e)) => return Err(e.into()),
            Err(e) => return Err(Error::Internal(e.to_string())),
        };
    let keys = reelm_residency::ledger::load_public_keys(&p.config.data_dir, cell.id())
        .map_err(|e| Error::Internal(e.to_string()))?;
    let access = match reelm_residency::access_log::verify_access_logs(
        &p.directory,
        &cell.store,
        &cell.ledger,
        &keys,
    )
    .await?
    {
        Ok(r) => AccessLogAudit {
            region: region.clone(),
            people: r.people,
            entries: r.entries,
            checkpoints: r.checkpoints,
            erased: r.erased,
            unanchored: r.unanchored,
            violation: None,
        },
        Err(v) => AccessLogAudit {
            region: region.clone(),
            people: 0,
            entries: 0,
            checkpoints: 0,
            erased: 0,
            unanchored: 0,
            violation: Some(v.to_string()),
        },
    };
    Ok(CellAudit {
        region,
        counts,
        violations,
        tables_checked,
        ledger,
        access,
    })
}

/// Reads every region's media folder and checks each object against the media records: it
/// must be recorded in the same region's store, for a video held there, whose creator lives
/// there. Public content may be served anywhere, but is stored once, in the creator's region.
async fn audit_media(
    p: &Platform,
    homes: &HashMap<UserId, RegionId>,
) -> Result<(Vec<MediaAudit>, Vec<MediaViolation>), Error> {
    let cells = p.cells();
    let listings = futures::future::try_join_all(cells.iter().map(|c| async move {
        let records = c.store.media_placement().await?;
        let objects = c.media.list_keys().await?;
        Ok::<_, Error>((records, objects))
    }))
    .await?;
    // Which region records each key (a key is a video id and a kind: unique platform-wide).
    let mut recorded_in: HashMap<&str, Vec<(usize, &reelm_store::MediaPlacementRow)>> =
        HashMap::new();
    for (i, (records, _)) in listings.iter().enumerate() {
        for r in records {
            recorded_in
                .entry(r.object_key.as_str())
                .or_default()
                .push((i, r));
        }
    }
    let mut audits = Vec::new();
    let mut violations = Vec::new();
    for (i, (cell, (records, objects))) in cells.iter().zip(&listings).enumerate() {
        let region = cell.id().to_string();
        let mut violation = |key: &str, kind: &str, message: String| {
            violations.push(MediaViolation {
                region: region.clone(),
                key: key.to_owned(),
                kind: kind.to_owned(),
                message,
            });
        };
        let stored: std::collections::HashSet<&str> = objects.iter().map(String::as_str).collect();
        for key in objects {
            let holders = recorded_in.get(key.as_str());
            let here = holders.and_then(|h| h.iter().find(|(j, _)| *j == i).map(|(_, r)| *r));
            let Some(record) = here else {
                match holders.and_then(|h| h.first()) {
                    Some((j, r)) => violation(
                        key,
                        "misplaced",
                        format!(
                            "belongs to video {} recorded in region {}, but is stored in {region}",
                            r.video_id,
                            cells[*j].id()
                        ),
                    ),
                    None => violation(
                        key,
                        "orphan",
                        "no video in any region records this object".into(),
                    ),
                }
                continue;
            };
            match record.creator_id {
                None => violation(
                    key,
                    "no_video",
                    format!(
                        "recorded for video {}, which {region}'s store does not hold",
                        record.video_id
                    ),
                ),
                Some(creator) => match homes.get(&creator) {
                    Some(home) if home == cell.id() => {}
                    Some(home) => violation(
                        key,
                        "foreign_creator",
                        format!(
                            "video {}'s creator {creator} lives in {home}, but the object is stored in {region}",
                            record.video_id
                        ),
                    ),
                    None => violation(
                        key,
                        "foreign_creator",
                        format!(
                            "video {}'s creator {creator} is not in the directory",
                            record.video_id
                        ),
                    ),
                },
            }
        }
        let missing = records
            .iter()
            .filter(|r| !stored.contains(r.object_key.as_str()))
            .count() as u64;
        audits.push(MediaAudit {
            region: cell.id().to_string(),
            root: cell.media.root().to_owned(),
            objects: objects.len() as u64,
            missing,
        });
    }
    Ok((audits, violations))
}

/// Verifies `region`'s transfer ledger from its store and the public keys in its keys folder
/// (`reelm ledger verify`); the region's cell must run in this process.
pub async fn verify_region(
    p: &Platform,
    region: &str,
) -> Result<reelm_residency::LedgerReport, reelm_residency::LedgerError> {
    use reelm_residency::LedgerError;
    let id = RegionId::new(region).map_err(|_| LedgerError::UnknownRegion(region.to_owned()))?;
    let cell = p
        .cell(&id)
        .ok_or_else(|| LedgerError::UnknownRegion(region.to_owned()))?;
    reelm_residency::ledger::verify_ledger(&cell.store, &p.config.data_dir, &id).await
}

#[cfg(test)]
mod tests;
