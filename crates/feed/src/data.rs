//! Interaction data and the dataset loaders (`movielens:<dir>`, `csv:<file>`).
//!
//! Users and items are re-indexed densely (`0..n_users`, `0..n_items`) in order of first
//! appearance; the original ids are kept for reports. A (user, item) pair appears at most once:
//! duplicates keep the latest timestamp and the largest weight.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Errors of the loaders and of the evaluation harness.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("dataset spec {0:?} not understood: expected \"movielens:DIR\" or \"csv:FILE\"")]
    BadSpec(String),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {msg}")]
    Malformed {
        path: PathBuf,
        line: usize,
        msg: String,
    },
    #[error("{0}: no interactions")]
    Empty(PathBuf),
}

/// One implicit interaction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    pub item: u32,
    pub ts: i64,
    pub weight: f32,
}

/// Per-user interaction lists over a dense item index space.
///
/// A split or a region's share of the data keeps the *same* index spaces as the full data set,
/// with the rows of users outside it left empty, so ids never need translating.
#[derive(Debug, Clone, PartialEq)]
pub struct Interactions {
    pub n_items: usize,
    /// `rows[u]` is user `u`'s events, sorted by (timestamp, item).
    pub rows: Vec<Vec<Event>>,
}

impl Interactions {
    /// Builds from per-user rows; sorts each row by (ts, item) and drops duplicate items.
    pub fn from_rows(n_items: usize, mut rows: Vec<Vec<Event>>) -> Self {
        for row in &mut rows {
            sort_dedup(row);
        }
        Self { n_items, rows }
    }

    pub fn n_users(&self) -> usize {
        self.rows.len()
    }

    pub fn n_interactions(&self) -> usize {
        self.rows.iter().map(Vec::len).sum()
    }

    /// Distinct users per item.
    pub fn item_counts(&self) -> Vec<u32> {
        let mut c = vec![0u32; self.n_items];
        for row in &self.rows {
            for e in row {
                c[e.item as usize] += 1;
            }
        }
        c
    }

    /// Item → users (column view), used by iALS.
    pub fn item_users(&self) -> Vec<Vec<u32>> {
        let mut cols = vec![Vec::new(); self.n_items];
        for (u, row) in self.rows.iter().enumerate() {
            for e in row {
                cols[e.item as usize].push(u as u32);
            }
        }
        cols
    }

    /// Same index spaces, only the rows of users for whom `keep(u)` holds.
    pub fn restrict_users(&self, keep: impl Fn(usize) -> bool) -> Self {
        let rows = self
            .rows
            .iter()
            .enumerate()
            .map(|(u, r)| if keep(u) { r.clone() } else { Vec::new() })
            .collect();
        Self {
            n_items: self.n_items,
            rows,
        }
    }
}

fn sort_dedup(row: &mut Vec<Event>) {
    // Dedup by item: keep the latest timestamp and the largest weight.
    row.sort_by(|a, b| a.item.cmp(&b.item).then(a.ts.cmp(&b.ts)));
    let mut out: Vec<Event> = Vec::with_capacity(row.len());
    for e in row.drain(..) {
        match out.last_mut() {
            Some(last) if last.item == e.item => {
                last.ts = last.ts.max(e.ts);
                last.weight = last.weight.max(e.weight);
            }
            _ => out.push(e),
        }
    }
    out.sort_by(|a, b| a.ts.cmp(&b.ts).then(a.item.cmp(&b.item)));
    *row = out;
}

/// A loaded data set: interactions plus the original ids and each user's region key.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub name: String,
    pub interactions: Interactions,
    pub user_ids: Vec<String>,
    pub item_ids: Vec<String>,
    /// Per user: the region (0..3) under the documented 3-region mapping of the loader.
    pub region3: Vec<u8>,
}

/// Loads `movielens:<dir>` or `csv:<file>`.
pub fn load(spec: &str) -> Result<Dataset, DataError> {
    if let Some(dir) = spec.strip_prefix("movielens:") {
        load_movielens(Path::new(dir))
    } else if let Some(file) = spec.strip_prefix("csv:") {
        load_csv(Path::new(file))
    } else {
        Err(DataError::BadSpec(spec.to_string()))
    }
}

