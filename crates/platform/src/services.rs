//! What a cell serves to other regions' cells: a handler per [`CellCall`], registered by path.
//!
//! The platform registers the built-in calls of [`crate::protocol`] when it opens; subsystems
//! register their own (operators' requests about a person, live migration, ...) at start-up
//! with [`CellServices::register`]. The server's mTLS endpoint dispatches every
//! `/cell/<version>/<region>/<path>` through [`CellServices::serve_json`], and an in-process
//! [`crate::CellLink`] calls the same handler with the typed request
//! ([`CellServices::handler`]), so both deployments run the same code.

use crate::protocol::{self, CellCall};
use crate::{Cell, Error};
use futures::future::BoxFuture;
use reelm_core::{DataClass, ErrorCode, RegionId};
use reelm_residency::policy::{Decision, PURPOSE_MODEL_TRAINING, ResidencyPolicy, TransferRequest};
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Who is calling: the region of the calling cell (from its certificate, or this process's own
/// region for an in-process call).
#[derive(Clone, Debug)]
pub struct Caller {
    pub region: RegionId,
}

/// A typed handler of call `C` on a cell of this process.
pub type Handler<C> = Arc<
    dyn Fn(Arc<Cell>, Caller, C) -> BoxFuture<'static, Result<<C as CellCall>::Response, Error>>
        + Send
        + Sync,
>;

type JsonHandler = Arc<
    dyn Fn(Arc<Cell>, Caller, &[u8]) -> BoxFuture<'static, Result<Vec<u8>, Error>> + Send + Sync,
>;

/// The registry of calls this process's cells answer.
#[derive(Default)]
pub struct CellServices {
    typed: RwLock<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    json: RwLock<HashMap<&'static str, JsonHandler>>,
    /// The settings the built-in handlers enforce on the receiving side.
    limits: Limits,
}

/// Receiving-side settings of the built-in calls.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// A trending list never rests on fewer distinct viewers than this.
    pub trending_min_viewers: i64,
    /// Every shared aggregate must rest on at least this many people.
    pub share_min_people: u64,
}

impl std::fmt::Debug for CellServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let paths: Vec<&str> = self
            .json
            .read()
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default();
        f.debug_struct("CellServices")
            .field("paths", &paths)
            .finish()
    }
}

impl CellServices {
    /// A registry with the built-in calls.
    pub fn with_builtins(limits: Limits) -> CellServices {
        let s = CellServices {
            limits,
            ..Default::default()
        };
        builtins(&s);
        s
    }

    /// Registers the handler of call `C` (a later registration of the same call replaces it).
    pub fn register<C, F, Fut>(&self, handler: F)
    where
        C: CellCall,
        F: Fn(Arc<Cell>, Caller, C) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<C::Response, Error>> + Send + 'static,
    {
        let typed: Handler<C> =
            Arc::new(move |cell, caller, req| Box::pin(handler(cell, caller, req)));
        let for_json = typed.clone();
        let json: JsonHandler = Arc::new(move |cell, caller, body| {
            let request = serde_json::from_slice::<C>(body);
            let handler = for_json.clone();
            Box::pin(async move {
                let request = request.map_err(|e| {
                    Error::user(ErrorCode::ValidationFailed, format!("{}: {e}", C::PATH))
                })?;
                let response = handler(cell, caller, request).await?;
                serde_json::to_vec(&response)
                    .map_err(|e| Error::Internal(format!("{}: encode answer: {e}", C::PATH)))
            })
        });
        if let Ok(mut m) = self.typed.write() {
            m.insert(TypeId::of::<C>(), Arc::new(typed));
        }
        if let Ok(mut m) = self.json.write() {
            m.insert(C::PATH, json);
        }
    }

    /// The typed handler of `C`, when registered.
    pub fn handler<C: CellCall>(&self) -> Option<Handler<C>> {
        let any = self.typed.read().ok()?.get(&TypeId::of::<C>())?.clone();
        any.downcast::<Handler<C>>().ok().map(|h| (*h).clone())
    }

    /// Answers the call at `path` with a JSON `body` (the cell endpoint's dispatch).
    pub async fn serve_json(
        &self,
        path: &str,
        cell: Arc<Cell>,
        caller: Caller,
        body: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let handler = self
            .json
            .read()
            .ok()
            .and_then(|m| m.get(path).cloned())
            .ok_or_else(|| {
                Error::user(
                    ErrorCode::NotFound,
                    format!("no cell call {path:?} in protocol {}", protocol::VERSION),
                )
            })?;
        handler(cell, caller, body).await
    }
}

