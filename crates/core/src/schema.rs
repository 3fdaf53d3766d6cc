//! OpenAPI schemas of the core types that cross the API: ids, data classes and error codes.
//!
//! They are written against `utoipa`'s traits by hand rather than derived, because each one
//! serializes differently from what a derive would guess (ids are decimal strings, not
//! integers) and because the enums' values must come from the same tables the code uses
//! (`ErrorCode::ALL`, `DataClass::ALL`), so the document cannot list a value the code does not
//! have. The server assembles the document (`reelm-server`'s `api::openapi`).

use crate::{CommentId, DataClass, ErrorCode, UserId, VideoId};
use std::borrow::Cow;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// An id on the wire: a 64-bit integer written as a decimal string (see `ids.rs`).
fn id_schema(what: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[0-9]+$"))
        .description(Some(format!(
            "{what}: a positive 64-bit integer written as a decimal string, since JavaScript \
             numbers cannot hold it"
        )))
        .examples(["7300412983345152"])
        .into()
}

macro_rules! id_schemas {
    ($($ty:ident = $what:literal;)*) => {$(
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                id_schema($what)
            }
        }

        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($ty))
            }
        }
    )*};
}

id_schemas! {
    UserId = "A person's id, the same in every region";
    VideoId = "A video's id";
    CommentId = "A comment's id";
}

impl PartialSchema for ErrorCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(ErrorCode::ALL.iter().map(|c| c.name())))
            .description(Some(
                "The stable, machine-readable reason of a failure; each code always comes with \
                 the same HTTP status (see docs/API.md).",
            ))
            .into()
    }
}

impl ToSchema for ErrorCode {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ErrorCode")
    }
}

impl PartialSchema for DataClass {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(DataClass::ALL.iter().map(|c| c.as_str())))
            .description(Some(
                "The residency class of stored data: whether it may ever leave its home region.",
            ))
            .into()
    }
}

impl ToSchema for DataClass {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("DataClass")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json<T: PartialSchema>() -> serde_json::Value {
        serde_json::to_value(T::schema()).unwrap()
    }

    #[test]
    fn error_codes_are_a_string_enum_of_every_code() {
        let s = json::<ErrorCode>();
        assert_eq!(s["type"], "string");
        let values: Vec<&str> = s["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(values, names);
    }

    #[test]
    fn ids_are_strings_that_match_their_serialization() {
        let s = json::<UserId>();
        assert_eq!(s["type"], "string");
        let wire = serde_json::to_value(UserId::new()).unwrap();
        let text = wire.as_str().unwrap();
        assert!(!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(VideoId::name(), "VideoId");
        assert_eq!(CommentId::name(), "CommentId");
    }

    #[test]
    fn data_classes_list_their_serialized_names() {
        let s = json::<DataClass>();
        for c in DataClass::ALL {
            let wire = serde_json::to_value(c).unwrap();
            assert!(s["enum"].as_array().unwrap().contains(&wire), "{wire}");
        }
    }
}
