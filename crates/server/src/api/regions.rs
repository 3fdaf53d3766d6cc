//! Health, regions, placement and the OpenAPI document.

use super::ApiQuery;
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use reelm_core::validate;
use reelm_platform::Platform;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

pub async fn health(State(p): State<Arc<Platform>>) -> Json<Value> {
    let regions: Vec<String> = p.cells().iter().map(|c| c.id().to_string()).collect();
    Json(json!({"status": "ok", "regions": regions}))
}

pub async fn list(State(p): State<Arc<Platform>>) -> Json<Value> {
    let regions: Vec<Value> = p
        .config
        .regions
        .iter()
        .map(|r| json!({"id": r.id, "data_center": r.data_center, "jurisdiction": r.jurisdiction, "countries": r.countries}))
        .collect();
    Json(Value::Array(regions))
}

#[derive(Deserialize)]
pub struct PlacementQuery {
    country: String,
}

/// Where an account for a resident of `country` would be stored: shown before sign-up.
pub async fn placement(
    State(p): State<Arc<Platform>>,
    ApiQuery(q): ApiQuery<PlacementQuery>,
) -> Result<Json<Value>, ApiError> {
    let country = validate::country(&q.country).map_err(ApiError::from_validation)?;
    let r = p.config.region_for_country(&country);
    Ok(Json(
        json!({"country": country, "region": r.id, "data_center": r.data_center, "jurisdiction": r.jurisdiction}),
    ))
}

pub static OPENAPI: &str = include_str!("openapi.json");

pub async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
}
