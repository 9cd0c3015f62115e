//! The serde model of tyk.conf's `external_services`. OWNER: config helper.
