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
        DynamodbCommand::CreateTable { table, stream } => {
            create_table(&table, stream.dynamodb_stream).await
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
