//! The OpenAPI document served at `GET /api/openapi.json`, generated from the code.
//!
//! Every handler routed in `api/mod.rs` carries a `#[utoipa::path]` attribute (method, path,
//! parameters, body, responses, security) and every wire type derives `ToSchema`; `ApiDoc`
//! below lists them, names the security schemes and tags, and adds the error body to every
//! operation. The integration suite (`tests/integration/openapi.rs`) checks that the document
//! and the router list the same operations, and that nothing of the hand-written document this
//! one replaced (`tests/fixtures/openapi-handwritten.json`) went missing.
//!
//! A few shapes have no Rust type of their own because their handlers build them with `json!`
//! (health, regions, placement, like/follow state, "recorded") or read them field by field (the
//! upload form, the error body of `error.rs`). They are described here, next to the document,
//! and the suite compares them with live answers.

use reelm_core::{CommentId, DataClass, ErrorCode, UserId, VideoId};
use reelm_operators::AccessLogItem;
use reelm_platform::views::{CommentJson, FeedItem, Page, VideoJson};
use std::borrow::Cow;
use std::sync::LazyLock;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{ContentBuilder, KnownFormat, RefOr, SchemaFormat};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

/// The document, serialized once: it depends only on the code.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    serde_json::to_string(&ApiDoc::openapi()).unwrap_or_else(|e| {
        // Serializing plain data to a string cannot fail; answer valid JSON if it ever did.
        tracing::error!(error = %e, "cannot serialize the OpenAPI document");
        String::from("{}")
    })
});

/// The OpenAPI document as JSON text.
pub fn document() -> &'static str {
    DOCUMENT.as_str()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "reelm API",
        version = "1",
        description = "Short-video platform with per-region data residency. Errors are \
            {\"error\":{\"code\",\"message\"}} (schema `Error`; the codes and their HTTP \
            statuses are in `ErrorCode` and docs/API.md). State-changing requests with a \
            session need X-CSRF-Token.",
    ),
    paths(
        super::regions::health,
        super::regions::list,
        super::regions::placement,
        super::regions::openapi,
        super::accounts::sign_up,
        super::accounts::log_in,
        super::accounts::log_out,
        super::accounts::me,
        super::accounts::erase_me,
        super::accounts::data_location,
        super::operators::my_access_log,
        super::operators::log_in,
        super::operators::me,
        super::operators::request_break_glass,
        super::operators::approve_break_glass,
        super::operators::read_personal,
        super::videos::upload,
        super::videos::get,
        super::videos::media,
        super::videos::poster,
        super::videos::like,
        super::videos::unlike,
        super::videos::comments,
        super::videos::comment,
        super::videos::view,
        super::videos::not_interested,
        super::videos::share,
        super::users::profile,
        super::users::videos,
        super::users::follow,
        super::users::unfollow,
        super::users::following_feed,
        super::users::for_you_feed,
    ),
    components(schemas(
        ErrorBody,
        ErrorCode,
        UserId,
        VideoId,
        CommentId,
        DataClass,
        Regions,
        Region,
        Health,
        Placement,
        LikeState,
        FollowState,
        Recorded,
        VideoPage,
        CommentPage,
        FeedItemPage,
        AccessLogPage,
    )),
    modifiers(&SecurityAndErrors),
    tags(
        (name = "service", description = "Health, regions and this document"),
        (name = "accounts", description = "Sign-up, log-in, the account, erasure and where its data lives"),
        (name = "videos", description = "Upload, read, stream, like, comment, view, share"),
        (name = "users", description = "Profiles and follows"),
        (name = "feed", description = "The Following and For You feeds"),
        (name = "operators", description = "Operator sign-in and reads of personal data decided by Cedar; a person's own access log"),
    ),
)]
pub struct ApiDoc;

/// Security schemes, and the error body as the answer to any status an operation does not list.
struct SecurityAndErrors;

