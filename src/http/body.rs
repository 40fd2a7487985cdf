//! JSON request bodies. Every body the API reads is an object: serde's
//! derived structs would also take an array and fill the fields by
//! position (`["k","read-only",[],3600]` as a mint request), which no
//! client means and the reference does not allow. `Json` and
//! `OptionalJson` take objects only; anything else is `400 invalid_json`.

use std::fmt;
use std::marker::PhantomData;

use actix_web::{web, FromRequest, HttpRequest};
use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::error::{invalid_json, ApiError};
use crate::domain::{Code, Error};

/// `T`, read only from a JSON object.
struct Obj<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Only<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Only<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Only(PhantomData)).map(Obj)
    }
}

/// `T` from a JSON text that must be an object (for handlers that read
/// the bytes themselves: YAML or JSON, tarball or JSON).
pub fn object_from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice::<Obj<T>>(bytes).map(|o| o.0)
}

/// A required JSON object body (`web::Json`'s limits and error answers).
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let body = web::Json::<Obj<T>>::from_request(req, payload);
        Box::pin(async move { Ok(Json(body.await?.into_inner().0)) })
    }
}

/// A JSON object body that may be left out entirely. Unlike
/// `Option<Json<T>>`, which silently treats a malformed body as absent, a
/// body that is present must parse, or the request gets a 400.
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = bytes.await.map_err(|e| {
                let status = e.as_response_error().status_code();
                let code = if status == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE {
                    Code::PayloadTooLarge
                } else {
                    Code::BadRequest
                };
                ApiError(Error::new(code, e.to_string()))
            })?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJson(None));
            }
            object_from_slice(&bytes)
                .map(|v| OptionalJson(Some(v)))
                .map_err(invalid_json)
        })
    }
}
