//! `coupon-book dynamodb create-table` and `reindex`: set up the DynamoDB store and
//! bring an older table's indexes up to date.

use clap::Subcommand;

use super::CliResult;
use crate::config::StreamArgs;
use crate::store::dynamodb::DynamoStore;

#[derive(Debug, Subcommand)]
pub enum DynamodbCommand {
    /// Create the table, its indexes, TTL and point-in-time recovery (uses AWS_REGION,
    /// AWS_ENDPOINT_URL and the standard credential chain).
    CreateTable {
        /// The table name, as in `--store dynamodb:<table>`.
        table: String,
        #[command(flatten)]
        stream: StreamArgs,
    },
    /// Bring the indexes of a table made by an earlier version up to date: puts older
    /// redemptions into the index the unfiltered `GET /v1/redemptions` pages through,
    /// and older events into the indexes the filters of `GET /v1/events` read.
    /// Safe to run while the service serves, and more than once.
    Reindex {
        /// The table name, as in `--store dynamodb:<table>`.
        table: String,
    },
}

pub async fn run(command: DynamodbCommand) -> CliResult {
    match command {
        DynamodbCommand::CreateTable { table, stream } => {
            create_table(&table, stream.dynamodb_stream).await
        }
        DynamodbCommand::Reindex { table } => {
            let store = DynamoStore::from_env(&table).await?;
            let added = store.reindex_redemptions().await?;
            eprintln!("{added} redemptions added to the index of {table}");
            let added = store.reindex_events().await?;
            eprintln!("{added} events added to the indexes of {table}");
            Ok(())
        }
    }
}

async fn create_table(table: &str, stream: bool) -> CliResult {
    let store = DynamoStore::from_env(table).await?;
    if store.create_table(stream).await? {
        eprintln!("created DynamoDB table {table}");
    } else {
        eprintln!("DynamoDB table {table} exists already; nothing changed");
    }
    Ok(())
}
