//! Book limits on the objects a route names by their own id (a code, a job, a
//! redemption): their book is read and checked before anything changes. A caller with
//! every book pays no read: its check is decided without the store.

use crate::domain::apikey::BookAccess;
use crate::domain::coupon::Redemption;
use crate::domain::job::Job;
use crate::domain::{Error, Result};
use crate::store::DynStore;

/// `coupon_not_found` unless the code's book is one `books` allows.
pub async fn check_code(store: &DynStore, books: &BookAccess, code: &str) -> Result<()> {
    if books.is_limited() {
        // Codes never move between books, so the answer holds for the change after it.
        let coupon = store.get_coupon(code).await?;
        if !books.allows(&coupon.book_id) {
            return Err(Error::coupon_not_found(code));
        }
    }
    Ok(())
}

/// The job, or `job_not_found` when its book is outside `books`.
pub async fn job(store: &DynStore, books: &BookAccess, job_id: &str) -> Result<Job> {
    let job = store.get_job(job_id).await?;
    if !books.allows(&job.book_id) {
        return Err(Error::job_not_found(job_id));
    }
    Ok(job)
}

/// The redemption, or `redemption_not_found` when its book is outside `books`.
pub async fn redemption(
    store: &DynStore,
    books: &BookAccess,
    redemption_id: &str,
) -> Result<Redemption> {
    let redemption = store.get_redemption(redemption_id).await?;
    if !books.allows(&redemption.book_id) {
        return Err(Error::redemption_not_found(redemption_id));
    }
    Ok(redemption)
}