fn read(path: &Path) -> Result<String, DataError> {
    std::fs::read_to_string(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[derive(Default)]
struct Builder {
    users: HashMap<String, u32>,
    items: HashMap<String, u32>,
    user_ids: Vec<String>,
    item_ids: Vec<String>,
    rows: Vec<Vec<Event>>,
}

impl Builder {
    fn push(&mut self, user: &str, item: &str, ts: i64, weight: f32) {
        let u = *self.users.entry(user.to_string()).or_insert_with(|| {
            self.user_ids.push(user.to_string());
            self.rows.push(Vec::new());
            (self.user_ids.len() - 1) as u32
        });
        let i = *self.items.entry(item.to_string()).or_insert_with(|| {
            self.item_ids.push(item.to_string());
            (self.item_ids.len() - 1) as u32
        });
        self.rows[u as usize].push(Event {
            item: i,
            ts,
            weight,
        });
    }
}

/// MovieLens region of a US zip code (documented mapping for the sovereign experiment):
/// first digit 0–3 → region 0 (east), 4–6 → region 1 (central), 7–9 → region 2 (west);
/// a zip that does not start with a digit (Canadian postal codes and the like) → region 0.
pub fn movielens_region(zip: &str) -> u8 {
    match zip.trim().bytes().next() {
        Some(b'0'..=b'3') => 0,
        Some(b'4'..=b'6') => 1,
        Some(b'7'..=b'9') => 2,
        _ => 0,
    }
}

/// CSV region of a user id: FNV-1a hash of the id bytes modulo 3 (stable across runs and
/// platforms).
pub fn hash_region(user: &str) -> u8 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in user.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % 3) as u8
}

fn malformed(path: &Path, line: usize, msg: impl Into<String>) -> DataError {
    DataError::Malformed {
        path: path.to_path_buf(),
        line,
        msg: msg.into(),
    }
}

/// Reads `<dir>/u.data` (tab-separated `user item rating ts`, every rating an implicit
/// positive of weight 1) and `<dir>/u.user` (`id|age|gender|occupation|zip`) for regions.
/// Users absent from `u.user` go to region 0.
pub fn load_movielens(dir: &Path) -> Result<Dataset, DataError> {
    let data_path = dir.join("u.data");
    let text = read(&data_path)?;
    let mut b = Builder::default();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 4 {
            return Err(malformed(
                &data_path,
                line_no,
                format!("expected 4 tab-separated fields, found {}", f.len()),
            ));
        }
        let user = f[0].trim();
        let item = f[1].trim();
        if user.is_empty() || item.is_empty() {
            return Err(malformed(&data_path, line_no, "empty user or item id"));
        }
        f[2].trim()
            .parse::<f32>()
            .map_err(|_| malformed(&data_path, line_no, format!("bad rating {:?}", f[2])))?;
        let ts = f[3]
            .trim()
            .parse::<i64>()
            .map_err(|_| malformed(&data_path, line_no, format!("bad timestamp {:?}", f[3])))?;
        b.push(user, item, ts, 1.0);
    }
    if b.user_ids.is_empty() {
        return Err(DataError::Empty(data_path));
    }
    let user_path = dir.join("u.user");
    let users_text = read(&user_path)?;
    let mut zips: HashMap<&str, &str> = HashMap::new();
    for (n, line) in users_text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('|').collect();
        if f.len() < 5 {
            return Err(malformed(
                &user_path,
                n + 1,
                format!("expected 5 |-separated fields, found {}", f.len()),
            ));
        }
        zips.insert(f[0].trim(), f[4]);
    }
    let region3 = b
        .user_ids
        .iter()
        .map(|u| zips.get(u.as_str()).map_or(0, |z| movielens_region(z)))
        .collect();
    Ok(Dataset {
        name: format!("movielens:{}", dir.display()),
        interactions: Interactions::from_rows(b.item_ids.len(), b.rows),
        user_ids: b.user_ids,
        item_ids: b.item_ids,
        region3,
    })
}

