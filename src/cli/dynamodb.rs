//! `coupon-book dynamodb create-table`: sets up the DynamoDB store.

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
}

pub async fn run(command: DynamodbCommand) -> CliResult {
    match command {
        // The store reads COUPON_BOOK_DYNAMODB_STREAM itself until it takes the
        // setting as a parameter; parsing it here refuses a bad value up front.
        DynamodbCommand::CreateTable { table, stream: _ } => create_table(&table).await,
    }
}

async fn create_table(table: &str) -> CliResult {
    let store = DynamoStore::from_env(table).await?;
    if store.create_table().await? {
        eprintln!("created DynamoDB table {table}");
    } else {
        eprintln!("DynamoDB table {table} exists already; nothing changed");
    }
    Ok(())
}
