//! `coupon-book-dynamo-bench`: DynamoDB capacity per operation (work in progress).
fn main() {}
