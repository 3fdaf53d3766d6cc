//! Upload screening: the ordered stages a new video passes after its container is validated and
//! before anyone but its creator can see it. Trust & safety plugs its stages in here (hash
//! lists, fingerprints, classifiers, regional policy); the platform runs them as a background
//! job and records the outcome on the video, which the creator can read as its status
//! (`processing`, `published`, `held`, `blocked`).
//!
//! Stages run in order; the first verdict other than [`Verdict::Publish`] ends the run, except
//! [`Verdict::GeoRestrict`], whose regions accumulate while later stages still run.

use crate::Error;
use futures::future::BoxFuture;
use reelm_core::RegionId;
use reelm_store::VideoRow;

/// What a stage decides about an upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing found: the next stage runs, and after the last one the video is published.
    Publish,
    /// A person must look at it first: the video stays visible only to its creator.
    HoldForReview { reason: String },
    /// Publish, but never show it to viewers whose home region is one of `regions`.
    GeoRestrict {
        regions: Vec<RegionId>,
        reason: String,
    },
    /// Never publish.
    Block { reason: String },
}

/// An upload under screening: the stored video row (status `processing`) and its media bytes.
pub struct Upload<'a> {
    pub video: &'a VideoRow,
    pub media: &'a [u8],
    /// The region whose cell holds the video (the creator's home).
    pub region: &'a RegionId,
}

/// One stage of screening.
pub trait ScreeningStage: Send + Sync {
    /// A short name, recorded with the stage's verdict.
    fn name(&self) -> &str;
    /// Decides about `upload`. An `Err` is our failure: the screening job retries it.
    fn screen<'a>(&'a self, upload: &'a Upload<'a>) -> BoxFuture<'a, Result<Verdict, Error>>;
}

/// The outcome of all stages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// `published`, `held` or `blocked`.
    pub status: &'static str,
    /// Regions where the video must not be shown (for a published video).
    pub restricted_regions: Vec<RegionId>,
    /// Why, when not simply published: `<stage>: <reason>`.
    pub reason: Option<String>,
}

/// Runs `stages` in order over `upload`.
pub async fn run_stages(
    stages: &[std::sync::Arc<dyn ScreeningStage>],
    upload: &Upload<'_>,
) -> Result<Outcome, Error> {
    let mut restricted: Vec<RegionId> = Vec::new();
    let mut reasons: Vec<String> = Vec::new();
    for stage in stages {
        match stage.screen(upload).await? {
            Verdict::Publish => {}
            Verdict::GeoRestrict { regions, reason } => {
                for r in regions {
                    if !restricted.contains(&r) {
                        restricted.push(r);
                    }
                }
                reasons.push(format!("{}: {reason}", stage.name()));
            }
            Verdict::HoldForReview { reason } => {
                return Ok(Outcome {
                    status: "held",
                    restricted_regions: restricted,
                    reason: Some(format!("{}: {reason}", stage.name())),
                });
            }
            Verdict::Block { reason } => {
                return Ok(Outcome {
                    status: "blocked",
                    restricted_regions: restricted,
                    reason: Some(format!("{}: {reason}", stage.name())),
                });
            }
        }
    }
    Ok(Outcome {
        status: "published",
        restricted_regions: restricted,
        reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
    })
}
