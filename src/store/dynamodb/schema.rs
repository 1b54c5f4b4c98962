//! The table: keys, indexes, stream, TTL and point-in-time recovery.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    PointInTimeRecoverySpecification, Projection, ProjectionType, ScalarAttributeType,
    StreamSpecification, StreamViewType, TableStatus, TimeToLiveSpecification,
};

use crate::domain::{Error, Result};

use super::attr::built;

pub const INDEXES: [&str; 4] = ["GSI1", "GSI2", "GSI3", "GSI4"];

/// Creates the coupon-book table: `PK`/`SK` and four overloaded indexes, on-demand
/// billing, a stream of new images if `stream` (for a Lambda that feeds webhooks),
/// TTL on `ttl` and point-in-time recovery. Returns false when the table already
/// existed.
pub async fn create_table(client: &Client, table: &str, stream: bool) -> Result<bool> {
    let fail = |what: &str, err: String| {
        tracing::error!(operation = what, error = err, "cannot create the table");
        Error::unavailable(format!("cannot create the DynamoDB table: {what} failed"))
    };
    let attribute = |name: &str| {
        built(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build(),
        )
    };
    let key_element = |name: &str, kind: KeyType| {
        built(
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build(),
        )
    };
    let mut definitions = vec![attribute("PK")?, attribute("SK")?];
    let mut indexes = Vec::new();
    for (i, index) in INDEXES.iter().enumerate() {
        let (pk, sk) = (format!("G{}PK", i + 1), format!("G{}SK", i + 1));
        definitions.push(attribute(&pk)?);
        definitions.push(attribute(&sk)?);
        indexes.push(built(
            GlobalSecondaryIndex::builder()
                .index_name(*index)
                .key_schema(key_element(&pk, KeyType::Hash)?)
                .key_schema(key_element(&sk, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build(),
        )?);
    }
    let created = client
        .create_table()
        .table_name(table)
        .set_attribute_definitions(Some(definitions))
        .key_schema(key_element("PK", KeyType::Hash)?)
        .key_schema(key_element("SK", KeyType::Range)?)
        .set_global_secondary_indexes(Some(indexes))
        .billing_mode(BillingMode::PayPerRequest)
        .set_stream_specification(if stream {
            Some(built(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewImage)
                    .build(),
            )?)
        } else {
            None
        })
        .send()
        .await;
    if let Err(err) = created {
        let exists = matches!(&err, SdkError::ServiceError(e) if e.err().code() == Some("ResourceInUseException"));
        if exists {
            return Ok(false);
        }
        return Err(fail(
            "CreateTable",
            format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&err)),
        ));
    }
    for _ in 0..600 {
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| {
                fail(
                    "DescribeTable",
                    format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&e)),
                )
            })?;
        let status = described.table().and_then(|t| t.table_status());
        if status == Some(&TableStatus::Active) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ttl = built(
        TimeToLiveSpecification::builder()
            .attribute_name("ttl")
            .enabled(true)
            .build(),
    )?;
    if let Err(err) = client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
    {
        let code = err
            .as_service_error()
            .and_then(|e| e.code())
            .unwrap_or("no answer");
        tracing::warn!(code, "TTL not enabled on the table");
    }
    let pitr = built(
        PointInTimeRecoverySpecification::builder()
            .point_in_time_recovery_enabled(true)
            .build(),
    )?;
    if let Err(err) = client
        .update_continuous_backups()
        .table_name(table)
        .point_in_time_recovery_specification(pitr)
        .send()
        .await
    {
        let code = err
            .as_service_error()
            .and_then(|e| e.code())
            .unwrap_or("no answer");
        tracing::warn!(code, "point-in-time recovery not enabled on the table");
    }
    Ok(true)
}