impl Modify for SecurityAndErrors {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "reelm_session",
                "The session cookie `<region>.<token>` set by sign-up and log-in. \
                 State-changing requests must also send X-CSRF-Token with the value of the \
                 reelm_csrf cookie.",
            ))),
        );
        components.add_security_scheme(
            OPERATOR,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "reelm_ops",
                "The operator session cookie set by POST /api/ops/login (password and TOTP).",
            ))),
        );
        let error = ResponseBuilder::new()
            .description(
                "any other failure, e.g. 500 internal (logged, never detailed) or 503 \
                 unavailable (a region cannot be reached)",
            )
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                        ErrorBody::name(),
                    ))))
                    .build(),
            )
            .build();
        for item in doc.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                op.responses
                    .responses
                    .entry("default".to_owned())
                    .or_insert_with(|| error.clone().into());
            }
        }
    }
}

/// The name of the session cookie's security scheme, used by `#[utoipa::path(security(...))]`.
pub const SESSION: &str = "session";
/// The name of the operator cookie's security scheme.
pub const OPERATOR: &str = "operator";

// ---- shapes without a Rust type of their own ----------------------------------------------------

/// The body of every failure: `{"error":{"code","message"}}` (built by `error::error_body`).
#[derive(utoipa::ToSchema)]
#[schema(as = Error)]
#[allow(dead_code)] // only described, never built: `error.rs` writes it with `json!`
pub struct ErrorBody {
    #[schema(inline)]
    error: ErrorDetail,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct ErrorDetail {
    code: ErrorCode,
    /// What went wrong and what to change, for the person who made the request.
    message: String,
}

/// The `X-CSRF-Token` header every state-changing request with a session sends.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct Csrf {
    /// value of the reelm_csrf cookie
    #[param(rename = "X-CSRF-Token")]
    csrf: String,
}

/// `GET /api/health`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Health {
    /// Always `ok` when the process answers.
    status: String,
    /// The ids of the regions whose cells this process serves.
    regions: Vec<String>,
}

/// A region (cell) of the deployment, from the configuration.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Region {
    id: String,
    data_center: String,
    jurisdiction: String,
    /// ISO 3166-1 alpha-2 codes homed here, or `["*"]` for the default region.
    countries: Vec<String>,
}

/// `GET /api/regions`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Regions(Vec<Region>);

/// `GET /api/regions/placement`: where an account of a resident of `country` would live.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Placement {
    country: String,
    region: String,
    data_center: String,
    jurisdiction: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct LikeState {
    liked: bool,
    like_count: i64,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct FollowState {
    following: bool,
    follower_count: i64,
}

/// A behavioral event (view, share) was appended to the person's home region's event log.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Recorded {
    recorded: bool,
}

/// The multipart form of `POST /api/videos` (read field by field by `videos::upload`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The MP4 video (at most `max_upload_bytes`, 50 MiB by default).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    caption: Option<String>,
    /// Space or comma separated, `#` optional.
    hashtags: Option<String>,
    /// ISO 639-1 code, optional.
    language: Option<String>,
}

/// A media object's bytes (`video/mp4`, `image/jpeg`).
pub struct Binary;

impl PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for Binary {}

/// Gives a page of `T` (`api::model::Page<T>`) a name of its own in the document, so that a
/// client sees `VideoPage` rather than a generated name. The schema is `Page<T>`'s own.
macro_rules! named_page {
    ($($name:ident = $item:ty;)*) => {$(
        #[doc = concat!("`Page<", stringify!($item), ">` under the name `", stringify!($name), "`.")]
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                <Page<$item> as PartialSchema>::schema()
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }

            fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
                schemas.push((<$item as ToSchema>::name().into(), <$item as PartialSchema>::schema()));
                <Page<$item> as ToSchema>::schemas(schemas);
            }
        }
    )*};
}

named_page! {
    VideoPage = VideoJson;
    CommentPage = CommentJson;
    FeedItemPage = FeedItem;
    AccessLogPage = AccessLogItem;
}
