//! Update and condition expressions, and the transaction items built from them.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem, Update,
};

use crate::domain::Result;

use super::attr::{Item, built, n};

/// Builds one update or condition: every attribute name and value goes through a
/// placeholder, so reserved words and user data never reach the expression text.
#[derive(Default)]
pub(super) struct Expr {
    pub(super) names: HashMap<String, String>,
    pub(super) values: HashMap<String, AttributeValue>,
    pub(super) sets: Vec<String>,
    pub(super) removes: Vec<String>,
    pub(super) adds: Vec<String>,
    pub(super) conditions: Vec<String>,
}

impl Expr {
    pub(super) fn new() -> Self {
        Expr::default()
    }

    /// `#n0.#n1...` for a document path.
    pub(super) fn path(&mut self, parts: &[&str]) -> String {
        parts
            .iter()
            .map(|part| {
                let existing = self
                    .names
                    .iter()
                    .find(|(_, v)| v.as_str() == *part)
                    .map(|(k, _)| k.clone());
                existing.unwrap_or_else(|| {
                    let placeholder = format!("#n{}", self.names.len());
                    self.names.insert(placeholder.clone(), part.to_string());
                    placeholder
                })
            })
            .collect::<Vec<_>>()
            .join(".")
    }

    pub(super) fn val(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    pub(super) fn set(&mut self, name: &str, value: AttributeValue) -> &mut Self {
        let path = self.path(&[name]);
        let value = self.val(value);
        self.sets.push(format!("{path} = {value}"));
        self
    }

    pub(super) fn set_path(&mut self, parts: &[&str], value: AttributeValue) -> &mut Self {
        let path = self.path(parts);
        let value = self.val(value);
        self.sets.push(format!("{path} = {value}"));
        self
    }

    /// `name = name + 1`: bumps a version attribute.
    pub(super) fn bump(&mut self, name: &str) -> &mut Self {
        let path = self.path(&[name]);
        let one = self.val(n(1));
        self.sets.push(format!("{path} = {path} + {one}"));
        self
    }

    pub(super) fn remove(&mut self, parts: &[&str]) -> &mut Self {
        let path = self.path(parts);
        self.removes.push(path);
        self
    }

    pub(super) fn add(&mut self, name: &str, delta: i64) -> &mut Self {
        if delta != 0 {
            let path = self.path(&[name]);
            let value = self.val(n(delta));
            self.adds.push(format!("{path} {value}"));
        }
        self
    }

    /// A condition with `{}` placeholders for `name` then `value`, e.g. `{} = {}`.
    pub(super) fn cond(&mut self, name: &str, op: &str, value: AttributeValue) -> &mut Self {
        let path = self.path(&[name]);
        let value = self.val(value);
        self.conditions.push(format!("{path} {op} {value}"));
        self
    }

    pub(super) fn cond_path(
        &mut self,
        parts: &[&str],
        op: &str,
        value: AttributeValue,
    ) -> &mut Self {
        let path = self.path(parts);
        let value = self.val(value);
        self.conditions.push(format!("{path} {op} {value}"));
        self
    }

    /// `name` (a map) holds `count` entries; with 0, or is absent.
    pub(super) fn cond_entries(&mut self, name: &str, count: i64) -> &mut Self {
        let path = self.path(&[name]);
        let value = self.val(n(count));
        let sized = format!("size({path}) = {value}");
        self.conditions.push(if count == 0 {
            format!("(attribute_not_exists({path}) OR {sized})")
        } else {
            sized
        });
        self
    }

    pub(super) fn cond_exists(&mut self, name: &str) -> &mut Self {
        let path = self.path(&[name]);
        self.conditions.push(format!("attribute_exists({path})"));
        self
    }

    pub(super) fn cond_not_exists(&mut self, name: &str) -> &mut Self {
        let path = self.path(&[name]);
        self.conditions
            .push(format!("attribute_not_exists({path})"));
        self
    }

    /// `attribute_not_exists(name) OR name < value`: a counter below a limit.
    pub(super) fn cond_below(&mut self, name: &str, limit: i64) -> &mut Self {
        let path = self.path(&[name]);
        let value = self.val(n(limit));
        self.conditions.push(format!(
            "(attribute_not_exists({path}) OR {path} < {value})"
        ));
        self
    }

    pub(super) fn update_expression(&self) -> Option<String> {
        let mut parts = Vec::new();
        if !self.sets.is_empty() {
            parts.push(format!("SET {}", self.sets.join(", ")));
        }
        if !self.removes.is_empty() {
            parts.push(format!("REMOVE {}", self.removes.join(", ")));
        }
        if !self.adds.is_empty() {
            parts.push(format!("ADD {}", self.adds.join(", ")));
        }
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    pub(super) fn condition_expression(&self) -> Option<String> {
        (!self.conditions.is_empty()).then(|| self.conditions.join(" AND "))
    }

    pub(super) fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    pub(super) fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    pub(super) fn into_update(self, table: &str, key: Item) -> Result<TransactWriteItem> {
        let update = built(
            Update::builder()
                .table_name(table)
                .set_key(Some(key))
                .set_update_expression(self.update_expression())
                .set_condition_expression(self.condition_expression())
                .set_expression_attribute_names(self.names())
                .set_expression_attribute_values(self.values())
                .build(),
        )?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    pub(super) fn into_check(self, table: &str, key: Item) -> Result<TransactWriteItem> {
        let check = built(
            ConditionCheck::builder()
                .table_name(table)
                .set_key(Some(key))
                .set_condition_expression(self.condition_expression())
                .set_expression_attribute_names(self.names())
                .set_expression_attribute_values(self.values())
                .build(),
        )?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    pub(super) fn into_delete(self, table: &str, key: Item) -> Result<TransactWriteItem> {
        let delete = built(
            Delete::builder()
                .table_name(table)
                .set_key(Some(key))
                .set_condition_expression(self.condition_expression())
                .set_expression_attribute_names(self.names())
                .set_expression_attribute_values(self.values())
                .build(),
        )?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}

/// A Put that only creates: fails if an item with this key exists.
pub(super) fn put_new(table: &str, item: Item) -> Result<TransactWriteItem> {
    let put = built(
        Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .build(),
    )?;
    Ok(TransactWriteItem::builder().put(put).build())
}
