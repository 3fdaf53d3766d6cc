//! The residency audit: reads every region's store and the directory, counts rows per data
//! class per region, and proves promise 1 of PLATFORM.md: every row of a home-bound class
//! (personal, sensitive, behavioral, derived) sits in the home region of the person it belongs
//! to. It trusts nothing but the stores themselves.

use crate::error::AppError;
use crate::platform::Platform;
use reelm_core::{DataClass, RegionId, UserId};
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

#[derive(Debug, Serialize)]
pub struct AuditReport {
    /// region → class → rows.
    pub counts: BTreeMap<String, BTreeMap<DataClass, i64>>,
    pub users_per_region: BTreeMap<String, i64>,
    pub violations: Vec<Violation>,
    pub tables_checked: usize,
    /// Each region's transfer ledger, verified (hashes, links, signed checkpoints).
    pub ledger: Vec<LedgerAudit>,
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

impl AuditReport {
    pub fn passed(&self) -> bool {
        self.violations.is_empty() && self.ledger.iter().all(|l| l.violation.is_none())
    }

    /// Placement violations plus broken ledgers.
    pub fn violation_count(&self) -> usize {
        self.violations.len() + self.ledger.iter().filter(|l| l.violation.is_some()).count()
    }

    /// A human table: counts per class and region, the ledgers, then each violation.
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
        if self.passed() {
            out.push_str(&format!(
                "\nPASS: every home-bound row of {} tables is in its owner's home region.\n",
                self.tables_checked
            ));
        } else {
            out.push_str(&format!(
                "\nFAIL: {} violation(s):\n",
                self.violation_count()
            ));
            for v in &self.violations {
                out.push_str(&format!("  - {v}\n"));
            }
            for l in &self.ledger {
                if let Some(v) = &l.violation {
                    out.push_str(&format!("  - region {} transfer ledger: {v}\n", l.region));
                }
            }
        }
        out
    }
}

pub async fn run(p: &Platform) -> Result<AuditReport, AppError> {
    let homes: HashMap<UserId, RegionId> = p
        .directory
        .all()
        .await?
        .into_iter()
        .map(|e| (e.user_id, e.region))
        .collect();
    let mut report = AuditReport {
        counts: BTreeMap::new(),
        users_per_region: BTreeMap::new(),
        violations: Vec::new(),
        tables_checked: 0,
        ledger: Vec::new(),
    };
    for region in homes.values() {
        *report
            .users_per_region
            .entry(region.to_string())
            .or_default() += 1;
    }
    for cell in p.cells() {
        let region = cell.id().to_string();
        let counts = report.counts.entry(region.clone()).or_default();
        for t in registry::tables(Scope::Cell) {
            let n = cell.store.db.count_rows(t.name).await?;
            *counts.entry(t.class()).or_default() += n;
            if !t.home_bound() {
                continue;
            }
            report.tables_checked += 1;
            let Some(owner) = t.owner_column else {
                continue;
            };
            for (user, rows) in cell.store.owners(t.name, owner).await? {
                let home = homes.get(&user);
                if home != Some(cell.id()) {
                    report.violations.push(Violation {
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
    }
    for cell in p.cells() {
        let region = cell.id().to_string();
        let audit = match crate::ledger::verify_region(p, &region).await {
            Ok(r) => LedgerAudit {
                region,
                entries: r.entries,
                last_seq: r.last_seq,
                refused: r.refused,
                last_checkpoint_seq: r.last_checkpoint_seq,
                unanchored_tail: r.unanchored_tail,
                violation: None,
            },
            Err(crate::ledger::LedgerError::Tampered {
                verified,
                violation,
                ..
            }) => LedgerAudit {
                region,
                entries: verified,
                last_seq: 0,
                refused: 0,
                last_checkpoint_seq: None,
                unanchored_tail: 0,
                violation: Some(violation.to_string()),
            },
            Err(crate::ledger::LedgerError::Failed(e)) => return Err(e),
            Err(e) => return Err(AppError::Internal(e.to_string())),
        };
        report.ledger.push(audit);
    }
    Ok(report)
}