/// Checks a delivery against the residency policy on the receiving side too: the source
/// decided and ledgered it, and a peer cannot push what the policy would refuse.
pub fn admit(
    from: &RegionId,
    to: &RegionId,
    class: DataClass,
    purpose: &str,
    people: Option<u64>,
) -> Result<(), Error> {
    let decision = ResidencyPolicy::embedded().evaluate(&TransferRequest {
        from: from.as_str(),
        to: to.as_str(),
        class,
        purpose,
        distinct_people: people,
    });
    match decision {
        Decision::Allowed { .. } => Ok(()),
        Decision::Refused { reason } => Err(Error::user(
            ErrorCode::Forbidden,
            format!("transfer refused by the residency policy: {reason}"),
        )),
    }
}

fn builtins(s: &CellServices) {
    use protocol::*;
    let limits = s.limits;
    s.register(|cell: Arc<Cell>, _, q: GetVideo| async move {
        Ok(cell.store.video(q.id).await?.as_ref().map(WireVideo::from))
    });
    s.register(|cell: Arc<Cell>, _, q: GetVideos| async move {
        Ok(wire_videos(&cell.store.videos(&q.ids).await?))
    });
    s.register(|cell: Arc<Cell>, _, q: RecentVideos| async move {
        Ok(wire_videos(
            &cell.store.recent_videos(q.limit.clamp(0, 1_000)).await?,
        ))
    });
    s.register(|cell: Arc<Cell>, _, q: TopVideos| async move {
        Ok(wire_videos(
            &cell.store.top_videos(q.limit.clamp(0, 1_000)).await?,
        ))
    });
    s.register(|cell: Arc<Cell>, _, q: VideosByCreators| async move {
        let rows = cell
            .store
            .videos_by_creators(&q.creators, q.after.into(), q.limit.clamp(0, 1_000))
            .await?;
        Ok(wire_videos(&rows))
    });
    s.register(|cell: Arc<Cell>, _, q: CreatorVideos| async move {
        let mut out = Vec::new();
        for c in q.creators.iter().take(1_000) {
            out.push((*c, wire_videos(&cell.creator_videos(*c).await?)));
        }
        Ok(out)
    });
    s.register(|cell: Arc<Cell>, _, q: CommentsOn| async move {
        let rows = cell
            .store
            .comments_on(q.video, q.after.into(), q.limit.clamp(0, 1_000))
            .await?;
        Ok(rows.into_iter().map(WireComment::from).collect())
    });
    s.register(move |cell: Arc<Cell>, _, q: Trending| async move {
        // Never below the region's own threshold: a trending list must not single anyone out.
        let min = q.min_viewers.max(limits.trending_min_viewers);
        Ok(cell
            .events
            .state
            .trending(q.now_ms, min, q.limit.min(1_000)))
    });
    s.register(|cell: Arc<Cell>, _, q: People| async move {
        Ok(cell
            .people(&q.ids)
            .await?
            .into_iter()
            .map(|p| WirePerson {
                id: p.id,
                handle: p.handle,
                display_name: p.display_name,
            })
            .collect())
    });
    s.register(|cell: Arc<Cell>, _, q: Profile| async move {
        Ok(cell.store.profile(q.user).await?.map(WireProfile::from))
    });
    s.register(
        |cell: Arc<Cell>, caller: Caller, d: DeliverVideoCounters| async move {
            admit(
                &caller.region,
                cell.id(),
                DataClass::Public,
                &d.purpose,
                None,
            )?;
            cell.store
                .adjust_video_counters(d.video, d.delta.into())
                .await?;
            Ok(Done {})
        },
    );
    s.register(
        |cell: Arc<Cell>, caller: Caller, d: DeliverProfileCounters| async move {
            admit(
                &caller.region,
                cell.id(),
                DataClass::Public,
                &d.purpose,
                None,
            )?;
            cell.store
                .adjust_profile_counters(d.user, d.delta.into())
                .await?;
            Ok(Done {})
        },
    );
    s.register(
        move |cell: Arc<Cell>, caller: Caller, d: DeliverAggregates| async move {
            let shared: reelm_events::Imported = d.shared.into();
            // Every value must rest on enough people (recomputed here, not taken from the
            // sender), and the policy must admit it.
            let fewest = shared.fewest_people();
            let k = limits.share_min_people;
            if fewest < k {
                return Err(Error::user(
                    ErrorCode::Forbidden,
                    format!(
                        "aggregates must rest on at least {k} people each; one rests on {fewest}"
                    ),
                ));
            }
            admit(
                &caller.region,
                cell.id(),
                DataClass::Aggregate,
                PURPOSE_MODEL_TRAINING,
                Some(fewest),
            )?;
            cell.events
                .state
                .set_imported(caller.region.clone(), shared);
            Ok(Done {})
        },
    );
}
