//! The `coupon-book` command line: `serve`, and `keys create` for the first admin key.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use coupon_book::config::{self, ServeArgs, StoreArgs, StreamArgs};
use coupon_book::domain::Timestamp;
use coupon_book::domain::apikey::{ApiKey, Scope, hash_key, new_key};
use coupon_book::domain::ids::new_id;
use coupon_book::server::{self, CliError, CliResult};
use coupon_book::store;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "coupon-book",
    version,
    about = "Coupon books, codes and exactly-once redemption"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve(ServeArgs),
    /// Run inside AWS Lambda: the HTTP API behind API Gateway, the DynamoDB Streams
    /// consumer that delivers webhooks, or the expired-lock sweep (started as
    /// `bootstrap`, this is the default).
    Lambda(coupon_book::lambda::LambdaArgs),
    /// Generate, upload and export codes directly in the store.
    Codes {
        #[command(subcommand)]
        command: coupon_book::cli::CodesCommand,
    },
    /// Manage API keys directly in the store.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Set up the DynamoDB store.
    Dynamodb {
        #[command(subcommand)]
        command: DynamodbCommand,
    },
    /// Check webhook deliveries (signatures).
    Webhooks {
        #[command(subcommand)]
        command: coupon_book::events::verify::WebhooksCommand,
    },
}

#[derive(Subcommand)]
enum DynamodbCommand {
    /// Create the table, its indexes, TTL and point-in-time recovery (uses AWS_REGION,
    /// AWS_ENDPOINT_URL and the standard credential chain).
    CreateTable {
        /// The table name, as in `--store dynamodb:<table>`.
        table: String,
        #[command(flatten)]
        stream: StreamArgs,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
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

fn main() -> ExitCode {
    // Lambda starts its `bootstrap` with no arguments: that means `lambda`.
    let parsed = if coupon_book::lambda::started_by_lambda(std::env::args_os().len() - 1) {
        Cli::try_parse_from(["coupon-book", "lambda"])
    } else {
        Cli::try_parse()
    };
    let cli = match parsed {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("coupon-book: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => server::serve(args).await,
            Command::Lambda(args) => coupon_book::lambda::run(args).await,
            Command::Codes { command } => coupon_book::cli::run(command).await,
            Command::Keys {
                command:
                    KeysCommand::Create {
                        name,
                        scopes,
                        store,
                    },
            } => create_key(name, scopes, store).await,
            Command::Dynamodb {
                command: DynamodbCommand::CreateTable { table, stream: _ },
            } => create_table(&table).await,
            Command::Webhooks { command } => {
                coupon_book::events::verify::run(command).map_err(CliError)
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("coupon-book: {err}");
            ExitCode::FAILURE
        }
    }
}

/// A bad setting value names the flag and its variable; other errors (and `--help`)
/// are clap's own.
fn usage_error(err: clap::Error) -> ExitCode {
    match config::explain_invalid_value(&err, &Cli::command()) {
        Some(message) => {
            eprintln!("coupon-book: {message}");
            ExitCode::from(2)
        }
        None => err.exit(),
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

async fn create_table(table: &str) -> CliResult {
    let store = store::dynamodb::DynamoStore::from_env(table).await?;
    if store.create_table().await? {
        eprintln!("created DynamoDB table {table}");
    } else {
        eprintln!("DynamoDB table {table} exists already; nothing changed");
    }
    Ok(())
}
