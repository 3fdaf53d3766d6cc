//! Sovereign learning in serving: every region shares its k-anonymous aggregates (pairs of
//! videos engaged by ≥ k distinct people, distinct viewers of videos seen by ≥ k) with every
//! other region, through the transfer gateway. Each transfer is decided by the residency
//! policy with the smallest number of people behind any shared value, and ledgered in the
//! source region; a refusal shares nothing. Per-person rows never move: only these counts do.

use reelm_platform::{Error, Platform, gateway};
use reelm_residency::Decision;

/// Shares every local region's aggregates with every other region.
pub async fn share_aggregates(p: &Platform) -> Result<(), Error> {
    let k = i64::from(p.config.feed.share_min_people);
    for source in p.cells() {
        let shared = source.events.state.shareable(k);
        if shared.co.is_empty() && shared.viewers.is_empty() {
            continue;
        }
        for target in p.links() {
            if target.id() == source.id() {
                continue;
            }
            // One region out of reach does not keep the others from their share.
            match gateway::aggregates(source, target, shared.clone()).await {
                Ok(Decision::Allowed { .. }) => {}
                Ok(Decision::Refused { reason }) => {
                    tracing::warn!(from = %source.id(), to = %target.id(), %reason, "aggregates not shared");
                }
                Err(e) => {
                    tracing::warn!(from = %source.id(), to = %target.id(), error = %e, "aggregates not delivered");
                }
            }
        }
    }
    Ok(())
}
