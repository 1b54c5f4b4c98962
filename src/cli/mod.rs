//! The `coupon-book` command line: one module per command (group). `main` parses with
//! `parse` and hands the result to `run`.

pub mod codes;
pub mod dynamodb;
pub mod keys;
pub mod lambda;
pub mod serve;
pub mod webhooks;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::{self, ServeArgs};

#[derive(Parser)]
#[command(
    name = "coupon-book",
    version,
    about = "Coupon books, codes and exactly-once redemption"
)]
pub struct Cli {
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
    Lambda(lambda::LambdaArgs),
    /// Generate, upload and export codes directly in the store.
    Codes {
        #[command(subcommand)]
        command: codes::CodesCommand,
    },
    /// Manage API keys directly in the store.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Set up the DynamoDB store.
    Dynamodb {
        #[command(subcommand)]
        command: dynamodb::DynamodbCommand,
    },
    /// Check webhook deliveries (signatures).
    Webhooks {
        #[command(subcommand)]
        command: webhooks::WebhooksCommand,
    },
}

/// Parses the command line; Lambda starts its `bootstrap` with no arguments, which
/// means `lambda`. On a usage error, the exit code to end with (after the message).
pub fn parse() -> Result<Cli, ExitCode> {
    let parsed = if lambda::started_by_lambda(std::env::args_os().len() - 1) {
        Cli::try_parse_from(["coupon-book", "lambda"])
    } else {
        Cli::try_parse()
    };
    parsed.map_err(usage_error)
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

/// Runs a parsed command: JSON logs on stderr, a Tokio runtime, the command.
pub fn run(cli: Cli) -> ExitCode {
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
            Command::Serve(args) => serve::serve(args).await,
            Command::Lambda(args) => lambda::run(args).await,
            Command::Codes { command } => codes::run(command).await,
            Command::Keys { command } => keys::run(command).await,
            Command::Dynamodb { command } => dynamodb::run(command).await,
            Command::Webhooks { command } => webhooks::run(command),
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

/// A command-line failure: a message, shown as is.
#[derive(Debug)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<crate::domain::Error> for CliError {
    fn from(err: crate::domain::Error) -> Self {
        CliError(err.message)
    }
}

pub type CliResult<T = ()> = std::result::Result<T, CliError>;
