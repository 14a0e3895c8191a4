//! Every error the API returns has the same shape (conventions.md): the right code, a message
//! that starts with the field it is about, and google.rpc details a client can read without
//! parsing the message: `ErrorInfo` (a stable UPPER_SNAKE reason, the domain, and the field in
//! its metadata) and, for `INVALID_ARGUMENT`, a `BadRequest` field violation.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of our errors (also of the codec's, for messages that do not decode).
pub const DOMAIN: &str = proto::codec::ERROR_DOMAIN;

/// Longest message an error carries, in bytes. Messages quote the input they refuse; a 10 KB
/// id quoted in full would make the response's headers larger than HTTP/2 peers accept.
pub const MESSAGE_BYTES_MAX: usize = 1024;

/// `message` cut to at most `MESSAGE_BYTES_MAX` bytes, at a character boundary, saying so.
fn bounded(mut message: String) -> String {
    if message.len() > MESSAGE_BYTES_MAX {
        let total = message.len();
        let mut end = MESSAGE_BYTES_MAX - 32;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push_str(&format!("... ({total} bytes in all)"));
    }
    message
}

/// An error about `field` (empty when it concerns no field). `message` should start with
/// `"{field}: "`; it is cut to `MESSAGE_BYTES_MAX` bytes.
pub fn error(code: Code, reason: &str, field: &str, message: impl Into<String>) -> Status {
    let message = bounded(message.into());
    let metadata = if field.is_empty() {
        HashMap::new()
    } else {
        HashMap::from([("field".to_owned(), field.to_owned())])
    };
    let mut details = ErrorDetails::with_error_info(reason, DOMAIN, metadata);
    if code == Code::InvalidArgument {
        let description = message
            .strip_prefix(field)
            .and_then(|m| m.strip_prefix(": "))
            .unwrap_or(&message);
        details.add_bad_request_violation(field, description);
    }
    Status::with_error_details(code, message, details)
}

/// `INVALID_ARGUMENT` about `field`, reason `INVALID_FIELD`.
pub fn invalid(field: &str, message: impl Into<String>) -> Status {
    error(Code::InvalidArgument, "INVALID_FIELD", field, message)
}

/// `INTERNAL`: a fault of the server, not of the request.
pub fn internal(message: impl Into<String>) -> Status {
    error(Code::Internal, "INTERNAL", "", message)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let status = invalid("code", format!("code: {}", "é".repeat(5000)));
        assert!(status.message().len() <= MESSAGE_BYTES_MAX);
        assert!(status.message().starts_with("code: é"));
        assert!(status.message().ends_with("(10006 bytes in all)"));
    }

    #[test]
    fn details_name_the_field_and_reason() {
        let status = invalid(
            "amount.currency_code",
            "amount.currency_code: \"KSH\" is unknown",
        );
        let info = status.get_details_error_info().unwrap();
        assert_eq!(info.reason, "INVALID_FIELD");
        assert_eq!(info.domain, DOMAIN);
        assert_eq!(info.metadata["field"], "amount.currency_code");
        let bad = status.get_details_bad_request().unwrap();
        assert_eq!(bad.field_violations[0].field, "amount.currency_code");
        assert_eq!(bad.field_violations[0].description, "\"KSH\" is unknown");

        let not_found = error(
            Code::NotFound,
            "UNKNOWN_MEMBER",
            "member_id",
            "member_id: M-9",
        );
        assert!(not_found.get_details_bad_request().is_none());
        assert_eq!(
            not_found.get_details_error_info().unwrap().reason,
            "UNKNOWN_MEMBER"
        );
    }
}
