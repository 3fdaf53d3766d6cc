//! The transfer gateway: the one path by which a write reaches a cell other than the
//! requester's home. Today it carries only public counter deltas (a like from an EU viewer
//! bumps the like count of a US video): counts are `public`, hold no id of the person, and are
//! the only thing the residency policy lets cross a region boundary outside a migration.

use crate::error::AppError;
use crate::platform::Cell;
use reelm_core::{DataClass, UserId, VideoId};
use reelm_store::{ProfileCounterDelta, VideoCounterDelta};

/// Checks that a class may be sent from one region to another. Personal and behavioral data
/// never may (only an owner's migration order may move them, and that is not this path).
pub fn check_transfer(class: DataClass) -> Result<(), AppError> {
    if class.bound_to_home_region() {
        return Err(AppError::Internal(format!(
            "refused: {class} data may not leave its home region"
        )));
    }
    Ok(())
}

pub async fn video_counters(
    target: &Cell,
    video: VideoId,
    delta: VideoCounterDelta,
) -> Result<(), AppError> {
    check_transfer(DataClass::Public)?;
    target.store.adjust_video_counters(video, delta).await?;
    Ok(())
}

pub async fn profile_counters(
    target: &Cell,
    user: UserId,
    delta: ProfileCounterDelta,
) -> Result<(), AppError> {
    check_transfer(DataClass::Public)?;
    target.store.adjust_profile_counters(user, delta).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_and_aggregate_classes_pass() {
        for class in DataClass::ALL {
            assert_eq!(
                check_transfer(class).is_ok(),
                !class.bound_to_home_region(),
                "{class}"
            );
        }
    }
}
