//! `coupon-book keys ...`: API keys made and managed straight in the store (the first
//! admin key, or one for a machine that has no key yet).

use clap::Subcommand;

use super::{CliError, CliResult};
use crate::app::keys::create_key;
use crate::config::StoreArgs;
use crate::domain::apikey::{ApiKey, CreateApiKey, Scope, UpdateApiKey};
use crate::domain::{PageRequest, Timestamp};

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
        /// Limit the key to this book (an existing book id). Repeat for several;
        /// without it the key sees every book.
        #[arg(long = "book")]
        books: Vec<String>,
        /// When the key stops working (RFC 3339, e.g. 2027-01-31T00:00:00Z).
        #[arg(long)]
        expires_at: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the API keys (never their secrets), one per line.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Disable an API key: it is refused until enabled again.
    Disable {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Enable a disabled API key again.
    Enable {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub async fn run(command: KeysCommand) -> CliResult {
    match command {
        KeysCommand::Create {
            name,
            scopes,
            books,
            expires_at,
            store,
        } => create(name, scopes, books, expires_at, store).await,
        KeysCommand::List { store } => list(store).await,
        KeysCommand::Disable { id, store } => set_disabled(id, true, store).await,
        KeysCommand::Enable { id, store } => set_disabled(id, false, store).await,
    }
}

async fn create(
    name: String,
    scopes: Vec<String>,
    books: Vec<String>,
    expires_at: Option<String>,
    store: StoreArgs,
) -> CliResult {
    let scopes = scopes
        .iter()
        .map(|s| Scope::parse(s).ok_or_else(|| CliError(format!("unknown scope {s:?}"))))
        .collect::<CliResult<Vec<_>>>()?;
    let expires_at = expires_at
        .map(|text| {
            Timestamp::parse(&text)
                .ok_or_else(|| CliError(format!("--expires-at {text:?} is not RFC 3339")))
        })
        .transpose()?;
    let request = CreateApiKey {
        name,
        scopes,
        book_ids: (!books.is_empty()).then_some(books),
        expires_at,
    };
    let store = store.open().await?;
    let made = create_key(&store, request, None).await?;
    println!("{}", made.secret);
    eprintln!(
        "created API key {} ({}); store it now, it is not shown again",
        made.api_key.id, made.api_key.name
    );
    Ok(())
}

async fn list(store: StoreArgs) -> CliResult {
    let store = store.open().await?;
    let mut page = PageRequest::first(1000);
    println!("id\tname\tscopes\tbooks\texpires_at\tlast_used_at\tdisabled");
    loop {
        let listed = store.list_api_keys(page).await?;
        for key in &listed.data {
            println!("{}", line(key));
        }
        match listed
            .next_cursor
            .as_deref()
            .and_then(crate::domain::decode_cursor)
        {
            Some(after) => page.after = Some(after),
            None => return Ok(()),
        }
    }
}

fn line(key: &ApiKey) -> String {
    let time = |t: Option<Timestamp>| t.map_or_else(|| "-".to_string(), |t| t.to_rfc3339());
    let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}",
        key.id,
        key.name,
        scopes.join(","),
        key.book_ids
            .as_ref()
            .map_or_else(|| "all".to_string(), |ids| ids.join(",")),
        time(key.expires_at),
        time(key.last_used_at),
        key.disabled
    )
}

async fn set_disabled(id: String, disabled: bool, store: StoreArgs) -> CliResult {
    let store = store.open().await?;
    let update = UpdateApiKey {
        name: None,
        disabled: Some(disabled),
    };
    let key = store.update_api_key(&id, update).await?;
    eprintln!(
        "API key {} is {} (other server processes see it within 5 seconds)",
        key.id,
        if disabled { "disabled" } else { "enabled" }
    );
    Ok(())
}
