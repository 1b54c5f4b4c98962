//! The API's resources, one file each: thin handlers that parse the request, call
//! the store or a use case of `app`, and map the answer.

pub mod books;
pub mod bulk;
pub mod checkout;
pub mod codes;
pub mod console;
pub mod coupons;
pub mod events;
pub mod keys;
pub mod ops;
pub mod redemptions;
pub mod seed;
pub mod webhooks;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use futures_util::{Stream, StreamExt};

/// A CSV download streamed as it is read: `header` first, then each page of rows. A
/// page that cannot be read ends the stream with an error (the client sees a cut
/// download, never a short file that looks whole).
pub(crate) fn csv_download<S>(
    filename: &'static str,
    header_line: &'static [u8],
    pages: S,
) -> Response
where
    S: Stream<Item = crate::domain::Result<Vec<u8>>> + Send + 'static,
{
    let rows = pages.map(|page| match page {
        Ok(rows) => Ok::<Bytes, std::io::Error>(Bytes::from(rows)),
        Err(err) => {
            tracing::error!(error = %err, "export stopped");
            Err(std::io::Error::other("export failed"))
        }
    });
    let stream =
        futures_util::stream::once(async move { Ok(Bytes::from_static(header_line)) }).chain(rows);
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    let disposition = format!("attachment; filename=\"{filename}\"");
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// Pages read one after another from `first` on: `read(cursor)` gives a page and the
/// next cursor (None: that was the last). Stops after the first error.
pub(crate) fn pages<C, F, Fut>(
    first: C,
    read: F,
) -> impl Stream<Item = crate::domain::Result<Vec<u8>>>
where
    C: Send + 'static,
    F: Fn(C) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = crate::domain::Result<(Vec<u8>, Option<C>)>> + Send + 'static,
{
    futures_util::stream::unfold(Some(first), move |cursor| {
        let next = cursor.map(&read);
        async move {
            match next?.await {
                Ok((rows, cursor)) => Some((Ok(rows), cursor)),
                Err(err) => Some((Err(err), None)),
            }
        }
    })
}
