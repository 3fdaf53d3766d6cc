//! The transfer gateway: the one path by which data reaches a region other than the one it
//! comes from. It carries public counter deltas (a like from an EU viewer bumps the like
//! count of a US video) and k-anonymous feed aggregates, delivered through the target's
//! [`CellLink`] (in this process, or over mutual TLS to another). Every transfer is decided by the residency policy
//! (`policy/residency.toml`, see [`reelm_residency::policy`]) and the decision, allowed or refused, is
//! appended to the hash-chained ledger of the SOURCE region (see [`reelm_residency::ledger`]) before
//! anything is sent. A write within one region is not a transfer and is not ledgered.

use crate::Error;
use crate::link::CellLink;
use crate::platform::Cell;
use reelm_core::{DataClass, RegionId, UserId, VideoId};
use reelm_residency::policy::{Decision, ResidencyPolicy, TransferRequest};
use reelm_store::{ProfileCounterDelta, VideoCounterDelta};

/// What is to be transferred.
#[derive(Clone, Copy, Debug)]
pub struct Transfer<'a> {
    pub class: DataClass,
    pub purpose: &'a str,
    /// What moves, e.g. `"video_counters"`; never a person's data.
    pub object: &'a str,
    /// For aggregates: how many distinct people the value was computed from.
    pub distinct_people: Option<u64>,
}

/// A ledgered decision: `{class, decision, from, object, purpose, reason, to}`, no person's id.
/// The fields are declared in sorted order, so serde_json writes canonical JSON directly (the
/// same bytes as [`reelm_vault::canonical_json`], which a test checks) without the detour
/// through a `serde_json::Value` on the gateway's hot path.
#[derive(serde::Serialize)]
struct DecisionRecord<'a> {
    class: DataClass,
    decision: &'a str,
    from: &'a str,
    object: &'a str,
    purpose: &'a str,
    reason: &'a str,
    to: &'a str,
}

impl DecisionRecord<'_> {
    fn canonical_json(&self) -> Result<String, Error> {
        serde_json::to_string(self).map_err(|e| Error::Internal(format!("ledger payload: {e}")))
    }
}

/// Decides a transfer from `source` to `to` under the residency policy and, when the regions
/// differ, appends the decision to the source region's ledger and waits until it is stored
/// (concurrent decisions share one transaction: group commit, see [`reelm_residency::ledger`]). Errors
/// only when the decision could not be ledgered; a refusal is an `Ok(Decision::Refused)`.
pub async fn check(source: &Cell, to: &RegionId, t: &Transfer<'_>) -> Result<Decision, Error> {
    let from = source.id();
    if from == to {
        return Ok(Decision::Allowed {
            rule: "same-region".into(),
            legal_basis: "not a cross-region transfer".into(),
        });
    }
    let decision = ResidencyPolicy::embedded().evaluate(&TransferRequest {
        from: from.as_str(),
        to: to.as_str(),
        class: t.class,
        purpose: t.purpose,
        distinct_people: t.distinct_people,
    });
    let reason = decision.reason();
    let payload = DecisionRecord {
        class: t.class,
        decision: decision.as_str(),
        from: from.as_str(),
        object: t.object,
        purpose: t.purpose,
        reason: &reason,
        to: to.as_str(),
    }
    .canonical_json()?;
    source
        .ledger
        .append(reelm_residency::ledger::KIND_TRANSFER, payload)
        .await?;
    Ok(decision)
}

/// [`check`], turning a refusal into an error: nothing is sent.
pub async fn require(source: &Cell, to: &RegionId, t: &Transfer<'_>) -> Result<(), Error> {
    match check(source, to, t).await? {
        Decision::Allowed { .. } => Ok(()),
        Decision::Refused { reason } => Err(Error::Internal(reason)),
    }
}

/// Sends a public counter delta for `video` from the requester's home cell `source` to the
/// video's cell `target`.
pub async fn video_counters(
    source: &Cell,
    target: &CellLink,
    purpose: &str,
    video: VideoId,
    delta: VideoCounterDelta,
) -> Result<(), Error> {
    let t = Transfer {
        class: DataClass::Public,
        purpose,
        object: "video_counters",
        distinct_people: None,
    };
    require(source, target.id(), &t).await?;
    target.apply_video_counters(purpose, video, delta).await
}

/// Sends a public counter delta for `user`'s profile from `source` to the profile's cell.
pub async fn profile_counters(
    source: &Cell,
    target: &CellLink,
    purpose: &str,
    user: UserId,
    delta: ProfileCounterDelta,
) -> Result<(), Error> {
    let t = Transfer {
        class: DataClass::Public,
        purpose,
        object: "profile_counters",
        distinct_people: None,
    };
    require(source, target.id(), &t).await?;
    target.apply_profile_counters(purpose, user, delta).await
}

/// Shares `source`'s k-anonymous feed aggregates with `target` (purpose model_training). The
/// transfer is decided with the smallest number of people behind any shared value and
/// ledgered in the source region; a refusal sends nothing and is returned as the decision.
pub async fn aggregates(
    source: &Cell,
    target: &CellLink,
    shared: reelm_events::Imported,
) -> Result<Decision, Error> {
    let t = Transfer {
        class: DataClass::Aggregate,
        purpose: reelm_residency::policy::PURPOSE_MODEL_TRAINING,
        object: "feed_aggregates",
        distinct_people: Some(shared.fewest_people()),
    };
    let decision = check(source, target.id(), &t).await?;
    if decision.allowed() {
        target.import_aggregates(source.id(), shared).await?;
    }
    Ok(decision)
}

#[cfg(test)]
mod tests {
    use super::DecisionRecord;
    use reelm_core::DataClass;
    use reelm_residency::policy::{PURPOSE_PUBLIC_COUNTER, ResidencyPolicy, TransferRequest};

    #[test]
    fn decision_records_are_canonical_json() {
        for (class, reason) in [
            (DataClass::Public, "allowed by rule \"public-anywhere\" (x)"),
            (DataClass::Behavioral, "refused: ünïcode, \\ and \n"),
        ] {
            let r = DecisionRecord {
                class,
                decision: "allowed",
                from: "eu",
                object: "video_counters",
                purpose: PURPOSE_PUBLIC_COUNTER,
                reason,
                to: "us",
            };
            assert_eq!(
                r.canonical_json().unwrap(),
                reelm_vault::canonical_json(&r).unwrap()
            );
        }
    }

    #[test]
    fn only_public_and_aggregate_classes_pass_for_counters() {
        for class in DataClass::ALL {
            let d = ResidencyPolicy::embedded().evaluate(&TransferRequest {
                from: "eu",
                to: "us",
                class,
                purpose: PURPOSE_PUBLIC_COUNTER,
                distinct_people: Some(100),
            });
            assert_eq!(
                d.allowed(),
                matches!(class, DataClass::Public | DataClass::Aggregate),
                "{class}"
            );
        }
    }
}
