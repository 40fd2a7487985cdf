//! A time limit on reading a request's body. actix-web bounds the time to
//! send the head (`client_request_timeout`), but a client may then trickle
//! its body forever, holding a connection and a request in flight. Every
//! request that has a body gets a deadline: past it, reading the body
//! fails, and the answer is a 408 that closes the connection.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::dev::{Payload, ServiceRequest};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::rt::time::{sleep, Sleep};
use actix_web::web::Bytes;
use actix_web::HttpMessage;
use futures_core::Stream;

/// Whether a request's body ran out of time; see `limit`.
#[derive(Clone, Default)]
pub struct Expired(Rc<Cell<bool>>);

impl Expired {
    pub fn hit(&self) -> bool {
        self.0.get()
    }
}

struct Deadline {
    inner: Payload,
    sleep: Pin<Box<Sleep>>,
    expired: Expired,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired.0.set(true);
            let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "the request body took too long");
            return Poll::Ready(Some(Err(PayloadError::Io(e))));
        }
        Poll::Pending
    }
}

fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// Puts a deadline on the request's body, if it has one; the returned flag
/// says afterwards whether the deadline was hit.
pub fn limit(req: &mut ServiceRequest, within: Duration) -> Option<Expired> {
    if !has_body(req) {
        return None;
    }
    let expired = Expired::default();
    let stream = Deadline {
        inner: req.take_payload(),
        sleep: Box::pin(sleep(within)),
        expired: expired.clone(),
    };
    req.set_payload(Payload::from(Box::pin(stream) as Pin<Box<dyn Stream<Item = _>>>));
    Some(expired)
}