/// Reads `user,item,timestamp[,weight]`. A first line whose timestamp field is not an integer
/// is taken as a header. Weight defaults to 1 and must be finite and > 0.
pub fn load_csv(path: &Path) -> Result<Dataset, DataError> {
    let text = read(path)?;
    let mut b = Builder::default();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() != 3 && f.len() != 4 {
            return Err(malformed(
                path,
                line_no,
                format!(
                    "expected user,item,timestamp[,weight], found {} fields",
                    f.len()
                ),
            ));
        }
        let ts = match f[2].parse::<i64>() {
            Ok(t) => t,
            Err(_) if line_no == 1 => continue, // header
            Err(_) => {
                return Err(malformed(
                    path,
                    line_no,
                    format!("bad timestamp {:?}", f[2]),
                ));
            }
        };
        let weight = match f.get(3) {
            None => 1.0,
            Some(w) => {
                let w = w
                    .parse::<f32>()
                    .map_err(|_| malformed(path, line_no, format!("bad weight {w:?}")))?;
                if !(w.is_finite() && w > 0.0) {
                    return Err(malformed(
                        path,
                        line_no,
                        format!("weight must be > 0, got {w}"),
                    ));
                }
                w
            }
        };
        if f[0].is_empty() || f[1].is_empty() {
            return Err(malformed(path, line_no, "empty user or item id"));
        }
        b.push(f[0], f[1], ts, weight);
    }
    if b.user_ids.is_empty() {
        return Err(DataError::Empty(path.to_path_buf()));
    }
    let region3 = b.user_ids.iter().map(|u| hash_region(u)).collect();
    Ok(Dataset {
        name: format!("csv:{}", path.display()),
        interactions: Interactions::from_rows(b.item_ids.len(), b.rows),
        user_ids: b.user_ids,
        item_ids: b.item_ids,
        region3,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("reelm-feed-{}-{}", name, std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn movielens_good() {
        let d = tmpdir("ml-good");
        std::fs::write(
            d.join("u.data"),
            "1\t10\t5\t100\n1\t11\t3\t50\n2\t10\t4\t70\n",
        )
        .unwrap();
        std::fs::write(
            d.join("u.user"),
            "1|24|M|technician|85711\n2|53|F|other|T8H1N\n",
        )
        .unwrap();
        let ds = load(&format!("movielens:{}", d.display())).unwrap();
        assert_eq!(ds.interactions.n_users(), 2);
        assert_eq!(ds.interactions.n_items, 2);
        // user "1" sorted by time: item "11" (ts 50) then "10" (ts 100)
        let row = &ds.interactions.rows[0];
        assert_eq!(ds.item_ids[row[0].item as usize], "11");
        assert_eq!(ds.item_ids[row[1].item as usize], "10");
        assert_eq!(ds.region3, vec![2, 0]);
    }

    #[test]
    fn movielens_missing_and_malformed() {
        let d = tmpdir("ml-bad");
        let err = load_movielens(&d).unwrap_err();
        assert!(matches!(err, DataError::Io { .. }), "{err}");
        std::fs::write(d.join("u.data"), "1\t10\t5\t100\n1\t11\tx\n").unwrap();
        let err = load_movielens(&d).unwrap_err();
        match err {
            DataError::Malformed { line, .. } => assert_eq!(line, 2),
            e => panic!("unexpected {e}"),
        }
        std::fs::write(d.join("u.data"), "1\t10\t5\t100\n1\t11\t3\tyesterday\n").unwrap();
        let msg = load_movielens(&d).unwrap_err().to_string();
        assert!(msg.contains(":2:") && msg.contains("timestamp"), "{msg}");
    }

    #[test]
    fn csv_good_with_header_weight_and_duplicates() {
        let d = tmpdir("csv-good");
        let p = d.join("x.csv");
        std::fs::write(
            &p,
            "user,item,timestamp,weight\nalice,v1,10,2.5\nalice,v2,5\nbob,v1,7\nalice,v1,12,1\n",
        )
        .unwrap();
        let ds = load(&format!("csv:{}", p.display())).unwrap();
        assert_eq!(ds.interactions.n_users(), 2);
        assert_eq!(ds.interactions.n_interactions(), 3);
        let alice = &ds.interactions.rows[0];
        assert_eq!(alice.len(), 2);
        assert_eq!(alice[1].ts, 12);
        assert_eq!(alice[1].weight, 2.5);
        assert_eq!(ds.region3[0], hash_region("alice"));
    }

    #[test]
    fn csv_malformed_reports_line() {
        let d = tmpdir("csv-bad");
        let p = d.join("x.csv");
        std::fs::write(&p, "a,b,1\na,c\n").unwrap();
        match load_csv(&p).unwrap_err() {
            DataError::Malformed { line, .. } => assert_eq!(line, 2),
            e => panic!("unexpected {e}"),
        }
        std::fs::write(&p, "a,b,1\na,c,2,-1\n").unwrap();
        assert!(load_csv(&p).unwrap_err().to_string().contains(":2:"));
        std::fs::write(&p, "a,b,1\na,c,soon\n").unwrap();
        assert!(load_csv(&p).unwrap_err().to_string().contains(":2:"));
        std::fs::write(&p, "user,item,timestamp\n").unwrap();
        assert!(matches!(load_csv(&p).unwrap_err(), DataError::Empty(_)));
        assert!(matches!(
            load_csv(&d.join("nope.csv")).unwrap_err(),
            DataError::Io { .. }
        ));
        assert!(matches!(
            load("parquet:x").unwrap_err(),
            DataError::BadSpec(_)
        ));
    }

    #[test]
    fn region_mapping() {
        assert_eq!(movielens_region("02139"), 0);
        assert_eq!(movielens_region("39000"), 0);
        assert_eq!(movielens_region("55414"), 1);
        assert_eq!(movielens_region("94043"), 2);
        assert_eq!(movielens_region("V3N4P"), 0);
        assert_eq!(movielens_region(""), 0);
        assert!(hash_region("x") < 3);
    }
}
