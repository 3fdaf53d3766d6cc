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

#[utoipa::path(
    get,
    path = "/api/health",
    tag = "service",
    summary = "Liveness and the regions served",
    responses(
        (status = 200, description = "ok", body = crate::api::openapi::Health),
    ),
)]
pub async fn health(State(p): State<Arc<Platform>>) -> Json<Value> {
    let regions: Vec<String> = p.cells().iter().map(|c| c.id().to_string()).collect();
    Json(json!({"status": "ok", "regions": regions}))
}

#[utoipa::path(
    get,
    path = "/api/regions",
    tag = "service",
    operation_id = "list_regions",
    summary = "The regions (cells)",
    responses(
        (status = 200, description = "regions", body = crate::api::openapi::Regions),
    ),
)]
pub async fn list(State(p): State<Arc<Platform>>) -> Json<Value> {
    let regions: Vec<Value> = p
        .config
        .regions
        .iter()
        .map(|r| json!({"id": r.id, "data_center": r.data_center, "jurisdiction": r.jurisdiction, "countries": r.countries}))
        .collect();
    Json(Value::Array(regions))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlacementQuery {
    /// ISO 3166-1 alpha-2 country code, e.g. `DE`.
    country: String,
}

/// Where an account for a resident of `country` would be stored: shown before sign-up.
#[utoipa::path(
    get,
    path = "/api/regions/placement",
    tag = "service",
    summary = "Where an account for a resident of a country is stored",
    params(PlacementQuery),
    responses(
        (status = 200, description = "placement", body = crate::api::openapi::Placement),
        (status = 400, description = "not a country code", body = crate::api::openapi::ErrorBody),
    ),
)]
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

#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "service",
    summary = "This document",
    responses(
        (status = 200, description = "OpenAPI 3.1", content_type = "application/json"),
    ),
)]
pub async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        super::openapi::document(),
    )
}
