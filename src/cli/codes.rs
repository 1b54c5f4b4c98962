//! `coupon-book codes ...`: bulk code work straight against a store, with a progress
//! bar on a terminal. Same jobs, same counting as the HTTP API.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use super::{CliError, CliResult};
use crate::app::jobs;
use crate::config::StoreArgs;
use crate::domain::event::Actor;
use crate::domain::job::Job;
use crate::domain::pattern::GenerateSpec;
use crate::store::DynStore;

#[derive(Debug, Subcommand)]
pub enum CodesCommand {
    /// Generate codes from a pattern into a book.
    Generate(GenerateArgs),
    /// Add codes from a file (one per line, optional `code` header) to a book.
    Upload {
        #[arg(long)]
        book: String,
        file: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Write a book's codes as CSV (code,status,assigned_to,redemption_count,created_at,
    /// starts_at,expires_at,metadata,reward).
    Export {
        #[arg(long)]
        book: String,
        /// File to write; standard output when absent.
        #[arg(long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[arg(long)]
    book: String,
    #[arg(long)]
    count: u64,
    /// `#` = one random character, e.g. SUMMER-####-####.
    #[arg(long)]
    pattern: Option<String>,
    /// unambiguous (default), alphanumeric, alphabetic, numeric, or a literal set.
    #[arg(long)]
    charset: Option<String>,
    #[arg(long)]
    prefix: Option<String>,
    #[arg(long)]
    suffix: Option<String>,
    /// Random characters when there is no pattern.
    #[arg(long)]
    length: Option<u32>,
    /// Append a Luhn mod N check character.
    #[arg(long)]
    check_character: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// Jobs started from the command line are the system's, named `cli`.
fn cli() -> crate::store::Write {
    crate::store::Write::by(Actor::system("cli"))
}

fn progress_bar(job: &Job, unit: &str) -> ProgressBar {
    let bar = ProgressBar::new(job.total);
    let template = format!(
        "{{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}})"
    );
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn report(job: &Job) -> CliResult {
    let text = serde_json::to_string_pretty(job).map_err(|e| CliError(e.to_string()))?;
    println!("{text}");
    Ok(())
}

pub async fn run(command: CodesCommand) -> CliResult {
    match command {
        CodesCommand::Generate(args) => {
            let store = args.store.open().await?;
            let spec = GenerateSpec {
                count: Some(args.count),
                pattern: args.pattern,
                charset: args.charset,
                prefix: args.prefix,
                suffix: args.suffix,
                length: args.length,
                check_character: Some(args.check_character),
            };
            let (job, spec) = jobs::start_generate(&store, &args.book, spec, cli(), None).await?;
            let bar = progress_bar(&job, "codes");
            let job = jobs::run_generate(&store, job, spec, &|job: &Job| {
                bar.set_position(job.processed)
            })
            .await?;
            bar.finish_and_clear();
            report(&job)
        }
        CodesCommand::Upload { book, file, store } => {
            let store = store.open().await?;
            let (job, cursor) = jobs::start_upload(&store, &book, &file, false, cli()).await?;
            let bar = progress_bar(&job, "lines");
            let job = jobs::run_upload(&store, job, cursor, None, &|job: &Job| {
                bar.set_position(job.processed)
            })
            .await?;
            bar.finish_and_clear();
            report(&job)
        }
        CodesCommand::Export {
            book,
            output,
            store,
        } => {
            let store = store.open().await?;
            export(&store, &book, output).await
        }
    }
}

async fn export(store: &DynStore, book_id: &str, output: Option<PathBuf>) -> CliResult {
    let book = store.get_book(book_id).await?;
    let io = |e: std::io::Error| CliError(format!("write export: {e}"));
    let mut out: Box<dyn Write> = match &output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(io)?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let bar = ProgressBar::new(book.counts.total);
    if output.is_none() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    out.write_all(jobs::EXPORT_HEADER).map_err(io)?;
    let mut cursor: Option<String> = None;
    loop {
        let (rows, next) = jobs::export_page(
            store,
            book_id,
            &jobs::ExportFilter::default(),
            cursor.as_deref(),
        )
        .await?;
        out.write_all(&rows).map_err(io)?;
        bar.inc(u64::from(jobs::EXPORT_PAGE));
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    out.flush().map_err(io)?;
    bar.finish_and_clear();
    Ok(())
}
