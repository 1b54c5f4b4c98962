//! `coupon-book keys create`: an API key made straight in the store (the first
//! admin key, or one for a machine that has no key yet).

use clap::Subcommand;

use super::{CliError, CliResult};
use crate::config::StoreArgs;
use crate::domain::Timestamp;
use crate::domain::apikey::{ApiKey, Scope, hash_key, new_key};
use crate::domain::ids::new_id;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key and print it (shown only this once).
    Create {
        #[arg(long)]
        name: String,
        /// A scope: admin, books:read, books:write, coupons:assign, coupons:redeem,
        /// events:read. Repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub async fn run(command: KeysCommand) -> CliResult {
    match command {
        KeysCommand::Create {
            name,
            scopes,
            store,
        } => create_key(name, scopes, store).await,
    }
}

async fn create_key(name: String, scopes: Vec<String>, store: StoreArgs) -> CliResult {
    let scopes = scopes
        .iter()
        .map(|s| Scope::parse(s).ok_or_else(|| CliError(format!("unknown scope {s:?}"))))
        .collect::<CliResult<Vec<_>>>()?;
    let store = store.open().await?;
    let key = new_key();
    let api_key = ApiKey {
        id: new_id("key"),
        name,
        scopes,
        created_at: Timestamp::now(),
    };
    let stored = store.create_api_key(api_key, hash_key(&key), None).await?;
    println!("{key}");
    eprintln!(
        "created API key {} ({}); store it now, it is not shown again",
        stored.id, stored.name
    );
    Ok(())
}
