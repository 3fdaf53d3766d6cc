//! reelm-feed owns recommendation for reelm: the models that rank the For You feed, candidate
//! generation (later), and the offline evaluation harness (`reelm eval`) that measures them
//! against published baselines on real interaction data.
//!
//! Sovereignty rule: code in this crate trains and serves a region's models from **that
//! region's behavioral data only**. It must never read another region's per-user rows; what
//! crosses regions is limited to [`split::ItemAggregates`]: item and item-pair counts of
//! distinct users, each at least k (k-anonymity), and per-item sums of the item step of the
//! federated factor protocol over at least k users ([`models::FactorStats`]), with no user ids
//! and no per-user vector.
//!
//! Modules:
//! - [`data`]: interactions and the `movielens:DIR` / `csv:FILE` loaders.
//! - [`split`]: random and temporal splits, the sovereign region split and the aggregates.
//! - [`metrics`]: NDCG, precision, recall, MAP, HR at k (definitions stated there).
//! - [`linalg`]: Cholesky, SPD inverse, conjugate gradient.
//! - [`models`]: MostPopular, ItemKNN, iALS, EASE and `reelm` (the feed model, design in
//!   [`models::Reelm`]'s module doc).
//! - [`eval`]: the protocols, tuning on validation splits, the report.
//! - [`engagement`]: the served For You ranker: completion and like probability (logistic),
//!   trained per region on that region's view events.

pub mod data;
pub mod engagement;
pub mod eval;
pub mod linalg;
pub mod metrics;
pub mod models;
pub mod split;
