//! Upload screening as a background job: an upload waits in `processing` while the job
//! [`SCREEN_UPLOAD`] runs the platform's screening stages over it in the creator's home cell,
//! then records the outcome on the video (`published`, possibly restricted in some regions;
//! `held` for review; or `blocked`) and, when published, tells the platform's content
//! listeners (the candidate pool takes it at once).
//!
//! The job is safe to run twice: the outcome is recorded only while the video is still in
//! `processing`, so a retry after a crash neither publishes twice nor overrides a decision.

use reelm_core::{RegionId, UserId, VideoId};
use reelm_jobs::{JobContext, JobError, JobHandler};
use reelm_platform::screening::{Upload, run_stages};
use reelm_platform::{Cell, Error, Platform};
use reelm_store::VideoRow;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Weak};

/// The job kind.
pub const SCREEN_UPLOAD: &str = "screen-upload";

/// The job's payload: which video, in which region's cell (ids only, nothing personal).
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    video: VideoId,
    region: RegionId,
}

/// Enqueues the screening of `video` in its creator's home cell `home`.
pub(crate) async fn enqueue(home: &Cell, video: &VideoRow) -> Result<(), Error> {
    let payload = Payload {
        video: video.id,
        region: home.id().clone(),
    };
    home.jobs
        .enqueue(SCREEN_UPLOAD, &payload, Some(video.creator_id))
        .await
        .map_err(|e| {
            Error::Internal(format!("cannot enqueue the screening of {}: {e}", video.id))
        })?;
    Ok(())
}

/// Runs the screening stages over an upload (see the module doc).
pub struct ScreenUploads {
    platform: Weak<Platform>,
}

impl ScreenUploads {
    pub fn new(platform: &Arc<Platform>) -> ScreenUploads {
        ScreenUploads {
            platform: Arc::downgrade(platform),
        }
    }
}

impl JobHandler for ScreenUploads {
    fn kind(&self) -> &'static str {
        SCREEN_UPLOAD
    }

    async fn run(&self, ctx: &mut JobContext) -> Result<(), JobError> {
        let payload: Payload = ctx.payload()?;
        let p = self
            .platform
            .upgrade()
            .ok_or_else(|| JobError::retry("the platform is shutting down"))?;
        let cell = p.cell(&payload.region).cloned().ok_or_else(|| {
            JobError::permanent(format!("region {} is not served here", payload.region))
        })?;
        let Some(video) = cell.store.video(payload.video).await? else {
            // Erased before it was screened: nothing left to do.
            return Ok(());
        };
        if video.status != "processing" {
            return Ok(());
        }
        ctx.progress(0, 1).await?;
        let media = cell
            .media
            .get(&video.media_key)
            .await
            .map_err(|e| JobError::retry(format!("media of {}: {e}", video.id)))?;
        let stages = p.screening_stages();
        let upload = Upload {
            video: &video,
            media: &media,
            region: cell.id(),
        };
        let outcome = run_stages(&stages, &upload)
            .await
            .map_err(|e| JobError::retry(format!("screening {}: {e}", video.id)))?;
        let restricted: Vec<&str> = outcome
            .restricted_regions
            .iter()
            .map(RegionId::as_str)
            .collect();
        let changed = cell
            .store
            .finish_screening(
                video.id,
                outcome.status,
                &restricted.join(" "),
                outcome.reason.as_deref(),
            )
            .await?;
        if changed {
            forget_cached(&cell, video.creator_id);
            tracing::info!(video = %video.id, status = outcome.status, "upload screened");
            if outcome.status == "published"
                && let Some(row) = cell.store.video(video.id).await?
            {
                p.video_published(&cell, &row);
            }
        }
        ctx.progress(1, 1).await?;
        Ok(())
    }
}

fn forget_cached(cell: &Cell, creator: UserId) {
    cell.cache.creator_videos.invalidate(&creator);
    cell.cache.people.invalidate(&creator);
}

/// The job handlers of this crate, for [`Platform::start_jobs`].
pub fn job_handlers(platform: &Arc<Platform>) -> reelm_jobs::Handlers {
    reelm_jobs::Handlers::new().with(ScreenUploads::new(platform))
}
